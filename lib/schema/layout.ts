import { LAYOUT_ROWS, RELEASES, TYPE_KINDS } from './p4-schema-data.js'

/**
 * How a column's values read: `integer` (Int, Change, Date, Rev, …), `text`,
 * or `flag` / `bitmask` (integers, or rarely words, whose values have
 * documented names; see flagName and flagNames).
 */
export type ColumnKind = 'integer' | 'text' | 'flag' | 'bitmask'

/** One column of a documented layout. */
export interface Column {
  /** The column name as documented (`depotFile`, `change`). */
  readonly name: string
  /** The documented datatype name (`File`, `Change`, `Action`), spelled as the layout spells it. */
  readonly type: string
  readonly kind: ColumnKind
  /** 0-based position among the row fields. */
  readonly index: number
}

/** A table version's row layout as one release range of the schema documents describes it. */
export interface Layout {
  readonly table: string
  readonly version: number
  readonly columns: readonly Column[]
  /** The key columns' names, in key order. */
  readonly key: readonly string[]
  /** The first and last release whose documents describe this layout. */
  readonly releases: { readonly first: string; readonly last: string }
}

let byTable: Map<string, Map<number, readonly Layout[]>> | undefined

/** The layouts, indexed on first use (a program that never asks pays nothing). */
function tables(): Map<string, Map<number, readonly Layout[]>> {
  if (byTable !== undefined) return byTable
  const map = new Map<string, Map<number, Layout[]>>()
  for (const [table, version, first, last, key, columns] of LAYOUT_ROWS) {
    const layout: Layout = Object.freeze({
      table,
      version,
      columns: Object.freeze(columns.map(([name, type], index) => Object.freeze({ name, type, kind: TYPE_KINDS[type] ?? 'text', index }))),
      key: Object.freeze([...key]),
      releases: Object.freeze({ first: RELEASES[first] as string, last: RELEASES[last] as string }),
    })
    let versions = map.get(table)
    if (versions === undefined) map.set(table, (versions = new Map()))
    let list = versions.get(version)
    if (list === undefined) versions.set(version, (list = []))
    list.push(layout)
  }
  byTable = map
  return map
}

/** Every table the schema documents, sorted. */
export function schemaTables(): string[] {
  return [...tables().keys()]
}

/** The documented versions of a table, ascending (empty for an unknown table). */
export function tableVersions(table: string): number[] {
  const versions = tables().get(table)
  return versions === undefined ? [] : [...versions.keys()].sort((a, b) => a - b)
}

/** Every documented layout of a table version, oldest documents first (empty when undocumented). */
export function layoutsOf(table: string, version: number): readonly Layout[] {
  return tables().get(table)?.get(version) ?? []
}

/** Which of two layouts the later documents describe. */
function later(a: Layout, b: Layout): Layout {
  return RELEASES.indexOf(b.releases.last) > RELEASES.indexOf(a.releases.last) ? b : a
}

/**
 * The layout that names a record of `table` at `version` with `fieldCount`
 * row fields, or null when the documents do not describe that table
 * version. Among a version's layouts, one with exactly `fieldCount`
 * columns wins (the latest documented when several do); when none fits
 * exactly, the one naming the most fields (the longest not longer than the
 * record, else the shortest), so callers name what they can and keep the
 * rest positional: compare `columns.length` with the field count to know.
 */
export function layoutOf(table: string, version: number, fieldCount: number): Layout | null {
  const memoKey = `${table} ${version} ${fieldCount}`
  const memo = chosen.get(memoKey)
  if (memo !== undefined) return memo
  const layout = chooseLayout(table, version, fieldCount)
  // Bounded: hostile input could bring endless field counts.
  if (chosen.size >= MAX_CHOSEN) chosen.clear()
  chosen.set(memoKey, layout)
  return layout
}

/**
 * How many (table, version, field count) choices layoutOf remembers: real
 * journals bring a few hundred at most (118 tables, a few versions each).
 */
const MAX_CHOSEN = 4096
const chosen = new Map<string, Layout | null>()

function chooseLayout(table: string, version: number, fieldCount: number): Layout | null {
  const layouts = layoutsOf(table, version)
  let exact: Layout | null = null
  let shorter: Layout | null = null
  let longer: Layout | null = null
  for (const layout of layouts) {
    const n = layout.columns.length
    if (n === fieldCount) {
      exact = exact === null ? layout : later(exact, layout)
    } else if (n < fieldCount) {
      if (shorter === null || n > shorter.columns.length) shorter = layout
      else if (n === shorter.columns.length) shorter = later(shorter, layout)
    } else if (longer === null || n < longer.columns.length) {
      longer = layout
    } else if (n === longer.columns.length) {
      longer = later(longer, layout)
    }
  }
  return exact ?? shorter ?? longer
}
