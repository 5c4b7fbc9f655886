import type { JournalEntry } from '../journal/entry.js'

/**
 * Tracks open transactions to find consistency points (docs/journal-format.md
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
      this.#open.delete(secondField(entry))
      return this.#open.size === 0
    }
    if (op === 'mx') {
      this.#open.add(secondField(entry))
      return false
    }
    if (op === 'nx' && secondField(entry) === '7') this.#open.clear()
    return false
  }

  /** Forgets every open pid (a new start with unknown history). */
  reset(): void {
    this.#open.clear()
  }
}

/**
 * The field after the op of `@ex@`, `@mx@` and `@nx@` records: a bare
 * number (pid, note type) right after `@xx@ `, so no parsing is needed.
 */
function secondField(entry: JournalEntry): string {
  const text = entry.text('latin1')
  const end = text.indexOf(' ', 5)
  return text.slice(5, end < 0 ? text.length - 1 : end).trim()
}
