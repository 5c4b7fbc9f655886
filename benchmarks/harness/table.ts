/**
 * The printed report: one table (a Markdown pipe table, so it pastes into
 * docs/benchmarks.md as is), notes for rows that are not throughput, and the bars.
 */
import type { BarResult } from './bars.js'
import type { Row } from './summary.js'

const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })

function cell(value: number | null | undefined, digits: number, suffix = ''): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—'
  return (digits === 0 ? int.format(value) : value.toFixed(digits)) + suffix
}

/** Rows as a Markdown table; `baseline` is the split2 row the ratio column divides by. */
export function formatTable(rows: readonly Row[], baseline: Row | undefined): string {
  const base = baseline && !baseline.skipped && baseline.mbPerSec > 0 ? baseline.mbPerSec : null
  const header = ['scenario', 'kind', 'MB/s', 'per s', 'counts', 'peak RSS MB', '× split2', 'CPU %', 'MB/CPU-s', 'spread %']
  const right = [false, false, true, true, false, true, true, true, true, true]
  const body = rows.map((r) => {
    if (r.skipped) return [r.label, r.spec.kind, '—', '—', 'skipped', '—', '—', '—', '—', '—']
    const through = r.spec.measures === 'throughput'
    return [
      r.label,
      r.spec.kind,
      through ? cell(r.mbPerSec, 1) : '—',
      through ? cell(r.recordsPerSec, 0) : '—',
      through ? (r.records === null ? 'bytes' : r.unit) : 'latency',
      cell(r.peakRssMB, 1),
      through && base ? cell(r.mbPerSec / base, 2, '×') : '—',
      cell(r.cpuPercent, 0),
      through ? cell(r.mbPerCpuSec, 1) : '—',
      cell(r.spreadPercent, 0),
    ]
  })
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)))
  const line = (cells: readonly string[]) =>
    '| ' + cells.map((c, i) => (right[i] ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number))).join(' | ') + ' |'
  const rule = '|' + widths.map((w, i) => (right[i] ? '-'.repeat(w + 1) + ':' : '-'.repeat(w + 2))).join('|') + '|'
  return [line(header), rule, ...body.map(line)].join('\n') + '\n'
}

/** Lines under the table: latency results and skipped scenarios. */
export function formatNotes(rows: readonly Row[]): string {
  const notes: string[] = []
  for (const r of rows) {
    if (r.skipped) notes.push(`- ${r.label}: skipped: ${r.skipped}`)
    else if (r.spec.measures === 'latency') {
      const e = r.extra
      const parts = [`append-to-listener p50 ${cell(e.p50Ms, 2)} ms, p99 ${cell(e.p99Ms, 2)} ms, max ${cell(e.maxMs, 2)} ms over ${cell(e.samples, 0)} appends`]
      if (e.idleCpuPercent !== undefined) parts.push(`CPU while idle ${cell(e.idleCpuPercent, 2)} % over ${cell((e.idleMs ?? 0) / 1000, 1)} s`)
      notes.push(`- ${r.label}: ${parts.join('; ')}`)
    }
  }
  return notes.length ? notes.join('\n') + '\n' : ''
}

/** The bars as plain lines: status, bar, group, what was measured. */
export function formatBars(bars: readonly BarResult[]): string {
  if (bars.length === 0) return '(no bar applies to the scenarios run)\n'
  const width = Math.max(...bars.map((b) => b.bar.length))
  const groupWidth = Math.max(...bars.map((b) => b.group.length))
  return bars.map((b) => `${b.status.padEnd(4)}  ${b.bar.padEnd(width)}  ${b.group.padEnd(groupWidth)}  ${b.measured}`).join('\n') + '\n'
}

/**
 * The bars as a Markdown table, one row per bar and one column per group:
 * `PASS 2.10×`, `MISS 0.45×`, `N/A`, or `·` where the bar is not checked
 * in that group (an expensive scenario run at the smallest size only).
 */
export function formatBarMatrix(bars: readonly BarResult[], groups: readonly string[]): string {
  const names = [...new Set(bars.map((b) => b.bar))]
  const cellOf = (name: string, group: string) => {
    const b = bars.find((x) => x.bar === name && x.group === group)
    if (!b) return '·'
    return b.status === 'N/A' ? 'N/A' : `${b.status} ${b.value}`
  }
  const header = `| bar | ${groups.join(' | ')} |`
  const rule = `|---|${groups.map(() => '---').join('|')}|`
  return [header, rule, ...names.map((n) => `| ${n} | ${groups.map((g) => cellOf(n, g)).join(' | ')} |`)].join('\n') + '\n'
}
