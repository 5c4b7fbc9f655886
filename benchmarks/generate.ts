/**
 * Writes a realistic checkpoint or journal of a given size, for benchmarks
 * and demos:
 *
 *   node dist/benchmarks/generate.js --size 1GiB --seed 1 --out big.ckp [--gzip] [--kind checkpoint|journal] [--profile default|short]
 *
 * A checkpoint comes in two profiles: `default` (long paths, many tables,
 * lines of about 150 bytes) and `short` (records of about 100 bytes, nearly
 * all db.have, db.rev and db.integed: per-record costs dominate there).
 * With --gzip the file is gzip-compressed as `p4d -z` writes it (one gzip
 * member, zlib's default level); --size is always the uncompressed size.
 * Writes are streamed with backpressure: memory stays flat at any size.
 */

import { createWriteStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import { createGzip } from 'node:zlib'
import { RecordGenerator, type CheckpointProfile } from '../lib/sim/record-generator.js'

export type GenerateKind = 'checkpoint' | 'journal'

/** The checkpoint profiles, in the order the runner reports them. */
export const PROFILES: readonly CheckpointProfile[] = ['default', 'short']

export interface GenerateOptions {
  /** File to write (replaced if it exists). */
  out: string
  /** Uncompressed size to aim for, in bytes. */
  size: number
  /** Default 1. */
  seed?: number
  /** Default 'checkpoint'. */
  kind?: GenerateKind
  /** Checkpoint profile (default 'default'); journals have one shape only. */
  profile?: CheckpointProfile
  /** gzip the output like `p4d -z` (default false). */
  gzip?: boolean
  /** zlib level for --gzip (default: zlib's default, 6, as p4d uses); 1 is about 3x faster. */
  gzipLevel?: number
}

export interface GenerateResult {
  readonly path: string
  /** Uncompressed bytes written. */
  readonly bytes: number
  readonly records: number
  /** Size of the file on disk (compressed size with gzip). */
  readonly fileBytes: number
  readonly kind: GenerateKind
  readonly profile: CheckpointProfile
  readonly seed: number
  readonly ms: number
}

/** Journal output is gathered into Buffers of about this size before writing. */
const JOURNAL_BATCH_BYTES = 1024 * 1024

/** Writes the file; resolves when it is complete on disk. */
export async function generateFile(opts: GenerateOptions): Promise<GenerateResult> {
  const { out, size, seed = 1, kind = 'checkpoint', profile = 'default', gzip = false, gzipLevel } = opts
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`size must be a non-negative integer, got ${size}`)
  if (!PROFILES.includes(profile)) throw new RangeError(`profile must be ${PROFILES.join(' or ')}, got ${profile}`)
  if (kind === 'journal' && profile !== 'default') throw new RangeError('a journal has no profile: --profile is for checkpoints')
  const started = performance.now()
  const generator = new RecordGenerator(seed)
  const counts = { bytes: 0, records: 0 }
  const source = kind === 'journal' ? journalChunks(generator, size, counts) : checkpointChunks(generator, size, profile, counts)
  const sink = createWriteStream(out)
  if (gzip) await pipeline(source, createGzip(gzipLevel === undefined ? {} : { level: gzipLevel }), sink)
  else await pipeline(source, sink)
  const { size: fileBytes } = await stat(out)
  return { path: out, ...counts, fileBytes, kind, profile, seed, ms: performance.now() - started }
}

function* checkpointChunks(
  generator: RecordGenerator,
  size: number,
  profile: CheckpointProfile,
  counts: { bytes: number; records: number },
): Generator<Buffer> {
  const it = generator.checkpointRecords(size, { profile })
  for (let r = it.next(); ; r = it.next()) {
    if (r.done) {
      counts.records = r.value.records
      return
    }
    counts.bytes += r.value.length
    yield r.value
  }
}

/** A live journal: a restart note, then transactions until `size` is reached. */
function* journalChunks(generator: RecordGenerator, size: number, counts: { bytes: number; records: number }): Generator<Buffer> {
  let pending: Buffer[] = generator.restart().records
  let pendingBytes = pending.reduce((n, b) => n + b.length, 0)
  counts.records = pending.length
  counts.bytes = pendingBytes
  while (counts.bytes < size) {
    const batch = generator.next()
    pending.push(...batch.records)
    pendingBytes += batch.bytes
    counts.bytes += batch.bytes
    counts.records += batch.records.length
    if (pendingBytes >= JOURNAL_BATCH_BYTES) {
      yield Buffer.concat(pending, pendingBytes)
      pending = []
      pendingBytes = 0
    }
  }
  if (pendingBytes > 0) yield Buffer.concat(pending, pendingBytes)
}

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  k: 2 ** 10,
  kib: 2 ** 10,
  m: 2 ** 20,
  mib: 2 ** 20,
  g: 2 ** 30,
  gib: 2 ** 30,
}

/** `1GiB`, `100MB`, `512k`, `4096`: KB/MB/GB are decimal, KiB/MiB/GiB and K/M/G binary. */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text)
  const unit = m ? UNITS[(m[2] ?? '').toLowerCase()] : undefined
  if (!m || unit === undefined) throw new RangeError(`size ${JSON.stringify(text)} is not a size like 1GiB, 100MB, 512KiB or 4096`)
  return Math.round(Number(m[1]) * unit)
}

/** One table for parsing and for --help. */
const OPTIONS = {
  size: { type: 'string', help: 'uncompressed size: 1GiB, 100MB, 512KiB, 4096 (required)' },
  out: { type: 'string', help: 'file to write (required)' },
  seed: { type: 'string', help: 'PRNG seed, an integer (default 1)' },
  kind: { type: 'string', help: 'checkpoint (default) or journal' },
  profile: { type: 'string', help: 'checkpoint profile: default (lines of ~150 bytes) or short (records of ~100 bytes, db.have/db.rev/db.integed)' },
  gzip: { type: 'boolean', help: 'gzip the output the way p4d -z does' },
  level: { type: 'string', help: 'zlib level for --gzip, 1-9 (default 6, as p4d)' },
  json: { type: 'boolean', help: 'print the result as JSON' },
  help: { type: 'boolean', help: 'show this help' },
} as const

function usage(): string {
  const lines = Object.entries(OPTIONS).map(([name, o]) => `  --${(name + (o.type === 'string' ? ' VALUE' : '')).padEnd(14)} ${o.help}`)
  return `usage: generate --size SIZE --out FILE [--seed N] [--kind checkpoint|journal] [--profile default|short] [--gzip [--level N]] [--json]\n\n${lines.join('\n')}\n`
}

export interface Stdio {
  stdout: Pick<Writable, 'write'>
  stderr: Pick<Writable, 'write'>
}

/** The CLI; returns the exit code (0 ok, 1 runtime error, 2 usage error). */
export async function main(argv: readonly string[], io: Stdio = process): Promise<number> {
  let values: { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean }
  let size: number
  let seed: number
  let kind: GenerateKind
  let profile: CheckpointProfile
  let gzipLevel: number | undefined
  try {
    values = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }).values
    if (values.help) {
      io.stdout.write(usage())
      return 0
    }
    if (values.size === undefined || values.out === undefined) throw new RangeError('--size and --out are required')
    size = parseSize(values.size)
    seed = Number(values.seed ?? '1')
    if (!Number.isSafeInteger(seed)) throw new RangeError(`--seed must be an integer, got ${values.seed}`)
    const k = values.kind ?? 'checkpoint'
    if (k !== 'checkpoint' && k !== 'journal') throw new RangeError(`--kind must be checkpoint or journal, got ${k}`)
    kind = k
    const pr = values.profile ?? 'default'
    if (!(PROFILES as readonly string[]).includes(pr)) throw new RangeError(`--profile must be ${PROFILES.join(' or ')}, got ${pr}`)
    profile = pr as CheckpointProfile
    if (kind === 'journal' && values.profile !== undefined) throw new RangeError('--profile is for checkpoints; a journal has one shape')
    gzipLevel = values.level === undefined ? undefined : Number(values.level)
    if (gzipLevel !== undefined && !(Number.isInteger(gzipLevel) && gzipLevel >= 1 && gzipLevel <= 9)) {
      throw new RangeError(`--level must be 1 to 9, got ${values.level}`)
    }
  } catch (err) {
    io.stderr.write(`generate: ${err instanceof Error ? err.message : String(err)}\n${usage()}`)
    return 2
  }
  try {
    const r = await generateFile({ out: values.out, size, seed, kind, profile, gzip: values.gzip ?? false, gzipLevel })
    const mib = r.bytes / 2 ** 20
    io.stdout.write(
      values.json
        ? JSON.stringify(r) + '\n'
        : `generate: wrote ${r.path}: ${r.kind}${r.kind === 'checkpoint' ? ` (${r.profile} profile)` : ''}, ${r.bytes} bytes (${mib.toFixed(1)} MiB), ${r.records} records, ` +
            `${r.fileBytes} bytes on disk, seed ${r.seed}, ${(r.ms / 1000).toFixed(1)} s (${(mib / (r.ms / 1000)).toFixed(1)} MiB/s)\n`,
    )
    return 0
  } catch (err) {
    io.stderr.write(`generate: ${err instanceof Error ? err.message : String(err)}\n`)
    return 1
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`generate: ${String(err)}\n`)
      process.exitCode = 1
    },
  )
}
