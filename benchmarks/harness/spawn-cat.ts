/**
 * Runs the built `logdaemon-cat` end to end, as a user would:
 * `logdaemon-cat ARGS FILE > /dev/null`, timed from spawn to exit (Node's
 * startup included), with peak RSS and CPU from the rss-probe preloaded
 * into it.
 *
 * With `verify`, stdout goes to a pipe instead and is checked: JSON and row
 * output must have one line per record, raw output must be the input byte for
 * byte (same length and SHA-1; for a .gz input, the uncompressed file given
 * as `plain`), and its records are counted by framing it. Verified runs are
 * for tests, not for timing.
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { closeSync, createReadStream, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { JournalFramer } from '../../lib/journal/framer.js'
import { PROBE_ENV, type ProbeReport } from './rss-probe.js'
import type { ScenarioOutput } from './scenario.js'

/** The built bin, beside this file in dist/. */
export const CAT_BIN = fileURLToPath(new URL('../../bin/logdaemon-cat.js', import.meta.url))
const PROBE = pathToFileURL(fileURLToPath(new URL('./rss-probe.js', import.meta.url))).href

export interface CatOptions {
  /** The uncompressed bytes of a .gz input: what raw output must equal, and the bytes counted. */
  plain?: string
  /** More environment for the bin (LOGDAEMON_INFLATER=node …). */
  env?: Readonly<Record<string, string>>
}

/**
 * Whether the built bin lists `flag` in its --help: a scenario that needs
 * an option another change adds is skipped, with this reason, until it is there.
 */
export function missingFlag(flag: string): string | null {
  const help = spawnSync(process.execPath, [CAT_BIN, '--help'], { encoding: 'utf8' })
  if (help.status !== 0) return `logdaemon-cat --help failed: ${help.stderr.trim()}`
  return new RegExp(`(^|[\\s,])${flag}\\b`).test(help.stdout) ? null : `logdaemon-cat has no ${flag} option yet`
}

export async function runCat(input: string, args: readonly string[], verify: boolean, options: CatOptions = {}): Promise<ScenarioOutput> {
  const dir = mkdtempSync(join(tmpdir(), 'logdaemon-bench-cat-'))
  const probeFile = join(dir, 'probe.json')
  const devNull = verify ? null : openSync('/dev/null', 'w')
  const reference = options.plain ?? input
  try {
    const bytes = (await stat(reference)).size
    const t0 = performance.now()
    const child = spawn(process.execPath, [...process.execArgv, '--import', PROBE, CAT_BIN, ...args, '--no-progress', input], {
      stdio: ['ignore', devNull ?? 'pipe', 'pipe'],
      env: { ...process.env, ...options.env, [PROBE_ENV]: probeFile },
    })
    let stderr = ''
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    const lines = args.includes('json') || args.includes('row')
    const check = verify && child.stdout ? checkOutput(child.stdout, lines ? 'json' : 'raw') : null
    const [code] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null]
    const ms = performance.now() - t0
    if (code !== 0) throw new Error(`logdaemon-cat exited with ${code}: ${stderr.trim()}`)
    const probe = JSON.parse(readFileSync(probeFile, 'utf8')) as ProbeReport
    let records: number | null = null
    if (check) {
      const seen = await check
      if (seen.bytes !== undefined && (seen.bytes !== bytes || seen.sha1 !== (await sha1(reference)))) {
        throw new Error(`logdaemon-cat --format raw wrote ${seen.bytes} bytes that differ from the ${bytes} input bytes`)
      }
      records = seen.records
    }
    return { bytes, records, unit: 'records', ms, cpuMs: probe.cpuMs, maxRssKiB: probe.maxRssKiB }
  } finally {
    if (devNull !== null) closeSync(devNull)
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Counts JSON lines, or frames raw output (and hashes it). */
async function checkOutput(out: NodeJS.ReadableStream, format: 'json' | 'raw'): Promise<{ records: number; bytes?: number; sha1?: string }> {
  let records = 0
  if (format === 'json') {
    for await (const chunk of out) {
      const buf = chunk as Buffer
      for (let i = buf.indexOf(0x0a); i !== -1; i = buf.indexOf(0x0a, i + 1)) records++
    }
    return { records }
  }
  const framer = new JournalFramer()
  const hash = createHash('sha1')
  let bytes = 0
  for await (const chunk of out) {
    const buf = chunk as Buffer
    bytes += buf.length
    hash.update(buf)
    framer.push(buf, () => records++)
  }
  return { records, bytes, sha1: hash.digest('hex') }
}

async function sha1(file: string): Promise<string> {
  const hash = createHash('sha1')
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer)
  return hash.digest('hex')
}

/** The `--plain FILE` the runner passes with a .gz input, as runCat's option. */
export function plainOf(options: Readonly<Record<string, string>>): CatOptions {
  return options.plain === undefined ? {} : { plain: options.plain }
}
