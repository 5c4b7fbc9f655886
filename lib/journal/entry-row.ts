import type { JournalEntry } from './entry.js'
import { entryToJson, type EntryJson } from './entry-json.js'
import { layoutOf, type Layout } from '../schema/layout.js'
import { keyOf, type Row } from '../schema/row.js'
import { positionalName, typedValue } from '../schema/typed-value.js'

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

/**
 * Positional fields past this many are written as text rather than set on
 * the row object first: V8 adds millions of properties slowly (a record of
 * 2,000,000 fields took 5.4 s to name and 6.3 s to stringify, 4,000,000
 * took 32 s and 990 MB; its --format json line 0.4 s). No documented
 * layout has a tenth of this many columns.
 */
const MAX_OBJECT_POSITIONAL = 4096

/** One NDJSON line of entryToRowJson. */
export function entryToRowLine(entry: JournalEntry, file: string | null): string {
  const table = entry.table
  const version = entry.version
  if (table !== null && version !== null) {
    const fields = entry.fields
    const layout = layoutOf(table, version, fields.length)
    if (fields.length - (layout?.columns.length ?? 0) > MAX_OBJECT_POSITIONAL) return wideRowLine(entry, file, table, version, fields, layout)
  }
  return JSON.stringify(entryToRowJson(entry, file)) + '\n'
}

/** entryToRowLine's text for a record of many positional fields, written field by field. */
function wideRowLine(entry: JournalEntry, file: string | null, table: string, version: number, fields: readonly string[], layout: Layout | null): string {
  // The documented columns as nameRow names them (the layout has fewer columns than the record has fields).
  const columns = layout?.columns ?? []
  const named = columns.length
  const row: Row = {}
  for (const c of columns) row[c.name] = typedValue(c, fields[c.index] as string)
  const key = layout === null ? null : keyOf(layout, row)
  const { journal, offset, end, line } = entry.position
  const head = JSON.stringify({ file, journal, offset, end, line, op: entry.op, table, version })
  const parts: string[] = [head.slice(0, -1), ',"row":', JSON.stringify(row).slice(0, -1)]
  for (let i = named; i < fields.length; i++) parts.push(`${i > 0 ? ',' : ''}"${positionalName(i)}":${JSON.stringify(fields[i])}`)
  parts.push('},"key":', JSON.stringify(key))
  if (entry.didRotate) parts.push(',"didRotate":true')
  if (entry.incomplete) parts.push(',"incomplete":true')
  parts.push('}\n')
  return parts.join('')
}
