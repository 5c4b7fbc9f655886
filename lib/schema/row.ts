import { layoutOf, type Layout } from './layout.js'
import { positionalName, typedValue, type RowValue } from './typed-value.js'

/** A record's row: column name → value, in column order, positional `fieldN` names after the named ones. */
export type Row = Record<string, RowValue>

/** A row as a record of `table` at `version` names it, and its key. */
export interface NamedRow {
  /** The documented layout used, or null when the table version is undocumented. */
  readonly layout: Layout | null
  readonly row: Row
  /** The key columns and their values; null without a layout, a documented key, or a key field. */
  readonly key: Row | null
  /** How many fields carry positional names (none when the layout fits the record exactly). */
  readonly positional: number
}

/**
 * Names and types the row fields of a data record. With a layout, the first
 * fields get its column names and types in column order; fields beyond the
 * layout (or all of them, without one) keep their text under positional
 * names. Fields are never dropped.
 */
export function nameRow(table: string, version: number, fields: readonly string[]): NamedRow {
  const layout = layoutOf(table, version, fields.length)
  const row: Row = {}
  const columns = layout?.columns ?? []
  const named = Math.min(columns.length, fields.length)
  for (let i = 0; i < named; i++) {
    const column = columns[i] as (typeof columns)[number]
    row[column.name] = typedValue(column, fields[i] as string)
  }
  for (let i = named; i < fields.length; i++) row[positionalName(i)] = fields[i] as string
  return { layout, row, key: layout === null ? null : keyOf(layout, row), positional: fields.length - named }
}

/**
 * The key columns of `row` under `layout`, in key order; null when the row
 * lacks one, or when the documents give the layout no key (rdb.lbr 0).
 */
export function keyOf(layout: Layout, row: Row): Row | null {
  if (layout.key.length === 0) return null
  const key: Row = {}
  for (const name of layout.key) {
    const value = row[name]
    if (value === undefined) return null
    key[name] = value
  }
  return key
}

/**
 * The index in the row's fields of `column`, as `nameRow` names a record of
 * `fieldCount` fields of `table` at `version`, or -1 when that row has no
 * such column: what reading one column of a record takes, whatever its
 * number of fields.
 */
export function columnIndex(table: string, version: number, fieldCount: number, column: string): number {
  const columns = layoutOf(table, version, fieldCount)?.columns ?? []
  const named = Math.min(columns.length, fieldCount)
  for (let i = 0; i < named; i++) if ((columns[i] as (typeof columns)[number]).name === column) return i
  const positional = /^field(0|[1-9][0-9]*)$/.exec(column)
  if (positional === null) return -1
  const index = Number(positional[1])
  return index >= named && index < fieldCount ? index : -1
}

/** How to read some columns of the records of one table version and field count (see {@link columnPicks}). */
export interface ColumnPicks {
  /** Each column's index in the row's fields, as `nameRow` names them. */
  readonly indexes: readonly number[]
  /** Each column's value from its field's text, typed as in `nameRow(...).row`. */
  readonly value: (k: number, text: string) => RowValue
}

/**
 * Where `columns` are in a record of `fieldCount` fields of `table` at
 * `version`, and how their values are typed, as `nameRow` names and types
 * them; null when such a row lacks one of them. What reading a column or
 * two of a record takes, without making the row (a record of millions of
 * fields made an object of millions of properties: 2,000,000 fields, 12 s,
 * 380 MB), worked out once per table version and field count.
 */
export function columnPicks(table: string, version: number, fieldCount: number, columns: readonly string[]): ColumnPicks | null {
  const layout = layoutOf(table, version, fieldCount)?.columns ?? []
  const indexes = columns.map((column) => columnIndex(table, version, fieldCount, column))
  if (indexes.some((i) => i < 0)) return null
  const kinds = indexes.map((i) => layout[i])
  return {
    indexes,
    value: (k, text) => {
      const c = kinds[k]
      return c === undefined ? text : typedValue(c, text)
    },
  }
}
