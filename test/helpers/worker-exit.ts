/**
 * Whether a stream that inflates on a worker lets its process exit by
 * itself: abandoned mid-stream, destroyed mid-stream and read to the end,
 * each in a child process over a 64 MiB gzip file made in the test's
 * directory.
 */
import type { Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'

export const DIST_GUNZIP = new URL('../../dist/lib/files/gunzip.js', import.meta.url)

/**
 * `open(path)` is module source that imports what it needs and declares
 * `g`, the stream of the inflated bytes of the file at `path` (a JSON
 * string literal).
 */
export function workerLetsProcessExit(t: Test, open: (path: string) => string): void {
  const path = join(t.testdir(), 'big.gz')
  writeFileSync(path, gzipSync(Buffer.alloc(64 * 1024 * 1024, 'a')))
  for (const [label, code] of [
    ['abandoned mid-stream', 'g.once("data", () => { g.pause(); console.log("read") })'],
    ['destroyed mid-stream', 'g.once("data", () => { g.destroy(); console.log("read") })'],
    ['read to the end', 'let n = 0; g.on("data", (c) => { n += c.length }); g.on("end", () => console.log("read", n))'],
  ] as const) {
    const script = `${open(JSON.stringify(path))}\n${code}`
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000, encoding: 'utf8' })
    t.equal(r.status, 0, `${label}: exits by itself (${r.signal ?? ''} ${r.stderr})`)
    t.match(r.stdout, /^read/, label)
  }
}
