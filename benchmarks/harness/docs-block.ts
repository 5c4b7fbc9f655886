/**
 * Writes a run's results into marked blocks: the full tables into
 * docs/benchmarks.md, the bars in short into README.md, so the numbers in
 * the documentation always come from the command that measured them. Only
 * the text between a page's two markers is replaced; the prose around it is
 * kept as written.
 */
import { readFile, rename, writeFile } from 'node:fs/promises'

export const BLOCK_START = '<!-- bench:results:start -->'
export const BLOCK_END = '<!-- bench:results:end -->'
export const README_START = '<!-- bench:readme:start -->'
export const README_END = '<!-- bench:readme:end -->'

/** The tables of one data set (profile × size). */
export interface ReportSection {
  /** `default profile, 200 MB: 3 runs`. */
  title: string
  /** The results as a Markdown table. */
  table: string
  /** Markdown list items under the table (latency, skipped scenarios); may be empty. */
  notes: string
}

/** The parts of one run's report, as the runner prints them. */
export interface ReportParts {
  /** What was measured, on which machine (plain lines). */
  header: readonly string[]
  sections: readonly ReportSection[]
  /** The bars, one per line. */
  bars: string
  /** The bars as a Markdown table, one column per data set. */
  matrix: string
  /** ERROR lines (count mismatches); empty when none. */
  problems: readonly string[]
  /** For the README: the machine in one line, and the data sets in one line. */
  machine: string
  data: string
}

function stamp(command: string, date: Date): string {
  return `Written by \`${command}\` on ${date.toISOString().slice(0, 16).replace('T', ' ')} UTC.`
}

/** The docs block: the command, the date, then the report with its plain-text parts fenced. */
export function renderBlock(parts: ReportParts, command: string, date: Date): string {
  const out = [stamp(command, date), '', '```text', ...parts.header, '```', '']
  for (const s of parts.sections) {
    out.push(`### ${s.title}`, '', s.table.trimEnd(), '')
    if (s.notes.trim()) out.push(s.notes.trimEnd(), '')
  }
  out.push('### Bars', '', parts.matrix.trimEnd(), '', '```text', parts.bars.trimEnd(), ...parts.problems.map((p) => `ERROR: ${p}`), '```')
  return out.join('\n')
}

/** The README block: short, the bars over the data sets and a link to the full tables. */
export function renderReadmeBlock(parts: ReportParts, command: string, date: Date): string {
  const out = [
    `${stamp(command, date)} ${parts.machine}; ${parts.data}. A ratio is the median over the rounds of each round's two rates divided; the full tables and what each scenario does: [docs/benchmarks.md](docs/benchmarks.md).`,
    '',
    parts.matrix.trimEnd(),
  ]
  if (parts.problems.length) out.push('', `${parts.problems.length} scenario(s) produced wrong output: see docs/benchmarks.md.`)
  return out.join('\n')
}

/**
 * Replaces the text between the markers `start` and `end` of `file` with
 * `block`. The file must have both markers, once each and in order: a page
 * that lost them is reported, never rewritten from scratch. Written to a
 * temporary file and renamed, so an interrupted run leaves the old page.
 */
export async function writeMarkedBlock(file: string, block: string, start = BLOCK_START, end = BLOCK_END): Promise<void> {
  const text = await readFile(file, 'utf8')
  const from = text.indexOf(start)
  const to = text.indexOf(end)
  if (from < 0 || to < from || text.indexOf(start, from + 1) >= 0 || text.indexOf(end, to + 1) >= 0) {
    throw new Error(`${file} needs the markers ${start} and ${end}, once each and in this order, around the results`)
  }
  const next = `${text.slice(0, from + start.length)}\n${block}\n${text.slice(to)}`
  const temp = `${file}.${process.pid}.tmp`
  await writeFile(temp, next)
  await rename(temp, file)
}

/** The docs page's block (the markers of BLOCK_START and BLOCK_END). */
export function writeDocsBlock(file: string, block: string): Promise<void> {
  return writeMarkedBlock(file, block)
}
