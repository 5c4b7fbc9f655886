import type { JournalEntry } from './entry.js'
import { globMatcher } from './wildcard.js'
import { type ColumnPicks, columnPicks } from '../schema/row.js'

/** Which entries to keep: by table name (with `*` wildcards) and by op. */
export interface EntryFilterOptions {
  /** Table patterns such as `db.rev*`; an entry without a table never matches. */
  tables?: readonly string[]
  /** Ops such as `pv`, `ex` (without `@`). */
  ops?: readonly string[]
  /**
   * Row conditions, all of which must hold: the data record's row (as
   * `entry.row` names it) has the column and its value reads as `value`
   * (numbers compared as their text). Records without a row never match.
   */
  where?: readonly WhereClause[]
}

/** `COLUMN=VALUE` of `--where`. */
export interface WhereClause {
  readonly column: string
  readonly value: string
}

/**
 * Builds a predicate for the filters, or null when there is nothing to
 * filter (so callers can skip the per-entry call). Table names are compared
 * as latin1 text, which is exact for the ASCII names p4d uses. Patterns
 * match in O(name × pattern) time (wildcard.ts): no pattern can stall the reader.
 */
export function createEntryFilter(options: EntryFilterOptions): ((entry: JournalEntry) => boolean) | null {
  const tables = options.tables?.length ? options.tables.map(globMatcher) : null
  const ops = options.ops?.length ? new Set(options.ops.map((o) => o.replace(/^@|@$/g, ''))) : null
  const where = options.where?.length ? whereTest([...options.where]) : null
  if (!tables && !ops && !where) return null
  return (entry) => {
    if (ops && !ops.has(entry.op)) return false
    if (tables) {
      const table = entry.table
      if (table === null || !tables.some((match) => match(table))) return false
    }
    if (where) {
      const table = entry.table
      const version = entry.version
      if (table === null || version === null || !where(entry, table, version)) return false
    }
    return true
  }
}

/** `--where` for one table version, worked out for the field count last seen there. */
interface Resolved {
  readonly count: number
  /** Null when records of this count lack a column a clause names. */
  readonly picks: ColumnPicks | null
  /** The fields to make: the clauses' indexes, ascending, once each. */
  readonly fetch: readonly number[]
  /** For each clause, where its field is in `fetch`. */
  readonly slots: readonly number[]
}

/** Resolutions remembered, one per table, version and field count (as layoutOf's choices: hostile input could bring endless ones). */
const MAX_RESOLVED = 4096

/**
 * The `--where` test: the columns it names are found by the record's layout,
 * which its field count chooses, and only those fields are made, in the pass
 * that counts them (a record may hold millions of fields). The columns are
 * worked out once per table, version and field count; a record costs one
 * pass when its count is the last one seen for its table version (the usual
 * case), and a second one otherwise.
 */
function whereTest(clauses: readonly WhereClause[]): (entry: JournalEntry, table: string, version: number) => boolean {
  const columns = clauses.map((c) => c.column)
  /** Table → version → the resolution for the count last seen there, and for each count seen (nested: no key string made per record). */
  const resolved = new Map<string, Map<number, { last: Resolved; byCount: Map<number, Resolved> }>>()
  let size = 0
  const resolve = (table: string, version: number, count: number): Resolved => {
    const picks = columnPicks(table, version, count, columns)
    const fetch = picks === null ? [] : [...new Set(picks.indexes)].sort((a, b) => a - b)
    return { count, picks, fetch, slots: picks === null ? [] : picks.indexes.map((i) => fetch.indexOf(i)) }
  }
  return (entry, table, version) => {
    let versions = resolved.get(table)
    let known = versions?.get(version)
    let r = known?.last
    let got = entry.pickFields(r?.fetch ?? [])
    if (r === undefined || got.count !== r.count) {
      const before = r
      r = known?.byCount.get(got.count)
      if (r === undefined) {
        r = resolve(table, version, got.count)
        // Bounded: hostile input could bring endless tables, versions and counts.
        if (++size > MAX_RESOLVED) {
          resolved.clear()
          size = 1
          versions = undefined
          known = undefined
        }
        if (versions === undefined) resolved.set(table, (versions = new Map()))
        if (known === undefined) versions.set(version, (known = { last: r, byCount: new Map() }))
        known.byCount.set(got.count, r)
      }
      known = known as { last: Resolved; byCount: Map<number, Resolved> }
      known.last = r
      if (r.picks !== null && !sameNumbers(r.fetch, before?.fetch ?? [])) got = entry.pickFields(r.fetch)
    }
    const picks = r.picks
    if (picks === null) return false
    for (let k = 0; k < clauses.length; k++) {
      const text = got.values[r.slots[k] as number]
      if (text === undefined || String(picks.value(k, text)) !== (clauses[k] as WhereClause).value) return false
    }
    return true
  }
}

function sameNumbers(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}
