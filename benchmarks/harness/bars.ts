/**
 * The project's benchmark bars, checked against one run's rows. A bar whose rows
 * are missing (not run, skipped here) is N/A, never PASS.
 */
import type { Row } from './summary.js'

export type BarStatus = 'PASS' | 'MISS' | 'N/A'

export interface BarResult {
  readonly bar: string
  readonly status: BarStatus
  /** What was measured, in words and numbers. */
  readonly measured: string
}

/** Peak RSS bar, in MB (10^6 bytes). */
export const RSS_LIMIT_MB = 120
/** Rate and RSS must stay within this fraction between the scale-check size and the main size. */
export const SCALE_TOLERANCE = 0.15
/** Follow latency p99 bar, ms. */
export const FOLLOW_P99_LIMIT_MS = 50
const GiB = 2 ** 30

export interface BarInput {
  /** Rows of the main size, by scenario name. */
  readonly rows: ReadonlyMap<string, Row>
  /** Rows of the scale-check size, by scenario name (empty when it did not run). */
  readonly scaleRows: ReadonlyMap<string, Row>
  /** Scenarios whose counts were wrong: their speed means nothing, every bar on them is missed. */
  readonly invalid?: ReadonlySet<string>
}

function throughput(row: Row | undefined): number | null {
  return row && !row.skipped && row.mbPerSec > 0 ? row.mbPerSec : null
}

function ratioBar(bar: string, { rows, invalid }: BarInput, ours: string, base: string, min: number): BarResult {
  const wrong = [ours, base].filter((name) => invalid?.has(name))
  if (wrong.length) return { bar, status: 'MISS', measured: `${wrong.join(' and ')} produced wrong output (see ERROR)` }
  const a = throughput(rows.get(ours))
  const b = throughput(rows.get(base))
  if (a === null || b === null) return { bar, status: 'N/A', measured: `${a === null ? ours : base} did not run` }
  const ratio = a / b
  return {
    bar,
    status: ratio >= min ? 'PASS' : 'MISS',
    measured: `${ratio.toFixed(2)}× (${ours} ${a.toFixed(1)} MB/s, ${base} ${b.toFixed(1)} MB/s)`,
  }
}

export function mb(bytes: number): string {
  return bytes >= GiB && bytes % GiB === 0 ? `${bytes / GiB} GiB` : `${Math.round(bytes / 1e6)} MB`
}

export function checkBars(input: BarInput): BarResult[] {
  const { rows, scaleRows } = input
  const bars: BarResult[] = [
    ratioBar('framing ≥ 2× split2 line splitting', input, 'framing', 'split2-lines', 2),
    ratioBar('logdaemon-cat --format json ≥ 0.5× split2 line splitting', input, 'cat-json', 'split2-lines', 0.5),
    ratioBar('logdaemon-cat --format row ≥ 0.8× --format json', input, 'cat-row', 'cat-json', 0.8),
    ratioBar('gz via zlib-sync ≥ 1.5× node:zlib + split2', input, 'gunzip-zlib-sync', 'gunzip-node-split2', 1.5),
  ]

  const ours = [...rows.values()].filter((r) => r.spec.kind === 'ours' && !r.skipped && r.spec.rssBar !== false)
  const worst = ours.reduce<Row | null>((w, r) => (w === null || r.peakRssMB > w.peakRssMB ? r : w), null)
  if (worst === null) {
    bars.push({ bar: `peak RSS ≤ ${RSS_LIMIT_MB} MB on 1 GiB`, status: 'N/A', measured: 'no scenario of ours ran' })
  } else {
    const size = worst.inputBytes
    const note = size >= GiB ? '' : ` (measured on ${mb(size)}; the bar is stated for 1 GiB)`
    bars.push({
      bar: `peak RSS ≤ ${RSS_LIMIT_MB} MB on 1 GiB`,
      status: worst.peakRssMB <= RSS_LIMIT_MB ? 'PASS' : 'MISS',
      measured: `highest ${worst.peakRssMB.toFixed(1)} MB (${worst.label})${note}`,
    })
  }

  bars.push(scaleBar(rows, scaleRows))
  bars.push(ratioBar('daemon with a no-op async listener ≥ 0.5× framing', input, 'daemon-noop-listener', 'framing', 0.5))
  bars.push(ratioBar('sql load into SQLite ≥ 0.5× inserting parsed rows', input, 'sql-load-sqlite', 'sqlite-insert-rows', 0.5))
  bars.push(ratioBar('sql load into PostgreSQL ≥ 0.5× COPY of TSV', input, 'sql-load-postgres', 'postgres-copy-tsv', 0.5))

  const follow = rows.get('follow-latency')
  const p99 = follow && !follow.skipped ? follow.extra.p99Ms : undefined
  bars.push(
    p99 === undefined || !Number.isFinite(p99)
      ? { bar: `follow latency p99 ≤ ${FOLLOW_P99_LIMIT_MS} ms`, status: 'N/A', measured: 'follow-latency did not run' }
      : {
          bar: `follow latency p99 ≤ ${FOLLOW_P99_LIMIT_MS} ms`,
          status: p99 <= FOLLOW_P99_LIMIT_MS ? 'PASS' : 'MISS',
          measured: `p99 ${p99.toFixed(1)} ms, p50 ${(follow?.extra.p50Ms ?? Number.NaN).toFixed(1)} ms`,
        },
  )
  return bars
}

/** Same rate (±15 %) and RSS at the scale-check size and the main size, for every scenario run at both. */
function scaleBar(rows: ReadonlyMap<string, Row>, scaleRows: ReadonlyMap<string, Row>): BarResult {
  const bar = `same rate (±${SCALE_TOLERANCE * 100} %) and RSS at 100 MB and 1 GiB`
  const pairs = [...scaleRows.values()]
    .map((small) => ({ small, big: rows.get(small.spec.name) }))
    .filter((p): p is { small: Row; big: Row } => p.big !== undefined && !p.big.skipped && !p.small.skipped)
  if (pairs.length === 0) return { bar, status: 'N/A', measured: 'no scale check ran (it runs with sizes above 100 MB; --scale-size)' }
  let ok = true
  const parts = pairs.map(({ small, big }) => {
    const rate = big.mbPerSec / small.mbPerSec - 1
    const rss = big.peakRssMB / small.peakRssMB - 1
    if (Math.abs(rate) > SCALE_TOLERANCE || Math.abs(rss) > SCALE_TOLERANCE) ok = false
    return `${small.spec.name}: rate ${pct(rate)}, RSS ${pct(rss)} (${mb(small.inputBytes)} → ${mb(big.inputBytes)})`
  })
  return { bar, status: ok ? 'PASS' : 'MISS', measured: parts.join('; ') }
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`
}
