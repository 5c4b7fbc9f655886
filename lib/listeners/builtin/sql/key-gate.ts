import { keySetOf, type SqlLayout, sqlLayoutsOf } from './sql-layout.js'

/** The layout a table's key comes from, or what the database says of it when no documented layout keys that way. */
interface KeyOwner {
  readonly keySet: string
  readonly rank: number
  readonly key: readonly string[]
}

/**
 * Which records may change rows by their key. A replica table has one key:
 * the key of the newest table layout seen (a p4d upgrade that changes a
 * table's key, `db.sendq` 4 with 18 fields → 21, re-keys the table, see
 * Replica). A record of an older layout whose key differs from it cannot
 * be applied: its key no longer identifies a row. p4d writes no such
 * record after an upgrade; a hand-made or mixed journal could. It is kept
 * in logdaemon_unmapped instead, never applied by a key that would double
 * or merge rows.
 *
 * The gate moves forward as records are mapped (before their rows reach
 * the database), so that the order of the journal decides, not the order
 * of transactions.
 */
export class KeyGate {
  readonly #owners = new Map<string, KeyOwner>()

  /** Starts from the keys the database has: SQL table → key columns. */
  seed(keys: ReadonlyMap<string, readonly string[]>, journalTableOf: ReadonlyMap<string, string>): void {
    this.#owners.clear()
    for (const [table, key] of keys) {
      const journalTable = journalTableOf.get(table)
      if (journalTable !== undefined) this.#owners.set(table, ownerOf(journalTable, key))
    }
  }

  /** Null when a record of `layout` may be applied by its key (the gate then follows it), else why not. */
  admit(layout: SqlLayout): string | null {
    const owner = this.#owners.get(layout.table)
    if (owner === layout) return null
    if (owner === undefined || layout.rank > owner.rank) {
      this.#owners.set(layout.table, layout)
      return null
    }
    if (owner.keySet === layout.keySet) return null
    // Only what the replica holds, never the version of the layout: after a restart the gate knows the key, not the
    // layout that brought it (it took the newest documented one: version 5 for a journal at 4), and the reason kept in
    // logdaemon_unmapped would differ from the one kept by a run without the restart.
    return (
      `table version ${layout.version} with ${layout.columns.length} fields is older than the layout the replica's key (${owner.key.join(', ')}) ` +
      `comes from: its key (${layout.key.join(', ')}) no longer identifies a row`
    )
  }
}

/** The newest documented layout of a journal table keyed by `key`; a key no layout has ranks below every layout. */
function ownerOf(journalTable: string, key: readonly string[]): KeyOwner {
  const keySet = keySetOf(key)
  const layouts = sqlLayoutsOf(journalTable).filter((l) => l.keySet === keySet)
  return layouts.at(-1) ?? { keySet, rank: -1, key }
}
