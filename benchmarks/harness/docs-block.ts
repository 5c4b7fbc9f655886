/**
 * Writes a run's results into the marked block of docs/benchmarks.md, so the
 * numbers in the documentation always come from the command that measured
 * them. Only the text between the two markers is replaced; the page's prose
 * around it is kept as written.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'

export const BLOCK_START = '<!-- bench:results:start -->'
export const BLOCK_END = '<!-- bench:results:end -->'

/** The parts of one run's report, as the runner prints them. */
export interface ReportParts {
  /** What was measured, on which machine (plain lines). */
  header: readonly string[]
  /** The results as a Markdown table. */
  table: string
  /** Markdown list items under the table (latency, skipped scenarios); may be empty. */
  notes: string
  /** The bars, one per line. */
  bars: string
  /** ERROR lines (count mismatches); empty when none. */
  problems: readonly string[]
}

/** The block's Markdown: the command, the date, then the report with its plain-text parts fenced. */
export function renderBlock(parts: ReportParts, command: string, date: Date): string {
  const out = [
    `Written by \`${command}\` on ${date.toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
    '',
    '```text',
    ...parts.header,
    '```',
    '',
    parts.table.trimEnd(),
    '',
  ]
  if (parts.notes.trim()) out.push(parts.notes.trimEnd(), '')
  out.push('```text', 'bars:', parts.bars.trimEnd(), ...parts.problems.map((p) => `ERROR: ${p}`), '```')
  return out.join('\n')
}

/**
 * Replaces the text between the markers of `file` with `block`. The file
 * must have both markers, once each and in order: a page that lost them is
 * reported, never rewritten from scratch. Written to a temporary file and
 * renamed, so an interrupted run leaves the old page.
 */
export async function writeDocsBlock(file: string, block: string): Promise<void> {
  const text = await readFile(file, 'utf8')
  const start = text.indexOf(BLOCK_START)
  const end = text.indexOf(BLOCK_END)
  if (start < 0 || end < start || text.indexOf(BLOCK_START, start + 1) >= 0 || text.indexOf(BLOCK_END, end + 1) >= 0) {
    throw new Error(`${file} needs the markers ${BLOCK_START} and ${BLOCK_END}, once each and in this order, around the results`)
  }
  const next = `${text.slice(0, start + BLOCK_START.length)}\n${block}\n${text.slice(end)}`
  const temp = `${file}.${process.pid}.tmp`
  await writeFile(temp, next)
  await rename(temp, file)
}
