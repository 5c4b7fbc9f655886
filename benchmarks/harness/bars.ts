/**
 * The project's benchmark bars, checked against one run's rows. A run has
 * one group of rows per data set (profile × size); every ratio bar is
 * checked in every group where its scenarios run (see ScenarioSpec.scope),
 * the peak RSS bar on each profile's largest size, the scale bar between
 * each profile's smallest and largest size. A bar whose rows are missing
 * (not run, or skipped here) is N/A, never PASS.
 */
import { findScenario, inScope } from './catalog.js'
import type { ScenarioResult } from './scenario.js'
import { median, type Row } from './summary.js'

export type BarStatus = 'PASS' | 'MISS' | 'N/A'

export interface BarResult {
  readonly bar: string
  /** The group it was checked in (`default 200 MB`). */
  readonly group: string
  readonly status: BarStatus
  /** What was measured, in words and numbers. */
  readonly measured: string
  /** The headline number alone (`2.10×`, `95 MB`), for the README's matrix; empty when N/A. */
  readonly value: string
}

/** Peak RSS bar, in MB (10^6 bytes). */
export const RSS_LIMIT_MB = 120
/** From the smallest to the largest size, the rate may fall and the peak RSS grow by at most this fraction. */
export const SCALE_TOLERANCE = 0.15
/** Follow latency p99 bar, ms. */
export const FOLLOW_P99_LIMIT_MS = 50
const GiB = 2 ** 30

/** One data set's rows. */
export interface BarGroup {
  /** `default 200 MB`. */
  readonly label: string
  readonly profile: string
  /** Input size, bytes. */
  readonly size: number
  /** Rows by scenario name. */
  readonly rows: ReadonlyMap<string, Row>
  /** Scenarios whose counts were wrong: their speed means nothing, every bar on them is missed. */
  readonly invalid?: ReadonlySet<string>
}

/** A bar `ours ≥ min × base`, both throughput scenarios of the same group. */
export interface RatioBar {
  readonly ours: string
  readonly base: string
  readonly min: number
}

/** The ratio bars, in report order. */
export const RATIO_BARS: readonly RatioBar[] = [
  { ours: 'framing', base: 'split2-lines', min: 2 },
  { ours: 'cat-raw', base: 'split2-lines', min: 2 },
  { ours: 'cat-json', base: 'split2-lines', min: 1 },
  { ours: 'cat-row', base: 'cat-json', min: 0.8 },
  { ours: 'cat-raw-gz', base: 'cat-raw', min: 0.8 },
  { ours: 'cat-json-gz', base: 'cat-json', min: 0.8 },
  { ours: 'gunzip-zlib-sync', base: 'gunzip-node-split2', min: 1.5 },
  { ours: 'framing-parallel', base: 'framing', min: 1.7 },
  { ours: 'daemon-noop-listener', base: 'framing', min: 0.8 },
  { ours: 'for-await-reader', base: 'framing', min: 0.8 },
  { ours: 'for-await-source', base: 'framing', min: 0.8 },
  { ours: 'sql-load-sqlite', base: 'sqlite-insert-rows', min: 0.5 },
  { ours: 'sql-load-postgres', base: 'postgres-copy-tsv', min: 0.5 },
]

export function ratioBarName(b: RatioBar): string {
  return `${b.ours} ≥ ${b.min}× ${b.base}`
}

export const RSS_BAR = `peak RSS ≤ ${RSS_LIMIT_MB} MB, every scenario of ours`
export const SCALE_BAR = `rate −${SCALE_TOLERANCE * 100} % / RSS +${SCALE_TOLERANCE * 100} % at most, smallest → largest size`
export const FOLLOW_BAR = `follow latency p99 ≤ ${FOLLOW_P99_LIMIT_MS} ms`

/** Every bar name, in report order. */
export const BAR_NAMES: readonly string[] = [...RATIO_BARS.map(ratioBarName), RSS_BAR, SCALE_BAR, FOLLOW_BAR]

function throughput(row: Row | undefined): number | null {
  return row && !row.skipped && row.mbPerSec > 0 ? row.mbPerSec : null
}

function notRun(name: string, row: Row | undefined): string {
  return row?.skipped ? `${name} skipped: ${row.skipped}` : `${name} did not run`
}

export function checkRatio(b: RatioBar, group: BarGroup): BarResult {
  const bar = ratioBarName(b)
  const base = { bar, group: group.label }
  const wrong = [b.ours, b.base].filter((name) => group.invalid?.has(name))
  if (wrong.length) return { ...base, status: 'MISS', measured: `${wrong.join(' and ')} produced wrong output (see ERROR)`, value: 'wrong output' }
  const ours = group.rows.get(b.ours)
  const other = group.rows.get(b.base)
  const a = throughput(ours)
  const z = throughput(other)
  if (a === null || z === null) return { ...base, status: 'N/A', measured: a === null ? notRun(b.ours, ours) : notRun(b.base, other), value: '' }
  const { ratio, rounds } = rateRatio(ours as Row, other as Row)
  const rates = `${b.ours} ${a.toFixed(1)} MB/s, ${b.base} ${z.toFixed(1)} MB/s`
  return {
    ...base,
    status: ratio >= b.min ? 'PASS' : 'MISS',
    measured:
      rounds.length > 1
        ? `${ratio.toFixed(2)}×, the median of ${rounds.length} rounds (${rounds.map((r) => `${r.toFixed(2)}×`).join(', ')}); median runs: ${rates}`
        : `${ratio.toFixed(2)}× (${rates})`,
    value: `${ratio.toFixed(2)}×`,
  }
}

/**
 * How many times faster `ours` ran than `base`. The runner runs every
 * scenario once per round, round after round, so run i of each row ran in
 * the same round: the ratio is the median of the rounds' ratios. On a
 * shared machine whose speed drifts by a third from one minute to the next,
 * a round's two runs share its drift, where the median runs of two rows
 * may come from different rounds. With one run each, the ratio of the two.
 */
export function rateRatio(ours: Row, base: Row): { ratio: number; rounds: number[] } {
  const paired = ours.runs.length === base.runs.length && [...ours.runs, ...base.runs].every((r) => r.ms > 0)
  if (!paired) return { ratio: ours.mbPerSec / base.mbPerSec, rounds: [] }
  const rounds = ours.runs.map((r, i) => {
    const other = base.runs[i] as ScenarioResult
    return r.bytes / r.ms / (other.bytes / other.ms)
  })
  return { ratio: median(rounds), rounds }
}

export function mb(bytes: number): string {
  return bytes >= GiB && bytes % GiB === 0 ? `${bytes / GiB} GiB` : `${Math.round(bytes / 1e6)} MB`
}

/**
 * Peak RSS of every scenario of ours in the group, and of those that ran
 * only on smaller data sets of the same profile (`smaller`: the SQL
 * scenarios, scope `small`), named with the size they ran at. Excluded:
 * the baselines (not our code; the database ones hold every row by
 * design) and the JetStream scenarios (rssBar false: see catalog.ts).
 */
export function checkRss(group: BarGroup, smaller: readonly BarGroup[] = []): BarResult {
  const base = { bar: RSS_BAR, group: group.label }
  const counts = (r: Row) => r.spec.kind === 'ours' && !r.skipped && r.spec.rssBar !== false
  const ours = [...group.rows.values()].filter(counts).map((r) => ({ name: r.spec.name, rss: r.peakRssMB }))
  for (const g of [...smaller].reverse()) {
    for (const r of g.rows.values()) {
      if (counts(r) && !group.rows.has(r.spec.name) && !ours.some((o) => o.name.startsWith(`${r.spec.name} `))) {
        ours.push({ name: `${r.spec.name} (at ${mb(g.size)})`, rss: r.peakRssMB })
      }
    }
  }
  if (ours.length === 0) return { ...base, status: 'N/A', measured: 'no scenario of ours ran', value: '' }
  const worst = ours.reduce((w, r) => (r.rss > w.rss ? r : w))
  const over = ours.filter((r) => r.rss > RSS_LIMIT_MB).map((r) => `${r.name} ${r.rss.toFixed(1)} MB`)
  const note = group.size >= GiB ? '' : ` (on ${mb(group.size)}; the bar is stated for 1 GiB)`
  return {
    ...base,
    status: over.length === 0 ? 'PASS' : 'MISS',
    measured: `highest ${worst.rss.toFixed(1)} MB (${worst.name}) of ${ours.length} scenarios${over.length ? `; over: ${over.join(', ')}` : ''}${note}`,
    value: `${worst.rss.toFixed(0)} MB`,
  }
}

/**
 * From the smallest to the largest size of one profile, for every scenario of
 * ours run at both: the rate must not fall by more than SCALE_TOLERANCE and
 * the peak RSS not grow by more. A higher rate at the larger size is
 * expected (start-up weighs less) and fine: the bar catches time or memory
 * that grows with the input.
 */
export function checkScale(small: BarGroup, large: BarGroup): BarResult {
  const base = { bar: SCALE_BAR, group: large.label }
  const pairs = [...small.rows.values()]
    .map((s) => ({ s, l: large.rows.get(s.spec.name) }))
    .filter((p): p is { s: Row; l: Row } => p.l !== undefined && p.s.spec.kind === 'ours' && !p.s.skipped && !p.l.skipped && p.s.mbPerSec > 0)
  if (pairs.length === 0) return { ...base, status: 'N/A', measured: `no scenario of ours ran at both ${mb(small.size)} and ${mb(large.size)}`, value: '' }
  const changes = pairs.map(({ s, l }) => ({ name: s.spec.name, rate: l.mbPerSec / s.mbPerSec - 1, rss: l.peakRssMB / s.peakRssMB - 1 }))
  const slowest = changes.reduce((w, c) => (c.rate < w.rate ? c : w))
  const fattest = changes.reduce((w, c) => (c.rss > w.rss ? c : w))
  const bad = changes.filter((c) => c.rate < -SCALE_TOLERANCE || c.rss > SCALE_TOLERANCE).map((c) => `${c.name} rate ${pct(c.rate)}, RSS ${pct(c.rss)}`)
  return {
    ...base,
    status: bad.length === 0 ? 'PASS' : 'MISS',
    measured:
      `${pairs.length} scenarios, ${mb(small.size)} → ${mb(large.size)}: lowest rate change ${pct(slowest.rate)} (${slowest.name}), ` +
      `highest RSS change ${pct(fattest.rss)} (${fattest.name})${bad.length ? `; out of bounds: ${bad.join('; ')}` : ''}`,
    value: `${pct(slowest.rate)} / ${pct(fattest.rss)}`,
  }
}

export function checkFollow(group: BarGroup): BarResult {
  const base = { bar: FOLLOW_BAR, group: group.label }
  const follow = group.rows.get('follow-latency')
  const p99 = follow && !follow.skipped ? follow.extra.p99Ms : undefined
  if (p99 === undefined || !Number.isFinite(p99)) return { ...base, status: 'N/A', measured: notRun('follow-latency', follow), value: '' }
  return {
    ...base,
    status: p99 <= FOLLOW_P99_LIMIT_MS ? 'PASS' : 'MISS',
    measured: `p99 ${p99.toFixed(1)} ms, p50 ${(follow?.extra.p50Ms ?? Number.NaN).toFixed(1)} ms`,
    value: `${p99.toFixed(1)} ms`,
  }
}

/** Whether scenario `name` runs on that data set (see ScenarioSpec.scope). */
function runsOn(name: string, sizeIndex: number, first: boolean): boolean {
  const spec = findScenario(name)
  return spec !== undefined && inScope(spec, sizeIndex, first)
}

/**
 * Every bar over the groups, given in report order: for each profile, its
 * sizes ascending (the first group overall is the first profile's smallest size).
 */
export function checkBars(groups: readonly BarGroup[], options: { scale?: boolean } = {}): BarResult[] {
  const results: BarResult[] = []
  for (const [gi, g] of groups.entries()) {
    const sizes = groups.filter((x) => x.profile === g.profile)
    const sizeIndex = sizes.indexOf(g)
    for (const b of RATIO_BARS) {
      // Where neither side ran (--only), the bar says nothing: left out rather than N/A.
      const ran = g.rows.has(b.ours) || g.rows.has(b.base)
      if (ran && runsOn(b.ours, sizeIndex, gi === 0) && runsOn(b.base, sizeIndex, gi === 0)) results.push(checkRatio(b, g))
    }
    if (sizeIndex === sizes.length - 1) {
      results.push(checkRss(g, sizes.slice(0, -1)))
      if (sizes.length > 1 && options.scale !== false) results.push(checkScale(sizes[0] as BarGroup, g))
    }
    if (gi === 0) results.push(checkFollow(g))
  }
  // Report order: bar by bar, each over the groups.
  const order = (r: BarResult) => BAR_NAMES.indexOf(r.bar) * 1000 + groups.findIndex((g) => g.label === r.group)
  return results.sort((a, b) => order(a) - order(b))
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)} %`
}
