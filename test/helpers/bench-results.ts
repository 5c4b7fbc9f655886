/** What the benchmark runner's tests share: where the built runner is, and the shape of its JSON results. */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export const RUN = fileURLToPath(new URL('../../dist/benchmarks/run.js', import.meta.url))
export const builtSkip = existsSync(RUN) ? false : `runner not built at ${RUN}: run npm run build`

export interface ResultRow {
  name: string
  kind: string
  skipped: string | null
  bytes: number
  records: number | null
  unit: string
  medianMs: number
  mbPerSec: number
  recordsPerSec: number | null
  peakRssMB: number
  extra: Record<string, number>
}

export interface Group {
  label: string
  profile: string
  size: number
  runs: number
  data: { bytes: number; records: number; gzBytes: number }
  scenarios: ResultRow[]
}

export interface Results {
  settings: { sizes: number[]; runs: number[]; profiles: string[] }
  groups: Group[]
  bars: { bar: string; group: string; status: string; measured: string }[]
  problems: string[]
}
