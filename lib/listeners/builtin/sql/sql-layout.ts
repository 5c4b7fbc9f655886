import { layoutOf, layoutsOf, tableVersions } from '../../../schema/layout.js'
import { RELEASES } from '../../../schema/p4-schema-data.js'
import { RAW_COLUMN, distinctColumnNames, sqlColumnName, sqlTableName } from './sql-names.js'

/** A column of the replica: its SQL name and whether it holds 64-bit integers (else text). */
export interface SqlColumn {
  readonly name: string
  readonly integer: boolean
}

/** How the records of one table version with one field count map to SQL. */
export interface SqlLayout {
  /** The journal table, `db.rev`. */
  readonly journalTable: string
  readonly version: number
  /** The SQL table, `rev`. */
  readonly table: string
  /** One per record field, in schema order. */
  readonly columns: readonly SqlColumn[]
  /** The key columns' SQL names. */
  readonly key: readonly string[]
  /** Index in `columns` of each key column. */
  readonly keyIndex: readonly number[]
  /** `columns`' names and then the raw column: what an insert names. */
  readonly insertColumns: readonly string[]
  /** The key's columns sorted and joined by `,`: two layouts key rows alike when these are equal (order does not matter to uniqueness). */
  readonly keySet: string
  /**
   * Which of two layouts of a table p4d writes later: the version, then the
   * first release documenting the layout (`db.sendq` 4 has 18 fields up to
   * 2019.1 and 21 from 2019.2). A table's key follows the newest layout seen.
   */
  readonly rank: number
}

/** Schema base types stored as 64-bit integers: the journal writes them as decimal integers. */
const INTEGER_KINDS: ReadonlySet<string> = new Set(['integer', 'flag', 'bitmask'])

/** Layouts by journal table, then by version and field count as one number: no key string is built per record. */
const cache = new Map<string, Map<number, SqlLayout | null>>()
/**
 * "No layout" answers cached at most. Layouts are few (the schema's), but
 * the table, version and field count of a record without one come from
 * the journal, and a damaged or hostile one could hold any number of them.
 */
const NULLS_MAX = 4096
let nulls = 0

/**
 * The SQL layout of records of `journalTable` version `version` with
 * `fieldCount` row fields, or null when the schema documents none (such
 * records go to logdaemon_unmapped). Cached: the same layout object for
 * the same table, version and field count.
 */
export function sqlLayoutOf(journalTable: string, version: number, fieldCount: number): SqlLayout | null {
  // Version and field count in one safe integer; others (no documented layout has them) are looked up each time.
  const keyed =
    Number.isSafeInteger(version) && version >= 0 && version < 2 ** 32 && Number.isSafeInteger(fieldCount) && fieldCount >= 0 && fieldCount < 2 ** 16
  const shape = keyed ? version * 2 ** 16 + fieldCount : -1
  let byShape = cache.get(journalTable)
  const found = keyed ? byShape?.get(shape) : undefined
  if (found !== undefined) return found
  const layout = build(journalTable, version, fieldCount)
  if (keyed && (layout !== null || nulls < NULLS_MAX)) {
    if (!byShape) cache.set(journalTable, (byShape = new Map()))
    byShape.set(shape, layout)
    if (layout === null) nulls++
  }
  return layout
}

function build(journalTable: string, version: number, fieldCount: number): SqlLayout | null {
  const schema = layoutOf(journalTable, version, fieldCount)
  if (!schema || schema.columns.length !== fieldCount || schema.key.length === 0) return null
  const names = distinctColumnNames(schema.columns.map((c) => c.name))
  const columns = schema.columns.map((c, i) => ({ name: names[i] as string, integer: INTEGER_KINDS.has(c.kind) }))
  const keyIndex: number[] = []
  for (const k of schema.key) {
    const i = schema.columns.findIndex((c) => c.name === k)
    if (i < 0) return null // a key the layout does not hold: cannot apply by key
    keyIndex.push(i)
  }
  const key = keyIndex.map((i) => (columns[i] as SqlColumn).name)
  return {
    journalTable,
    version,
    table: sqlTableName(journalTable),
    columns,
    key,
    keyIndex,
    insertColumns: [...columns.map((c) => c.name), RAW_COLUMN],
    keySet: keySetOf(key),
    rank: version * RELEASES.length + RELEASES.indexOf(schema.releases.first),
  }
}

/** Key columns as {@link SqlLayout.keySet} spells them. */
export function keySetOf(key: readonly string[]): string {
  return [...key].sort().join(',')
}

/** Every layout the schema documents for a journal table that the replica can apply (one per version and field count), oldest first. */
export function sqlLayoutsOf(journalTable: string): SqlLayout[] {
  const out = new Set<SqlLayout>()
  for (const version of tableVersions(journalTable)) {
    for (const l of layoutsOf(journalTable, version)) {
      const s = sqlLayoutOf(journalTable, version, l.columns.length)
      if (s) out.add(s)
    }
  }
  return [...out].sort((a, b) => a.rank - b.rank)
}

export { sqlColumnName }

/** Per journal table: each SQL column name that the schema documents under another name too, to the name its group goes by. */
const aliasCache = new Map<string, Map<string, string>>()

/**
 * Which SQL column names of a journal table name one column: spelled alike
 * but for case and underscores (`task_id`, `taskid`), or documented under
 * both names for one table version and field count (Perforce renamed
 * columns in its 2019.1 documents: `db.graphindex` 1's `fileName` became
 * `name`, `db.working` 10's `clntType` `clientType`). Two names at one
 * place of two such layouts are a rename only when neither layout has the
 * other name (`db.integedss` 1 lists two columns in either order: a swap,
 * not a rename). The same string for names of one column, others differ.
 */
export function columnIdentity(journalTable: string, column: string): string {
  let aliases = aliasCache.get(journalTable)
  if (aliases === undefined) {
    aliases = documentedRenames(journalTable)
    aliasCache.set(journalTable, aliases)
  }
  return aliases.get(column) ?? spelling(column)
}

function spelling(name: string): string {
  return name.replaceAll('_', '').toLowerCase()
}

function documentedRenames(journalTable: string): Map<string, string> {
  // Union-find over spellings: every name of one group maps to one representative.
  const parent = new Map<string, string>()
  const find = (x: string): string => {
    let r = x
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r) as string
    return r
  }
  const names = new Set<string>()
  for (const version of tableVersions(journalTable)) {
    const layouts = layoutsOf(journalTable, version)
    for (let i = 0; i < layouts.length; i++) {
      for (let j = i + 1; j < layouts.length; j++) {
        const a = (layouts[i] as (typeof layouts)[number]).columns.map((c) => sqlColumnName(c.name))
        const b = (layouts[j] as (typeof layouts)[number]).columns.map((c) => sqlColumnName(c.name))
        if (a.length !== b.length) continue
        for (let k = 0; k < a.length; k++) {
          const x = a[k] as string
          const y = b[k] as string
          if (spelling(x) === spelling(y) || b.includes(x) || a.includes(y)) continue
          names.add(x)
          names.add(y)
          const rx = find(spelling(x))
          const ry = find(spelling(y))
          if (rx === ry) continue
          // The smaller spelling stands for the group (the same whatever order the layouts come in).
          const [lo, hi] = rx < ry ? [rx, ry] : [ry, rx]
          parent.set(hi, lo)
        }
      }
    }
  }
  const out = new Map<string, string>()
  for (const n of names) out.set(n, find(spelling(n)))
  return out
}
