import type { JournalEntry } from '../../../../journal/entry.js'
import type { ReviewEdit, ReviewState } from './review-state.js'

/**
 * Transactions parked by `@mx@` at once, as ChangeCollector allows: more
 * means `@ex@` markers were lost, and the oldest is dropped.
 */
const MAX_OPEN_TRANSACTIONS = 1024

/**
 * Memory the records held at once may take, as {@link heldCost} counts it
 * (400 bytes a record and two a character of its text: more than the ~480
 * bytes a record with a 100-character path measured). Past it (a
 * transaction of millions of Reviews lines that never ends, or an import
 * without markers read with `unmarked: "never"`), everything held is
 * applied in journal order, as records were before transactions were
 * honoured: memory stays bounded and the state is only as wrong as it used
 * to be.
 */
export const MAX_HELD_BYTES = 64 * 1024 * 1024

/** What a held record costs in memory, roughly: the objects, and two bytes a character of its strings. */
export function heldCost(edit: ReviewEdit): number {
  const c = edit.change
  if (c === null) return 200
  const text = c.table === 'db.user' ? (c.user === null ? 0 : c.user.user.length + c.user.email.length + c.user.fullName.length) : (c.row?.path.length ?? 0)
  return 400 + 2 * (c.id.length + text)
}

/** What one entry did besides holding a record. */
export interface ReviewTransactionStep {
  /** Records applied now: their transaction ended (or the journal has no markers, or the hold overflowed). */
  readonly applied: number
  /** Records dropped: a restart note (`@nx@ 7`) said their transaction never ended, or too many were open. */
  readonly abandoned: number
  /** Whether the hold overflowed ({@link MAX_HELD_BYTES}). */
  readonly overflowed: boolean
}

const NOTHING: ReviewTransactionStep = { applied: 0, abandoned: 0, overflowed: false }

/**
 * Feeds db.user and db.review records to a ReviewState as the server
 * commits them, by the rules ChangeCollector follows for the change tables
 * (docs/journal-format.md, transactions): the records since the last marker
 * belong to the next marker's pid; `@mx@ pid` parks them with that pid,
 * `@ex@ pid` commits the pid's transaction (its records are applied then,
 * in journal order), and a restart note (`@nx@ 7`) drops every transaction
 * still open, and the records no marker followed: the server died before
 * committing them, and a user's Reviews edit cut off so must not mail them
 * (or stop mailing them) anything.
 *
 * In a journal in which no marker was seen (an import tool's), the records
 * wait as the change collector's unmarked records do: `flushUnmarked` applies
 * them when the journal goes quiet, or the first marker takes them.
 */
export class ReviewTransactions {
  readonly #state: ReviewState
  readonly #maxHeldBytes: number
  readonly #maxOpen: number
  #markers = false
  #segment: ReviewEdit[] = []
  /** Parked pieces of open transactions, by pid, in order of their first `@mx@`. */
  readonly #open = new Map<string, ReviewEdit[]>()
  #held = 0
  /** What the held records cost ({@link heldCost}). */
  #heldBytes = 0

  /** `limits` lower {@link MAX_HELD_BYTES} and the open transactions (1024) for tests. */
  constructor(state: ReviewState, limits: { maxHeldBytes?: number; maxOpen?: number } = {}) {
    this.#state = state
    this.#maxHeldBytes = limits.maxHeldBytes ?? MAX_HELD_BYTES
    this.#maxOpen = limits.maxOpen ?? MAX_OPEN_TRANSACTIONS
  }

  /** The journal is known to have markers (an earlier process saw them, or the daemon resumes after one). */
  assumeMarkers(): void {
    this.#markers = true
  }

  /** Records held for a transaction not committed yet. */
  get held(): number {
    return this.#held
  }

  /** What they cost in memory ({@link heldCost}). */
  get heldBytes(): number {
    return this.#heldBytes
  }

  /** Takes the next journal entry (any: markers, review records, others ignored). */
  see(entry: JournalEntry): ReviewTransactionStep {
    switch (entry.op) {
      case 'ex':
        this.#markers = true
        return this.#commit(pidOf(entry))
      case 'mx': {
        this.#markers = true
        const abandoned = this.#park(pidOf(entry))
        return abandoned === 0 ? NOTHING : { applied: 0, abandoned, overflowed: false }
      }
      case 'nx':
        return pidOf(entry) === '7' ? this.#restart() : NOTHING
    }
    const edit = this.#state.edit(entry)
    if (edit === null) return NOTHING
    this.#segment.push(edit)
    this.#held++
    this.#heldBytes += heldCost(edit)
    if (this.#heldBytes > this.#maxHeldBytes) return { ...this.releaseAll(), overflowed: true }
    return NOTHING
  }

  /**
   * Applies the records no marker followed (with `before`, those written
   * before that place only), in a journal
   * in which no marker was seen (an import tool's: ChangeCollector's
   * `flushUnmarked`, called together). Nothing in a journal with markers:
   * there they are a transaction the server is still writing.
   */
  flushUnmarked(before?: { readonly journal: number | null; readonly offset: number }): ReviewTransactionStep {
    if (this.#markers || this.#segment.length === 0) return NOTHING
    // Only the records written before `before` (a change's place): those after it did not count for it.
    let n = this.#segment.length
    if (before !== undefined) {
      n = 0
      for (const edit of this.#segment) {
        if (compareAt(edit, before) >= 0) break
        n++
      }
    }
    if (n === 0) return NOTHING
    const segment = n === this.#segment.length ? this.#segment : this.#segment.slice(0, n)
    this.#segment = n === this.#segment.length ? [] : this.#segment.slice(n)
    this.#unhold(segment)
    return { applied: this.#apply(segment), abandoned: 0, overflowed: false }
  }

  /** Applies every record held, in journal order (the end of a seed; an overflow). */
  releaseAll(): ReviewTransactionStep {
    const all = [...this.#open.values(), this.#segment].flat()
    all.sort(compareAt)
    this.#open.clear()
    this.#segment = []
    this.#held = 0
    this.#heldBytes = 0
    return { applied: this.#apply(all), abandoned: 0, overflowed: false }
  }

  #commit(pid: string): ReviewTransactionStep {
    const segment = this.#segment
    this.#segment = []
    const parked = this.#open.get(pid)
    this.#open.delete(pid)
    const edits = parked ? appended(parked, segment) : segment
    if (edits.length === 0) return NOTHING
    this.#unhold(edits)
    return { applied: this.#apply(edits), abandoned: 0, overflowed: false }
  }

  /** Parks the segment with pid; returns how many records of the oldest open transaction were dropped to make room. */
  #park(pid: string): number {
    const segment = this.#segment
    this.#segment = []
    const parked = this.#open.get(pid)
    if (parked) {
      appended(parked, segment)
      return 0
    }
    if (segment.length === 0) return 0
    let dropped = 0
    if (this.#open.size >= this.#maxOpen) {
      const [oldest, edits] = this.#open.entries().next().value as [string, ReviewEdit[]]
      this.#open.delete(oldest)
      this.#unhold(edits)
      dropped = edits.length
    }
    this.#open.set(pid, segment)
    return dropped
  }

  /**
   * `@nx@ 7`: the transactions still open were never committed; in a journal
   * with markers, neither were the records no marker followed yet (a
   * process that died before its `@mx@` or `@ex@`). Without markers, those
   * are an import's, kept for `flushUnmarked`.
   */
  #restart(): ReviewTransactionStep {
    let abandoned = 0
    for (const edits of this.#open.values()) abandoned += this.#unhold(edits)
    this.#open.clear()
    if (this.#markers) {
      abandoned += this.#unhold(this.#segment)
      this.#segment = []
    }
    return abandoned === 0 ? NOTHING : { applied: 0, abandoned, overflowed: false }
  }

  /** Counts `edits` as no longer held; returns how many. */
  #unhold(edits: readonly ReviewEdit[]): number {
    this.#held -= edits.length
    for (const edit of edits) this.#heldBytes -= heldCost(edit)
    return edits.length
  }

  #apply(edits: readonly ReviewEdit[]): number {
    let applied = 0
    for (const edit of edits) if (this.#state.applyEdit(edit)) applied++
    return applied
  }
}

/** Journal order of two places (a journal of unknown number, null, before any other; entries of one stream share theirs). */
function compareAt(a: { readonly journal: number | null; readonly offset: number }, b: { readonly journal: number | null; readonly offset: number }): number {
  return (a.journal ?? -1) - (b.journal ?? -1) || a.offset - b.offset
}

/** `to` with `more` appended (in place, without spreading: a transaction may hold many). */
function appended(to: ReviewEdit[], more: readonly ReviewEdit[]): ReviewEdit[] {
  for (const edit of more) to.push(edit)
  return to
}

/** The field after a marker's op: the pid of `@ex@` and `@mx@`, the type of `@nx@`. */
function pidOf(entry: JournalEntry): string {
  return entry.fieldBytes[0]?.toString('latin1') ?? ''
}
