import type { JournalEntry } from '../journal/entry.js'

/**
 * Tracks open transactions to find consistency points (JOURNAL-FORMAT.md
 * section 3): `@mx@ pid` says pid still has a transaction open, `@ex@ pid`
 * ends pid's transaction, and an `@ex@` after which no pid is open is a
 * consistency point. A restart note (`@nx@ 7`) clears every open pid: the
 * server died with them and will never end them.
 *
 * Only the op is looked at for data records (an interned string, no
 * parsing), so tracking costs a compare or two per entry.
 */
export class ConsistencyTracker {
  readonly #open = new Set<string>()

  /** Pids with an `@mx@` not yet ended by their `@ex@`. */
  get openPids(): readonly string[] {
    return [...this.#open]
  }

  /** Takes the next entry; returns whether it ends a consistency point. */
  update(entry: JournalEntry): boolean {
    const op = entry.op
    if (op === 'ex') {
      const pid = entry.values[1]
      if (pid !== undefined) this.#open.delete(pid)
      return this.#open.size === 0
    }
    if (op === 'mx') {
      const pid = entry.values[1]
      if (pid !== undefined) this.#open.add(pid)
      return false
    }
    if (op === 'nx' && entry.values[1] === '7') this.#open.clear()
    return false
  }

  /** Forgets every open pid (a new start with unknown history). */
  reset(): void {
    this.#open.clear()
  }
}
