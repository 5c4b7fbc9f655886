import type { JournalEntry } from '../journal/entry.js'

const AT = 0x40
const SP = 0x20
const LETTER_E = 0x65
const LETTER_M = 0x6d
const LETTER_N = 0x6e
const LETTER_X = 0x78

/**
 * Tracks open transactions to find consistency points (docs/journal-format.md
 * section 3): `@mx@ pid` says pid still has a transaction open, `@ex@ pid`
 * ends pid's transaction, and an `@ex@` after which no pid is open is a
 * consistency point. A restart note (`@nx@ 7`) clears every open pid: the
 * server died with them and will never end them.
 *
 * Only the record's first four bytes are looked at for the others (data
 * records, whose ops are `pv`, `rv`, `dv`, `vv`, `dl`: never an `x` second),
 * so tracking costs two byte compares per record.
 */
export class ConsistencyTracker {
  readonly #open = new Set<string>()

  /** Pids with an `@mx@` not yet ended by their `@ex@`. */
  get openPids(): readonly string[] {
    return [...this.#open]
  }

  /** Takes the next entry; returns whether it ends a consistency point. */
  update(entry: JournalEntry): boolean {
    return this.updateRecord(entry.raw, 0, entry.length)
  }

  /**
   * Takes the next record, `source[start..end)` (what a framer hands its
   * sink, before an entry is made); returns whether it ends a consistency
   * point. The same answer as `update` on the record's entry: the op is
   * `ex`, `mx` or `nx` exactly when bytes 1 to 3 are that op and `@`.
   */
  updateRecord(source: Buffer, start: number, end: number): boolean {
    if (end - start <= 3 || source[start + 2] !== LETTER_X || source[start + 3] !== AT) return false
    const first = source[start + 1]
    if (first === LETTER_E) {
      this.#open.delete(secondField(source, start, end))
      return this.#open.size === 0
    }
    if (first === LETTER_M) {
      this.#open.add(secondField(source, start, end))
      return false
    }
    if (first === LETTER_N && secondField(source, start, end) === '7') this.#open.clear()
    return false
  }

  /** Forgets every open pid (a new start with unknown history). */
  reset(): void {
    this.#open.clear()
  }
}

/**
 * The field after the op of `@ex@`, `@mx@` and `@nx@` records: a bare
 * number (pid, note type) right after `@xx@ `, so no parsing is needed:
 * the bytes from offset 5 to the next space, or to the record's end
 * without its line end, trimmed of whitespace.
 */
function secondField(source: Buffer, start: number, end: number): string {
  const from = start + 5
  let to = source.indexOf(SP, from)
  if (to < 0 || to >= end) to = end - 1
  if (to <= from) return ''
  return source.toString('latin1', from, to).trim()
}
