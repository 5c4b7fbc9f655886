/**
 * The benchmark runner:
 *
 *   npm run bench                  1 GiB checkpoint, every scenario 3 times, plus the 100 MB scale check
 *   npm run bench -- --quick       100 MB, a few minutes
 *   npm run bench -- --help        every option
 *
 * Makes the input once per run with a fixed seed (benchmarks/generate.ts)
 * in a temporary directory, runs every scenario of harness/catalog.ts in a
 * fresh `node` process, repeated round-robin (so a burst of load on the
 * machine spreads over all scenarios instead of sinking one), and prints
 * one table: MB/s and records/s of the median run, highest peak RSS, the
 * ratio to split2, with the CPU, core count and Node version; then the
 * project's bars as PASS/MISS. Writes everything to a JSON file
 * (bench-results*.json, ignored by git), and a full run (every scenario,
 * timed, not profiled) rewrites the results block of docs/benchmarks.md.
 */
import { availableParallelism, cpus, loadavg, platform, arch, tmpdir, totalmem } from 'node:os'
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { Writable } from 'node:stream'
import { parseSize } from './generate.js'
import { checkBars, mb, type BarResult } from './harness/bars.js'
import { SCENARIOS, findScenario, type ScenarioSpec } from './harness/catalog.js'
import { prepareData, type BenchData } from './harness/data.js'
import { renderBlock, writeDocsBlock, type ReportParts } from './harness/docs-block.js'
import type { ScenarioResult } from './harness/scenario.js'
import { spawnScenario } from './harness/spawn-scenario.js'
import { summarize, type Row } from './harness/summary.js'
import { formatBars, formatNotes, formatTable } from './harness/table.js'

const DEFAULT_SIZE = '1GiB'
const QUICK_SIZE = '100MB'
/** The smaller size of the "same rate and RSS at 100 MB and 1 GiB" bar. */
const SCALE_SIZE = '100MB'
/** Scenarios run again at the scale-check size. */
const SCALE_SCENARIOS = ['framing', 'cat-json', 'daemon-noop-listener']
/**
 * Timed logdaemon-cat runs write to /dev/null, where nothing can be
 * checked; so first each runs once, untimed, on an input of this size with
 * its output checked: a bin that writes nothing is fast and worthless.
 */
const SANITY_SIZE = '4MB'
/** The page whose results block a full run rewrites (the runner runs from dist/benchmarks/). */
const DOCS_PAGE = fileURLToPath(new URL('../../docs/benchmarks.md', import.meta.url))

const OPTIONS = {
  quick: { type: 'boolean', help: `the ${QUICK_SIZE} run (a few minutes); no scale check` },
  size: { type: 'string', help: `input size: 1GiB, 100MB, 2MB, … (default ${DEFAULT_SIZE})` },
  runs: { type: 'string', help: 'runs of each scenario; the median is reported (default 3)' },
  seed: { type: 'string', help: 'generator seed (default 1)' },
  only: { type: 'string', help: 'comma-separated scenario names (default: all; --list shows them)' },
  'scale-size': { type: 'string', help: `also run ${SCALE_SCENARIOS.join(', ')} at this size for the scale bar (default ${SCALE_SIZE} when --size is larger)` },
  'no-scale': { type: 'boolean', help: 'skip the scale check' },
  data: { type: 'string', help: 'keep the generated input in DIR and reuse it next time (default: a temporary dir, removed)' },
  out: { type: 'string', help: 'JSON results file (default bench-results.json, or bench-results-quick.json with --quick)' },
  docs: { type: 'string', help: 'rewrite the results block of this Markdown file (default: docs/benchmarks.md after a full run)' },
  'no-docs': { type: 'boolean', help: 'leave the documentation alone' },
  'cpu-prof': { type: 'string', help: 'write a V8 CPU profile of every scenario process (and the bins they spawn) to DIR' },
  verify: { type: 'boolean', help: 'every run checks logdaemon-cat output (JSON line count, raw bytes) instead of writing to /dev/null; for tests' },
  'follow-samples': { type: 'string', help: 'appends measured by follow-latency (default 200)' },
  check: { type: 'boolean', help: 'exit 1 when a bar is missed' },
  list: { type: 'boolean', help: 'list the scenarios and exit' },
  help: { type: 'boolean', help: 'show this help' },
} as const

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean }

export interface RunnerIO {
  stdout: Pick<Writable, 'write'>
  stderr: Pick<Writable, 'write'>
}

class UsageError extends Error {}

function usage(): string {
  const lines = Object.entries(OPTIONS).map(([name, o]) => `  --${(name + (o.type === 'string' ? ' VALUE' : '')).padEnd(20)} ${o.help}`)
  return `usage: node dist/benchmarks/run.js [--quick | --size SIZE] [--runs N] [--only a,b] [--data DIR] [--out FILE]\n\n${lines.join('\n')}\n`
}

function positiveInt(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`--${name} must be a positive integer, got ${JSON.stringify(text)}`)
  return n
}

interface Plan {
  size: number
  scaleSize: number | null
  runs: number
  seed: number
  scenarios: ScenarioSpec[]
  dataDir: string | null
  out: string
  /** The Markdown page whose results block is rewritten, or null. */
  docs: string | null
  nodeArgs: string[]
  verify: boolean
  followSamples: number
  check: boolean
}

function plan(values: Values): Plan {
  if (values.quick && values.size !== undefined) throw new UsageError('--quick and --size are exclusive')
  let size: number
  let scaleSize: number | null
  try {
    size = parseSize(values.quick ? QUICK_SIZE : (values.size ?? DEFAULT_SIZE))
    const scale = parseSize(values['scale-size'] ?? SCALE_SIZE)
    scaleSize = values['no-scale'] || (values['scale-size'] === undefined && values.quick) || scale >= size ? null : scale
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (size <= 0) throw new UsageError('--size must be above 0')
  let scenarios = [...SCENARIOS]
  if (values.only !== undefined) {
    const names = values.only
      .split(',')
      .map((n) => n.trim())
      .filter(Boolean)
    const unknown = names.filter((n) => !findScenario(n))
    if (unknown.length) throw new UsageError(`no scenario ${unknown.join(', ')} (--list shows them)`)
    scenarios = SCENARIOS.filter((s) => names.includes(s.name))
  }
  const seed = Number(values.seed ?? '1')
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed must be an integer, got ${values.seed}`)
  if (values.docs !== undefined && values['no-docs']) throw new UsageError('--docs and --no-docs are exclusive')
  // Only a full, timed run speaks for the project: a partial, verifying or profiled one writes the page only when asked to.
  const full = values.only === undefined && !values.verify && values['cpu-prof'] === undefined
  const docs = values['no-docs'] ? null : values.docs !== undefined ? resolve(values.docs) : full ? DOCS_PAGE : null
  return {
    size,
    scaleSize,
    runs: positiveInt(values.runs, 'runs', 3),
    seed,
    scenarios,
    dataDir: values.data === undefined ? null : resolve(values.data),
    out: resolve(values.out ?? (values.quick ? 'bench-results-quick.json' : 'bench-results.json')),
    docs,
    nodeArgs: values['cpu-prof'] === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', resolve(values['cpu-prof'])],
    verify: values.verify === true,
    followSamples: positiveInt(values['follow-samples'], 'follow-samples', 200),
    check: values.check === true,
  }
}

interface Machine {
  cpu: string
  cores: number
  node: string
  platform: string
  totalMemoryMB: number
  loadAverageStart: number[]
  loadAverageEnd: number[]
}

/** One job: a scenario on one data set. */
interface Job {
  spec: ScenarioSpec
  label: string
  data: BenchData
  runs: ScenarioResult[]
}

/** Runs the benchmarks; returns the exit code (0 ok, 1 a scenario failed or counts disagree, or --check and a bar missed; 2 usage). */
export async function main(argv: readonly string[], io: RunnerIO = process): Promise<number> {
  let values: Values
  let p: Plan
  try {
    values = parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: false }).values as Values
    if (values.help) {
      io.stdout.write(usage())
      return 0
    }
    if (values.list) {
      for (const s of SCENARIOS) io.stdout.write(`${s.name.padEnd(22)} ${s.kind.padEnd(8)} ${s.about}\n`)
      return 0
    }
    p = plan(values)
  } catch (err) {
    io.stderr.write(`bench: ${(err as Error).message}\n${usage()}`)
    return 2
  }

  const say = (line: string) => io.stderr.write(`bench: ${line}\n`)
  const machine: Machine = {
    cpu: cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: availableParallelism(),
    node: process.version,
    platform: `${platform()} ${arch()}`,
    totalMemoryMB: Math.round(totalmem() / 1e6),
    loadAverageStart: loadavg(),
    loadAverageEnd: [],
  }
  const tempDir = p.dataDir === null ? await mkdtemp(join(tmpdir(), 'logdaemon-bench-')) : null
  const dataDir = p.dataDir ?? (tempDir as string)
  try {
    if (p.nodeArgs.length) await mkdir(p.nodeArgs[2] as string, { recursive: true })
    const data = await prepareData({ dir: dataDir, size: p.size, seed: p.seed, say })
    const scaleNames = p.scenarios.filter((s) => SCALE_SCENARIOS.includes(s.name))
    const scaleData =
      p.scaleSize !== null && scaleNames.length > 0 ? await prepareData({ dir: join(dataDir, 'scale'), size: p.scaleSize, seed: p.seed, say }) : null
    const problems: Problem[] = []
    const unchecked = p.verify ? [] : p.scenarios.filter((s) => s.name.startsWith('cat-'))
    if (unchecked.length > 0) {
      const sanity = await prepareData({ dir: join(dataDir, 'sanity'), size: parseSize(SANITY_SIZE), seed: p.seed, say })
      for (const spec of unchecked) {
        const checked = await spawnScenario(spec, sanity.plain, { options: { verify: true } })
        const row = summarize(spec, `${spec.name} (output check on ${SANITY_SIZE})`, sanity.bytes, [checked], sanity.records)
        problems.push(...countProblems([row], sanity))
        say(`${spec.name}: output checked on ${SANITY_SIZE}: ${checked.records} records`)
      }
    }
    const jobs: Job[] = p.scenarios.map((spec) => ({ spec, label: spec.name, data, runs: [] }))
    if (scaleData) for (const spec of scaleNames) jobs.push({ spec, label: `${spec.name}@${mb(scaleData.size).replace(' ', '')}`, data: scaleData, runs: [] })

    for (let run = 1; run <= p.runs; run++) {
      for (const job of jobs) {
        const result = await runJob(job, p, dataDir, run)
        job.runs.push(result)
        say(`[${run}/${p.runs}] ${job.label}: ${progressLine(result)}`)
      }
    }
    machine.loadAverageEnd = loadavg()

    const rows = jobs.map((j) => summarize(j.spec, j.label, j.data.bytes, j.runs, j.data.records))
    const main = new Map(rows.filter((r) => r.label === r.spec.name).map((r) => [r.spec.name, r]))
    const scale = new Map(rows.filter((r) => r.label !== r.spec.name).map((r) => [r.spec.name, r]))
    problems.push(...countProblems([...main.values()], data), ...countProblems([...scale.values()], scaleData))
    const bars = checkBars({ rows: main, scaleRows: scale, invalid: new Set(problems.map((x) => x.scenario)) })

    const parts = report(machine, data, scaleData, p, rows, main.get('split2-lines'), bars, problems)
    io.stdout.write(formatReport(parts))
    await writeFile(p.out, JSON.stringify(results(machine, data, scaleData, p, rows, bars, problems), null, 2) + '\n')
    say(`results written to ${p.out}`)
    if (p.docs !== null) {
      await writeDocsBlock(p.docs, renderBlock(parts, ['npm run bench', ...(argv.length ? ['--', ...argv] : [])].join(' '), new Date()))
      say(`results block of ${p.docs} rewritten`)
    }
    if (problems.length) return 1
    if (p.check && bars.some((b) => b.status === 'MISS')) return 1
    return 0
  } catch (err) {
    say(err instanceof Error ? err.message : String(err))
    return 1
  } finally {
    if (tempDir) await rm(tempDir, { recursive: true, force: true })
  }
}

async function runJob(job: Job, p: Plan, dataDir: string, run: number): Promise<ScenarioResult> {
  const { spec, data } = job
  const base = { nodeArgs: p.nodeArgs }
  switch (spec.input) {
    case 'plain':
      return spawnScenario(spec, data.plain, { ...base, options: spec.name.startsWith('cat-') ? { verify: p.verify } : {} })
    case 'gz':
      return spawnScenario(spec, data.gz, base)
    case 'root':
      return spawnScenario(spec, data.root, base)
    case 'scratch': {
      const scratch = join(dataDir, `scratch-${spec.name}-${run}`)
      await rm(scratch, { recursive: true, force: true })
      await mkdir(scratch)
      try {
        return await spawnScenario(spec, scratch, { ...base, options: { samples: p.followSamples } })
      } finally {
        await rm(scratch, { recursive: true, force: true })
      }
    }
  }
}

function progressLine(r: ScenarioResult): string {
  if (r.skipped) return `skipped (${r.skipped})`
  const rss = `${((r.maxRssKiB * 1024) / 1e6).toFixed(1)} MB peak RSS`
  if (r.extra.p99Ms !== undefined) return `p50 ${r.extra.p50Ms?.toFixed(2)} ms, p99 ${r.extra.p99Ms.toFixed(2)} ms, ${rss}`
  return `${(r.bytes / 1e6 / (r.ms / 1000)).toFixed(1)} MB/s in ${(r.ms / 1000).toFixed(2)} s, ${rss}`
}

/**
 * Every scenario that frames records must count the records the generator
 * wrote (framing, decoding, gzip, the daemon, logdaemon-cat when verified):
 * they cross-check each other. The line-counting baselines must agree too.
 */
interface Problem {
  scenario: string
  message: string
}

function countProblems(rows: readonly Row[], data: BenchData | null): Problem[] {
  if (!data) return []
  const problems: Problem[] = []
  const add = (r: Row, message: string) => problems.push({ scenario: r.spec.name, message })
  for (const r of rows) {
    if (r.skipped) continue
    if (r.spec.counts === 'records' && r.records !== data.records) {
      add(r, `${r.label} counted ${r.records} records; the input has ${data.records}`)
    }
    if (r.spec.measures === 'throughput' && r.bytes !== data.bytes) {
      add(r, `${r.label} processed ${r.bytes} bytes; the input has ${data.bytes}`)
    }
  }
  const lines = rows.filter((r) => !r.skipped && r.spec.counts === 'lines')
  const first = lines[0]
  for (const r of lines) {
    if (first && r.records !== first.records) add(r, `${r.label} counted ${r.records} lines, ${first.label} ${first.records}`)
  }
  return problems
}

function load(l: readonly number[]): string {
  return l.map((x) => x.toFixed(2)).join(' ')
}

function report(
  machine: Machine,
  data: BenchData,
  scaleData: BenchData | null,
  p: Plan,
  rows: readonly Row[],
  split2: Row | undefined,
  bars: readonly BarResult[],
  problems: readonly Problem[],
): ReportParts {
  const header: string[] = []
  header.push(
    `logdaemon benchmarks: checkpoint of ${mb(p.size)} (${data.bytes} bytes, ${data.records} records; gzip ${data.gzBytes} bytes), seed ${p.seed}` +
      (scaleData ? `; scale check on ${mb(scaleData.size)}` : ''),
  )
  header.push(`${machine.cpu}, ${machine.cores} cores, Node ${machine.node}, ${machine.platform}, ${machine.totalMemoryMB} MB RAM`)
  header.push(`load average ${load(machine.loadAverageStart)} at the start, ${load(machine.loadAverageEnd)} at the end`)
  if (process.env.NODE_OPTIONS) header.push(`NODE_OPTIONS=${process.env.NODE_OPTIONS} (inherited by every scenario)`)
  header.push(
    `each scenario ${p.runs} time(s), each in a fresh node process; MB/s and per s of the median run, highest peak RSS; MB = 10^6 bytes` +
      (p.nodeArgs.length ? '; PROFILING (--cpu-prof): timings are not comparable' : '') +
      (p.verify ? '; --verify: logdaemon-cat writes to a pipe, not /dev/null' : ''),
  )
  return { header, table: formatTable(rows, split2), notes: formatNotes(rows), bars: formatBars(bars), problems: problems.map((x) => x.message) }
}

/** The report as printed on standard output. */
function formatReport(parts: ReportParts): string {
  const out = [...parts.header, '', parts.table]
  out.push(
    '"counts": what per s counts: journal records, physical lines (the baselines), or bytes only. ' +
      '"× split2": MB/s over split2-lines\' MB/s. gz rows: MB/s of the uncompressed bytes. ' +
      '"CPU %": CPU time / wall time of the process measured (above 100: more than one core). ' +
      '"MB/CPU-s": MB per second of that CPU time, steadier than MB/s on a busy machine; the bars use MB/s.\n' +
      parts.notes,
  )
  out.push('bars:')
  out.push(parts.bars)
  for (const problem of parts.problems) out.push(`ERROR: ${problem}`)
  return out.join('\n') + '\n'
}

function results(
  machine: Machine,
  data: BenchData,
  scaleData: BenchData | null,
  p: Plan,
  rows: readonly Row[],
  bars: readonly BarResult[],
  problems: readonly Problem[],
): unknown {
  return {
    date: new Date().toISOString(),
    machine,
    settings: { size: p.size, scaleSize: p.scaleSize, runs: p.runs, seed: p.seed, verify: p.verify, profiling: p.nodeArgs.length > 0 },
    data: { bytes: data.bytes, records: data.records, gzBytes: data.gzBytes, seed: data.seed, kind: data.kind },
    scaleData: scaleData ? { bytes: scaleData.bytes, records: scaleData.records, gzBytes: scaleData.gzBytes } : null,
    scenarios: rows.map((r) => ({
      name: r.spec.name,
      label: r.label,
      kind: r.spec.kind,
      about: r.spec.about,
      inputBytes: r.inputBytes,
      skipped: r.skipped,
      bytes: r.bytes,
      records: r.records,
      unit: r.unit,
      medianMs: r.ms,
      mbPerSec: r.mbPerSec,
      mbPerCpuSec: r.mbPerCpuSec,
      recordsPerSec: r.recordsPerSec,
      peakRssMB: r.peakRssMB,
      cpuPercent: r.cpuPercent,
      spreadPercent: r.spreadPercent,
      extra: r.extra,
      runs: r.runs,
    })),
    bars,
    problems: problems.map((x) => x.message),
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: unknown) => {
      process.stderr.write(`bench: ${String(err)}\n`)
      process.exitCode = 1
    },
  )
}
