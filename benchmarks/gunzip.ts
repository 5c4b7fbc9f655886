/**
 * gzip input throughput: createGunzip with zlib-sync and with node:zlib,
 * beside node:zlib's own Gunzip stream and bare zlib-sync as baselines, each
 * scenario in a fresh process, best of 5 runs (wall time, and CPU time of
 * all threads: node:zlib inflates on the thread pool), input from memory in
 * 64 KiB chunks (as fs streams read):
 *
 *   node dist/benchmarks/gunzip.js [FILE.gz]
 *
 * Without a file, ~100 MiB of journal-like text is made and gzipped first.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { Readable, Writable, type Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { createGunzip as createNodeGunzip, gzipSync } from 'node:zlib'
import { createGunzip } from '../lib/files/gunzip.js'
import type { ZlibSyncModule } from '../lib/files/inflater.js'

type Scenario = (chunks: Buffer[]) => Promise<number>

/** Bytes out of `transform` fed `chunks`. */
async function through(transform: Transform, chunks: Buffer[]): Promise<number> {
  let bytes = 0
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length
      callback()
    },
  })
  await pipeline(Readable.from(chunks), transform, sink)
  return bytes
}

/** zlib-sync alone, no stream: what the transform around it costs. First member only. */
async function bareZlibSync(chunks: Buffer[]): Promise<number> {
  const require = createRequire(import.meta.url)
  const zs = require('zlib-sync') as ZlibSyncModule
  const inflate = new zs.Inflate({ windowBits: 31, chunkSize: 64 * 1024 })
  let bytes = 0
  for (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i += 16 * 1024) {
      inflate.push(chunk.subarray(i, i + 16 * 1024), zs.Z_SYNC_FLUSH)
      const out = inflate.result
      if (Buffer.isBuffer(out)) bytes += out.length
    }
  }
  return bytes
}

const SCENARIOS: Record<string, Scenario> = {
  'createGunzip zlib-sync': (chunks) => through(createGunzip({ inflater: 'zlib-sync' }), chunks),
  'createGunzip node:zlib': (chunks) => through(createGunzip({ inflater: 'node' }), chunks),
  'baseline: node:zlib createGunzip': (chunks) => through(createNodeGunzip(), chunks),
  'baseline: bare zlib-sync': bareZlibSync,
}

/** fs.createReadStream's default highWaterMark. */
const CHUNK = 64 * 1024
const TEXT_BYTES = 100 * 1024 * 1024
/** Runs per scenario; the best counts (the machine may be busy). */
const RUNS = 5

async function measure(scenario: string, file: string): Promise<void> {
  const run = SCENARIOS[scenario]
  if (!run) throw new Error(`no scenario ${scenario}`)
  const data = readFileSync(file)
  const chunks: Buffer[] = []
  for (let i = 0; i < data.length; i += CHUNK) chunks.push(data.subarray(i, i + CHUNK))
  let best = Infinity
  let cpu = Infinity
  let bytes = 0
  for (let i = 0; i < RUNS; i++) {
    const started = performance.now()
    const cpuStarted = process.cpuUsage()
    bytes = await run(chunks)
    best = Math.min(best, performance.now() - started)
    const used = process.cpuUsage(cpuStarted)
    cpu = Math.min(cpu, (used.user + used.system) / 1000)
  }
  const rss = process.resourceUsage().maxRSS / 1024
  process.stdout.write(JSON.stringify({ scenario, mb: bytes / 1024 / 1024, ms: best, cpu, rss }) + '\n')
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
    console.log('scenario                           MB out  wall ms     MB/s   CPU ms  peak RSS MB')
    for (const scenario of Object.keys(SCENARIOS)) {
      const child = spawnSync(process.execPath, [...process.execArgv, self, '--scenario', scenario, file], {
        encoding: 'utf8',
      })
      if (child.status !== 0) throw new Error(`${scenario}: ${child.stderr}`)
      const r = JSON.parse(child.stdout) as { mb: number; ms: number; cpu: number; rss: number }
      console.log(
        `${scenario.padEnd(34)} ${r.mb.toFixed(0).padStart(6)} ${r.ms.toFixed(0).padStart(8)} ` +
          `${(r.mb / (r.ms / 1000)).toFixed(0).padStart(8)} ${r.cpu.toFixed(0).padStart(8)} ${r.rss.toFixed(0).padStart(12)}`,
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
