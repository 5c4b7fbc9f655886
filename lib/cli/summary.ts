import type { Readable } from 'node:stream'
import { journalNumberOf } from '../files/journal-name.js'
import { JournalEntry, type FieldEncoding } from '../journal/entry.js'
import { createEntryFilter, type EntryFilterOptions } from '../journal/entry-filter.js'
import { JournalFramer } from '../journal/framer.js'
import { layoutOf, tableVersions } from '../schema/layout.js'
import { releaseRange, type ReleaseRange, type TableVersion } from '../schema/releases.js'
import { isExactInteger } from '../schema/typed-value.js'

/**
 * Distinct table names (and ops) counted one by one; beyond this, hostile or
 * damaged input is counted under OTHER instead of growing the maps. Perforce
 * has about 120 tables.
 */
const MAX_NAMES = 4096
/** Where names beyond MAX_NAMES are counted. */
export const OTHER = '(other)'

/** One table's part of a summary. */
export interface TableSummary {
  records: number
  bytes: number
  /** The table versions seen in its records, ascending. */
  versions: number[]
  /** Records with fields no documented layout names (an undocumented version, or more fields than columns). */
  positional: number
  /** Records with fewer fields than any documented layout of their version has columns: its last columns are missing. */
  short: number
}

/** What `logdaemon-cat --summary --format json` prints. */
export interface SummaryJson {
  tables: Record<string, TableSummary>
  ops: Record<string, number>
  /** `@ex@` records: ends of transactions. */
  transactions: number
  /** The server releases the table versions are consistent with, or null when unknown. */
  releases: ReleaseRange | null
}

/**
 * Counts what a checkpoint or journal holds, entry by entry: per table the
 * records, bytes, versions and records left positional; the ops; the
 * transactions; and the table versions the writing server declared in its
 * table summary notes (`@nx@ 4`, in checkpoints and dumps).
 */
export class JournalSummary {
  readonly #tables = new Map<string, TableSummary & { seen: Set<number> }>()
  readonly #ops = new Map<string, number>()
  /** table → version, from `@nx@ 4` notes. */
  readonly #declared = new Map<string, number>()
  #transactions = 0

  add(entry: JournalEntry): void {
    const op = this.#ops.has(entry.op) || this.#ops.size < MAX_NAMES ? entry.op : OTHER
    this.#ops.set(op, (this.#ops.get(op) ?? 0) + 1)
    if (op === 'ex') this.#transactions++
    const named = entry.table
    const version = entry.version
    if (named === null || version === null) {
      if (op === 'nx') this.#note(entry.fields)
      return
    }
    const table = this.#tables.has(named) || this.#tables.size < MAX_NAMES ? named : OTHER
    let t = this.#tables.get(table)
    if (t === undefined) this.#tables.set(table, (t = { records: 0, bytes: 0, versions: [], positional: 0, short: 0, seen: new Set() }))
    t.records++
    t.bytes += entry.length
    // Bounded like the names: real tables have a version or two.
    if (t.seen.size < 256) t.seen.add(version)
    const fields = entry.fieldCount
    const layout = layoutOf(named, version, fields)
    if (layout === null || layout.columns.length < fields) t.positional++
    else if (layout.columns.length > fields) t.short++
  }

  /** `@nx@ 4 date @ver@ tableVersion i2 checksum i4 i5 @table@ …`: a table summary note. */
  #note(fields: readonly string[]): void {
    if (fields[0] !== '4') return
    const text = fields[3] ?? ''
    const table = fields[8]
    // Digits as p4d writes them: Number() also took '' (0), 0x10 and 1e1.
    if (!table || !isExactInteger(text) || text.startsWith('-')) return
    const version = Number(text)
    const had = this.#declared.get(table)
    if (had !== undefined) this.#declared.set(table, Math.max(had, version))
    else if (this.#declared.size < MAX_NAMES) this.#declared.set(table, version)
  }

  /**
   * The table versions that say which server wrote the files: for each
   * table, the highest version a table summary note declares (checkpoints
   * and dumps declare every table, empty ones too) or a record carries (a
   * journal that spans an upgrade holds old rows too). The highest over
   * every file, whatever their order: a later file's note does not hide an
   * earlier file's newer version.
   */
  writerVersions(): TableVersion[] {
    const versions = new Map(this.#declared)
    for (const [table, t] of this.#tables) {
      if (table === OTHER) continue
      const seen = Math.max(...t.seen)
      versions.set(table, Math.max(versions.get(table) ?? seen, seen))
    }
    return [...versions].map(([table, version]) => ({ table, version })).sort((a, b) => (a.table < b.table ? -1 : a.table > b.table ? 1 : 0))
  }

  /** The release range, null when nothing says (no table versions) or they agree on no documented release. */
  releases(): ReleaseRange | null {
    const versions = this.writerVersions()
    return versions.length === 0 ? null : releaseRange(versions)
  }

  toJSON(): SummaryJson {
    const tables: Record<string, TableSummary> = {}
    for (const table of [...this.#tables.keys()].sort()) {
      const t = this.#tables.get(table) as TableSummary & { seen: Set<number> }
      setOwn(tables, table, { records: t.records, bytes: t.bytes, versions: [...t.seen].sort((a, b) => a - b), positional: t.positional, short: t.short })
    }
    const ops: Record<string, number> = {}
    for (const [op, n] of [...this.#ops].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) setOwn(ops, op, n)
    return { tables, ops, transactions: this.#transactions, releases: this.releases() }
  }

  /** The summary as a table for people. */
  format(): string {
    const json = this.toJSON()
    const rows: string[][] = [['table', 'records', 'bytes', 'versions', 'positional', 'short']]
    let records = 0
    let bytes = 0
    let positional = 0
    let short = 0
    const count = (n: number) => (n ? String(n) : '')
    for (const [table, t] of Object.entries(json.tables)) {
      rows.push([printable(table), String(t.records), String(t.bytes), t.versions.join(' '), count(t.positional), count(t.short)])
      records += t.records
      bytes += t.bytes
      positional += t.positional
      short += t.short
    }
    rows.push(['total', String(records), String(bytes), '', count(positional), count(short)])
    const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)))
    const lines = rows.map((r) =>
      r
        .map((cell, c) => (c === 0 || c === 3 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
        .join('  ')
        .trimEnd(),
    )
    const ops = Object.entries(json.ops).map(([op, n]) => `${printable(op)} ${n}`)
    lines.push('', `ops: ${ops.length ? ops.join(', ') : 'none'}`, `transactions: ${json.transactions}`)
    if (positional) lines.push(`positional: ${positional} record(s) have fields no documented layout names (see logdaemon schema)`)
    if (short) lines.push(`short: ${short} record(s) have fewer fields than their documented layout has columns (see logdaemon schema)`)
    lines.push(`written by a server release ${this.#releasesText(json.releases)}`)
    return lines.join('\n') + '\n'
  }

  #releasesText(range: ReleaseRange | null): string {
    if (range !== null) return range.from === range.to ? range.from : `between ${range.from} and ${range.to}`
    const versions = this.writerVersions()
    if (!versions.some(({ table }) => tableVersions(table).length > 0)) return 'unknown (no records of documented tables)'
    const undocumented = versions.filter(({ table, version }) => tableVersions(table).length > 0 && !tableVersions(table).includes(version))
    if (undocumented.length > 0) {
      const list = undocumented.map(({ table, version }) => `${table} ${version}`).join(', ')
      return `unknown (${list}: table version(s) no schema document of 2006.2–2024.1 describes)`
    }
    return 'unknown (the table versions agree on no documented release)'
  }
}

/**
 * Sets `object[key]` as an own property, whatever the key: a table or op
 * named `__proto__` (records say any name) set the object's prototype
 * instead, and its records vanished from the summary and its totals.
 */
function setOwn<T>(object: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true })
}

/**
 * A name from the records as the table for people shows it: JSON-quoted
 * when it holds a control character, which printed raw broke the table's
 * rows (a line end) or reached the terminal (ESC [2J cleared the screen).
 */
function printable(name: string): string {
  return /[\u0000-\u001f\u007f-\u009f]/.test(name) ? JSON.stringify(name) : name
}

export interface SummaryInputOptions extends EntryFilterOptions {
  encoding: FieldEncoding
  skipMalformed: boolean
  allowIncomplete: boolean
  maxEntryBytes?: number
}

/**
 * Adds the records of one input (`-` for standard input) to `summary`;
 * returns the skipped counts. Throws the framing error after counting
 * every good record before it.
 */
export async function summarizeInput(
  input: Readable,
  file: string,
  summary: JournalSummary,
  options: SummaryInputOptions,
): Promise<{ malformedSkipped: number; oversizeSkipped: number }> {
  const journal = file === '-' ? null : journalNumberOf(file)
  const framer = new JournalFramer({
    journal,
    file,
    skipMalformed: options.skipMalformed,
    ...(options.maxEntryBytes !== undefined ? { maxEntryBytes: options.maxEntryBytes } : {}),
  })
  const filter = createEntryFilter(options)
  const { encoding } = options
  const add = (entry: JournalEntry): void => {
    if (!filter || filter(entry)) summary.add(entry)
  }
  const sink = (source: Buffer, start: number, end: number, offset: number, line: number): void =>
    add(new JournalEntry(source, { journal, offset, end: offset + end - start, line }, { encoding, start, end }))
  for await (const chunk of input) framer.push(chunk as Buffer, sink)
  const rest = options.allowIncomplete ? framer.takePending() : null
  if (rest)
    add(new JournalEntry(rest.raw, { journal, offset: rest.offset, end: rest.offset + rest.raw.length, line: rest.line }, { encoding, incomplete: true }))
  const incomplete = framer.incompleteError()
  if (incomplete) throw incomplete
  return { malformedSkipped: framer.malformedSkipped, oversizeSkipped: framer.oversizeSkipped }
}
