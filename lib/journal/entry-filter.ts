import type { JournalEntry } from './entry.js'
import { globMatcher } from './wildcard.js'
import { columnIndex, columnValue } from '../schema/row.js'

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
  const where = options.where?.length ? [...options.where] : null
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
      if (table === null || version === null) return false
      // The columns asked for, not every field: a record may hold millions. The first fields and the
      // count in one pass, then those past them in one more.
      const { fields, count } = entry.fieldsUpTo(FIELDS_FIRST_READ)
      const indexes = where.map(({ column }) => columnIndex(table, version, count, column))
      if (indexes.some((i) => i < 0)) return false
      const far = indexes.filter((i) => i >= fields.length)
      const farValues = far.length > 0 ? entry.fieldsAt(far) : []
      for (let k = 0; k < where.length; k++) {
        const index = indexes[k] as number
        const text = index < fields.length ? fields[index] : farValues[far.indexOf(index)]
        if (text === undefined || String(columnValue(table, version, count, index, text)) !== (where[k] as WhereClause).value) return false
      }
    }
    return true
  }
}

/** Fields `--where` reads at first: every column of every documented table (the widest, db.sendq 5, has 24). */
const FIELDS_FIRST_READ = 64
