import type { JournalEntry } from './entry.js'
import { entryToJson, type EntryJson } from './entry-json.js'
import type { Row } from '../schema/row.js'

/** The row form of a data entry: its position, then the row named, typed and ordered by the schema, and its key. */
export interface EntryRowJson {
  file: string | null
  journal: number | null
  offset: number
  end: number
  line: number
  op: string
  table: string
  version: number
  /** Column name → value in column order; positional `fieldN` names after the documented ones. */
  row: Row
  /** The key columns and their values; null for a table version the documents do not describe. */
  key: Row | null
  didRotate?: true
  incomplete?: true
}

/**
 * The object `logdaemon-cat --format row` prints for an entry: the row form
 * for data records, the `--format json` form (entryToJson) for the others
 * (`ex`, `mx`, `nx`, unknown ops).
 */
export function entryToRowJson(entry: JournalEntry, file: string | null): EntryRowJson | EntryJson {
  const table = entry.table
  const version = entry.version
  const row = entry.row
  if (table === null || version === null || row === null) return entryToJson(entry, file)
  const { journal, offset, end, line } = entry.position
  const json: EntryRowJson = { file, journal, offset, end, line, op: entry.op, table, version, row, key: entry.key }
  if (entry.didRotate) json.didRotate = true
  if (entry.incomplete) json.incomplete = true
  return json
}

/** One NDJSON line of entryToRowJson. */
export function entryToRowLine(entry: JournalEntry, file: string | null): string {
  return JSON.stringify(entryToRowJson(entry, file)) + '\n'
}
