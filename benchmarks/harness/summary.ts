/**
 * Turns the runs of one scenario into one row: the median run's time,
 * MB/s and records/s from it, the highest peak RSS of all runs, and how far
 * the runs spread. MB is 10^6 bytes throughout.
 */
import type { ScenarioSpec } from './catalog.js'
import type { ScenarioResult } from './scenario.js'

export interface Row {
  readonly spec: ScenarioSpec
  /** The scenario's name, with `@SIZE` for rows of the scale check. */
  readonly label: string
  /** Uncompressed input size the row was measured on. */
  readonly inputBytes: number
  readonly runs: readonly ScenarioResult[]
  /** Why the scenario did not run here, or null. */
  readonly skipped: string | null
  readonly bytes: number
  /** Records or lines per run (every run must agree), or null. */
  readonly records: number | null
  readonly unit: ScenarioResult['unit']
  /** Median wall time, ms. */
  readonly ms: number
  readonly mbPerSec: number
  readonly recordsPerSec: number | null
  /** Highest peak RSS over the runs, in MB. */
  readonly peakRssMB: number
  /** MB per second of CPU time (user + system) of the median run: less hurt by a busy machine than MB/s, not a substitute for it. */
  readonly mbPerCpuSec: number
  /** CPU time over wall time of the median run, in %: above 100 means more than one core busy. */
  readonly cpuPercent: number
  /** (slowest − fastest) / median, in %. */
  readonly spreadPercent: number
  /** Median of each scenario-specific number. */
  readonly extra: Readonly<Record<string, number>>
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  if (sorted.length === 0) return Number.NaN
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/**
 * One row from the runs. `inputRecords` stands in for the record count of
 * scenarios that cannot count (logdaemon-cat writing to /dev/null).
 */
export function summarize(spec: ScenarioSpec, label: string, inputBytes: number, runs: readonly ScenarioResult[], inputRecords: number): Row {
  const first = runs[0]
  if (!first) throw new Error(`${label}: no runs`)
  const skipped = first.skipped
  for (const r of runs) {
    if (r.bytes !== first.bytes || r.records !== first.records) {
      throw new Error(`${label}: runs disagree: ${r.bytes} bytes / ${r.records} ${r.unit} vs ${first.bytes} / ${first.records}`)
    }
  }
  const records = first.unit === 'bytes' ? null : (first.records ?? inputRecords)
  const byTime = [...runs].sort((a, b) => a.ms - b.ms)
  const mid = byTime[(byTime.length - 1) >> 1] as ScenarioResult
  const ms = median(runs.map((r) => r.ms))
  const seconds = ms / 1000
  const extraKeys = new Set(runs.flatMap((r) => Object.keys(r.extra)))
  const extra: Record<string, number> = {}
  for (const k of extraKeys) extra[k] = median(runs.map((r) => r.extra[k] ?? Number.NaN))
  return {
    spec,
    label,
    inputBytes,
    runs,
    skipped,
    bytes: first.bytes,
    records,
    unit: first.unit,
    ms,
    mbPerSec: skipped || spec.measures !== 'throughput' ? 0 : first.bytes / 1e6 / seconds,
    recordsPerSec: skipped || records === null || spec.measures !== 'throughput' ? null : records / seconds,
    peakRssMB: Math.max(...runs.map((r) => (r.maxRssKiB * 1024) / 1e6)),
    mbPerCpuSec: skipped || spec.measures !== 'throughput' || mid.cpuMs <= 0 ? 0 : first.bytes / 1e6 / (mid.cpuMs / 1000),
    cpuPercent: mid.ms > 0 ? (100 * mid.cpuMs) / mid.ms : 0,
    spreadPercent: ms > 0 ? (100 * ((byTime.at(-1) as ScenarioResult).ms - (byTime[0] as ScenarioResult).ms)) / ms : 0,
    extra,
  }
}
