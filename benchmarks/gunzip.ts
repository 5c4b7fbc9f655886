/**
 * gzip input throughput: createGunzip with zlib-sync and with node:zlib,
 * beside the bare node:zlib Gunzip stream as the baseline, each scenario in
 * a fresh process, input from memory in 64 KiB chunks (as fs streams read):
 *
 *   node dist/benchmarks/gunzip.js [FILE.gz]
 *
 * Without a file, ~100 MiB of journal-like text is made and gzipped first.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable, Writable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { createGunzip as createNodeGunzip, gzipSync } from 'node:zlib'
import { createGunzip } from '../lib/files/gunzip.js'

const SCENARIOS: Record<string, () => Transform> = {
  'createGunzip zlib-sync': () => createGunzip({ inflater: 'zlib-sync' }),
  'createGunzip node:zlib': () => createGunzip({ inflater: 'node' }),
  'baseline: node:zlib createGunzip': () => createNodeGunzip(),
}

/** fs.createReadStream's default highWaterMark. */
const CHUNK = 64 * 1024
const TEXT_BYTES = 100 * 1024 * 1024

async function measure(scenario: string, file: string): Promise<void> {
  const make = SCENARIOS[scenario]
  if (!make) throw new Error(`no scenario ${scenario}`)
  const data = readFileSync(file)
  const chunks: Buffer[] = []
  for (let i = 0; i < data.length; i += CHUNK) chunks.push(data.subarray(i, i + CHUNK))
  let bytes = 0
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length
      callback()
    },
  })
  const started = performance.now()
  await pipeline(Readable.from(chunks), make(), sink)
  const ms = performance.now() - started
  const mb = bytes / 1024 / 1024
  const rss = process.resourceUsage().maxRSS / 1024
  process.stdout.write(JSON.stringify({ scenario, mb, ms, rss }) + '\n')
}

function journalLikeGzip(): Buffer {
  const lines: string[] = []
  let size = 0
  for (let i = 0; size < TEXT_BYTES; i++) {
    const line =
      `@pv@ 3 @db.rev@ @//depot/main/src/dir${i % 61}/file${(i * 7919) % 100003}.c@ ${i % 97} 0 ` +
      `${1400000000 + i * 13} @${randomBytes(8).toString('hex')}@ ${i % 5000} @user${i % 200}@ \n`
    lines.push(line)
    size += line.length
  }
  return gzipSync(Buffer.from(lines.join('')))
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--scenario' && argv[1] && argv[2]) return measure(argv[1], argv[2])
  let file = argv[0]
  const made = file === undefined
  if (file === undefined) {
    file = join(tmpdir(), `logdaemon-gunzip-bench-${process.pid}.gz`)
    writeFileSync(file, journalLikeGzip())
  }
  try {
    const self = fileURLToPath(import.meta.url)
    console.log(`${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ${file}`)
    console.log('scenario                            MB out   ms      MB/s   peak RSS MB')
    for (const scenario of Object.keys(SCENARIOS)) {
      const child = spawnSync(process.execPath, [...process.execArgv, self, '--scenario', scenario, file], {
        encoding: 'utf8',
      })
      if (child.status !== 0) throw new Error(`${scenario}: ${child.stderr}`)
      const r = JSON.parse(child.stdout) as { mb: number; ms: number; rss: number }
      console.log(
        `${scenario.padEnd(34)} ${r.mb.toFixed(0).padStart(6)} ${r.ms.toFixed(0).padStart(6)} ` +
          `${(r.mb / (r.ms / 1000)).toFixed(0).padStart(8)} ${r.rss.toFixed(0).padStart(10)}`,
      )
    }
  } finally {
    if (made) rmSync(file, { force: true })
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
