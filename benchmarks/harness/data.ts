/**
 * The benchmark input, made once per run with a fixed seed: a checkpoint of
 * the requested size and profile (benchmarks/generate.ts), the same bytes
 * gzipped as `p4d -z` writes them (one member, zlib's default level), a
 * server root whose archived `journal.1` is the checkpoint (a hard link)
 * and whose live `journal` is empty, for the daemon scenarios, and a
 * server root whose live `journal` is the checkpoint (a hard link too; no
 * archives), for a source catching up on a live journal.
 *
 * A directory given with --data keeps its files between runs: a manifest
 * says what was generated, and files are remade only when the size, seed or
 * generator format changed.
 */
import { createReadStream, createWriteStream } from 'node:fs'
import { link, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { createGzip } from 'node:zlib'
import type { CheckpointProfile } from '../../lib/sim/record-generator.js'
import { generateFile } from '../generate.js'

/** Bump when the files made here change shape, so kept directories are remade. */
const FORMAT = 2

export interface BenchData {
  readonly format: number
  readonly dir: string
  /** Requested size, in bytes. */
  readonly size: number
  readonly seed: number
  readonly profile: CheckpointProfile
  readonly kind: 'checkpoint'
  /** The plain checkpoint and its size. */
  readonly plain: string
  readonly bytes: number
  /** Records in it, as counted by the generator. */
  readonly records: number
  /** The gzipped checkpoint and its size on disk. */
  readonly gz: string
  readonly gzBytes: number
  /** Server root: journal.1 (the checkpoint) and an empty live journal. */
  readonly root: string
  /** Server root: the live `journal` is the checkpoint; no archives. */
  readonly live: string
  /** How long making the files took, ms (0 when reused). */
  readonly generateMs: number
  readonly gzipMs: number
}

export interface PrepareOptions {
  dir: string
  size: number
  seed: number
  /** Default 'default'. */
  profile?: CheckpointProfile
  /** Progress lines (to stderr). */
  say?: (line: string) => void
}

const MANIFEST = 'manifest.json'

/** Makes the files in `dir` (or reuses those there when they match). */
export async function prepareData(options: PrepareOptions): Promise<BenchData> {
  const { dir, size, seed } = options
  const profile = options.profile ?? 'default'
  const say = options.say ?? (() => {})
  const reused = await reuse(dir, size, seed, profile)
  if (reused) {
    say(`data: reusing ${reused.plain} (${reused.bytes} bytes, ${reused.records} records)`)
    return reused
  }
  await mkdir(dir, { recursive: true })
  const plain = join(dir, 'bench.ckp')
  const gz = join(dir, 'bench.ckp.gz')
  const root = join(dir, 'root')
  const live = join(dir, 'live')
  say(`data: generating a ${size}-byte checkpoint (${profile} profile, seed ${seed}) in ${dir}`)
  const made = await generateFile({ out: plain, size, seed, kind: 'checkpoint', profile })
  const t0 = performance.now()
  await pipeline(createReadStream(plain), createGzip(), createWriteStream(gz))
  const gzipMs = performance.now() - t0
  await rm(root, { recursive: true, force: true })
  await mkdir(root)
  await link(plain, join(root, 'journal.1'))
  await writeFile(join(root, 'journal'), '')
  await rm(live, { recursive: true, force: true })
  await mkdir(live)
  await link(plain, join(live, 'journal'))
  const data: BenchData = {
    format: FORMAT,
    dir,
    size,
    seed,
    profile,
    kind: 'checkpoint',
    plain,
    bytes: made.bytes,
    records: made.records,
    gz,
    gzBytes: (await stat(gz)).size,
    root,
    live,
    generateMs: made.ms,
    gzipMs,
  }
  await writeFile(join(dir, MANIFEST), JSON.stringify(data, null, 2) + '\n')
  say(`data: ${data.bytes} bytes, ${data.records} records in ${(made.ms / 1000).toFixed(1)} s; gzip ${data.gzBytes} bytes in ${(gzipMs / 1000).toFixed(1)} s`)
  return data
}

async function reuse(dir: string, size: number, seed: number, profile: CheckpointProfile): Promise<BenchData | null> {
  let data: BenchData
  try {
    data = JSON.parse(await readFile(join(dir, MANIFEST), 'utf8')) as BenchData
  } catch {
    return null
  }
  if (data.format !== FORMAT || data.size !== size || data.seed !== seed || data.profile !== profile || data.dir !== dir) return null
  try {
    const [p, g, j, l] = await Promise.all([stat(data.plain), stat(data.gz), stat(join(data.root, 'journal')), stat(join(data.live, 'journal'))])
    if (p.size !== data.bytes || g.size !== data.gzBytes || j.size !== 0 || l.size !== data.bytes) return null
  } catch {
    return null
  }
  return { ...data, generateMs: 0, gzipMs: 0 }
}
