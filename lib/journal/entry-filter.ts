import type { JournalEntry } from './entry.js'
import { globMatcher } from './wildcard.js'

/** Which entries to keep: by table name (with `*` wildcards) and by op. */
export interface EntryFilterOptions {
  /** Table patterns such as `db.rev*`; an entry without a table never matches. */
  tables?: readonly string[]
  /** Ops such as `pv`, `ex` (without `@`). */
  ops?: readonly string[]
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
  if (!tables && !ops) return null
  return (entry) => {
    if (ops && !ops.has(entry.op)) return false
    if (tables) {
      const table = entry.table
      if (table === null || !tables.some((match) => match(table))) return false
    }
    return true
  }
}
