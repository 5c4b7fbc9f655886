import { comparePositions, formatPosition, parsePosition, type JournalPosition } from '../../../position.js'
import type { SubmittedChange } from './change-collector.js'

/** Per mail (by Message-ID), the recipients done with it: they took it, or refused it for good. */
export type MailProgress = Map<string, Set<string>>

/** A change as the delivery state knows it: its number and where it completed (and who submitted it, when: see DeliveryState.seen). */
export type DeliveredChange = Pick<SubmittedChange, 'change' | 'position'> & Partial<Pick<SubmittedChange, 'user' | 'date'>>

/** The last change delivered, as `seen` recognises it in a replay. */
interface ChangeIdentity {
  readonly change: number
  readonly user: string
  readonly date: number
}

/**
 * A replay that does not hold the change last delivered where it completed:
 * the journals are not the ones the state was saved from (a server reset or
 * restored, its journals numbered again). `found` says what came instead.
 */
export class DeliveryMismatch extends Error {
  constructor(
    readonly last: ChangeIdentity & { readonly at: JournalPosition },
    readonly found: DeliveredChange,
    why: string,
  ) {
    super(why)
  }
}

/**
 * The delivery fields as saved, in the review state file (version 2) and in
 * the delivery state file alike.
 */
export interface DeliveryJson {
  /**
   * Changes completed before this position have been delivered (`N/offset`), or null; those completed at
   * it too, up to the change number `mailedChange` when it is set (one transaction can submit many changes,
   * delivered in change order, at one position): one number, so a save costs the same after any number of them.
   */
  readonly mailedThrough: string | null
  readonly mailedChange?: number | null
  /** Whether the journal has transaction markers (`@ex@`, `@mx@`): records waiting for one are a transaction p4d is still writing. */
  readonly markers?: boolean
  /** The change delivered last (the one `mailedThrough` and `mailedChange` name): who submitted it and when. */
  readonly mailedIdentity?: { readonly user: string; readonly date: number } | null
  /**
   * The change being delivered when the state was saved, the recipients each of its mails is done with
   * (took it or refused it for good), and whether the webhook took it (absent: it did not).
   */
  readonly delivering?: {
    readonly change: number
    readonly at: string
    readonly done: Readonly<Record<string, readonly string[]>>
    readonly webhook?: boolean
  } | null
}

/**
 * What a notify listener has delivered, kept so that a restart (which
 * replays from the daemon's last commit, or from the journal's start when
 * it has no consistency point) sends nothing twice: the changes delivered
 * (in journal order: a position and the highest change delivered at it),
 * who is done with each mail of the change being delivered, whether its
 * webhook took it, and whether the journal has transaction markers.
 *
 * Used by the review state (inside its file) and, without `reviews`, on its
 * own (the delivery state file).
 */
export class DeliveryState {
  #mailed: JournalPosition | null = null
  /** The highest change delivered of those completed exactly at `#mailed` (delivered in change order), or null: all of them. */
  #mailedLast: number | null = null
  #markers = false
  #delivering: { change: number; at: JournalPosition; done: MailProgress; webhook: boolean } | null = null
  /** Who submitted the change `#mailedLast` at `#mailed`, and when; null when not known (an older file, a position only). */
  #identity: { user: string; date: number } | null = null
  /** A replay skipped a change delivered before, and has not come to the last one delivered yet (see seen). */
  #replaying = false
  #dirty = false

  /** Whether something changed since the last `markSaved()`. */
  get dirty(): boolean {
    return this.#dirty
  }

  markSaved(): void {
    this.#dirty = false
  }

  /** A save that failed: the state is to be saved again. */
  markDirty(): void {
    this.#dirty = true
  }

  get mailedThrough(): JournalPosition | null {
    return this.#mailed
  }

  /** Whether the change was delivered before (a replay after a restart, or a re-read). */
  hasMailed(change: DeliveredChange): boolean {
    const end = changeEnd(change)
    return end !== null && this.#covers(change.change, end)
  }

  #covers(change: number, end: JournalPosition): boolean {
    if (this.#mailed === null) return false
    const order = comparePositions(end, this.#mailed)
    return order < 0 || (order === 0 && (this.#mailedLast === null || change <= this.#mailedLast))
  }

  /**
   * Whether a change completed in the journal was delivered before (a
   * replay), checking the replay against the state: once it has skipped a
   * change delivered before, it must come to the change delivered last, at
   * the position it completed at, submitted by the same user at the same
   * time (compared on a journal with markers only), before any change not
   * delivered yet. Throws a DeliveryMismatch
   * when it does not: the journals are not the ones the state was saved
   * from (a server reset or restored), and every change they hold before
   * that position would be taken for delivered and never sent (a probe).
   * Not checked for a state without the last change's identity (written by
   * an older version, or moved by position only).
   */
  seen(change: DeliveredChange): boolean {
    const mailed = this.hasMailed(change)
    const id = this.#identity
    const at = this.#mailed
    if (id === null || at === null || this.#mailedLast === null) return mailed
    const last = { change: this.#mailedLast, user: id.user, date: id.date, at }
    if (mailed) {
      const end = changeEnd(change)
      if (end === null || comparePositions(end, at) !== 0 || change.change !== last.change) {
        this.#replaying = true
        return true
      }
      // Compared where a replay groups the records as the live run did (a journal with markers: by transaction).
      // Without markers a replay may read a submit and a later edit of the change (p4 change -f: its user or date)
      // as one segment and take the edited row's: not another change (a probe).
      const other = (change.user !== undefined && change.user !== id.user) || (change.date !== undefined && change.date !== id.date)
      if (other && this.#markers) {
        throw new DeliveryMismatch(last, change, 'the change delivered last is another change in these journals')
      }
      this.#replaying = false
      return true
    }
    if (this.#replaying) throw new DeliveryMismatch(last, change, 'the journals go past where the change delivered last completed without it')
    return false
  }

  /** Drops the progress of a change the state has moved past. */
  #dropDelivered(): void {
    const d = this.#delivering
    if (d !== null && this.#covers(d.change, d.at)) this.#delivering = null
  }

  /** Records that every change completed up to `position` has been delivered. */
  mailedUpTo(position: JournalPosition): void {
    if (this.#mailed === null || comparePositions(position, this.#mailed) > 0) {
      this.#mailed = position
      this.#mailedLast = null
      this.#identity = null
      this.#dirty = true
    }
    this.#dropDelivered()
  }

  /**
   * Records that a change has been delivered (changes are delivered in
   * journal order); its progress is no longer needed.
   */
  mailedChange(change: DeliveredChange): void {
    const end = changeEnd(change)
    if (this.#delivering?.change === change.change) this.#delivering = null
    this.#dirty = true
    if (end === null) return
    const identity = change.user !== undefined && change.date !== undefined ? { user: change.user, date: change.date } : null
    if (this.#mailed === null || comparePositions(end, this.#mailed) > 0) {
      this.#mailed = end
      this.#mailedLast = change.change
      this.#identity = identity
    } else if (comparePositions(end, this.#mailed) === 0 && this.#mailedLast !== null && change.change > this.#mailedLast) {
      this.#mailedLast = change.change
      this.#identity = identity
    }
    this.#dropDelivered()
  }

  /** Whether the journal is known to have transaction markers, from this process or an earlier one. */
  get markers(): boolean {
    return this.#markers
  }

  /** Records that the journal has transaction markers. */
  sawMarkers(): void {
    if (this.#markers) return
    this.#markers = true
    this.#dirty = true
  }

  /** The mail progress saved for a change (the same change at the same position), or an empty one. */
  progressOf(change: DeliveredChange): MailProgress {
    const d = this.#progress(change)
    return d === null ? new Map() : new Map([...d.done].map(([id, done]) => [id, new Set(done)]))
  }

  /** Whether the webhook took the change (saved while its mails were still under way). */
  webhookDone(change: DeliveredChange): boolean {
    return this.#progress(change)?.webhook ?? false
  }

  #progress(change: DeliveredChange): { done: MailProgress; webhook: boolean } | null {
    const d = this.#delivering
    const end = changeEnd(change)
    if (d === null || end === null || d.change !== change.change || comparePositions(d.at, end) !== 0) return null
    return d
  }

  /** Records how far a change's delivery went: a retry or a restart sends only to the rest. */
  recordProgress(change: DeliveredChange, done: MailProgress, webhook = false): void {
    const at = changeEnd(change)
    if (at === null) return
    const copy: MailProgress = new Map([...done].filter(([, d]) => d.size > 0).map(([id, d]) => [id, new Set(d)]))
    const before = this.#delivering
    const same =
      before !== null &&
      before.change === change.change &&
      comparePositions(before.at, at) === 0 &&
      before.webhook === webhook &&
      before.done.size === copy.size &&
      [...copy].every(([id, d]) => before.done.get(id)?.size === d.size)
    if (same) return
    this.#delivering = { change: change.change, at, done: copy, webhook }
    this.#dirty = true
  }

  toJSON(): Required<DeliveryJson> {
    const d = this.#delivering
    return {
      mailedThrough: this.#mailed === null ? null : formatPosition(this.#mailed),
      mailedChange: this.#mailedLast,
      mailedIdentity: this.#identity,
      markers: this.#markers,
      delivering:
        d === null
          ? null
          : {
              change: d.change,
              at: formatPosition(d.at),
              done: Object.fromEntries([...d.done].map(([id, done]) => [id, [...done]])),
              ...(d.webhook ? { webhook: true } : {}),
            },
    }
  }

  /**
   * Reads the delivery fields. `mailedChanges` is the review state's
   * version 1 form (`legacy`): the changes delivered at `mailedThrough`,
   * and without it every change completed there.
   */
  static fromJSON(j: DeliveryJson & { readonly mailedChanges?: readonly number[] }, legacy = false): DeliveryState {
    const state = new DeliveryState()
    state.#mailed = j.mailedThrough ? parsePosition(j.mailedThrough) : null
    if (!legacy) {
      state.#mailedLast = j.mailedChange === undefined || j.mailedChange === null ? null : int(j.mailedChange, 'mailedChange')
    } else if (j.mailedChanges !== undefined) {
      // Version 1: the changes at mailedThrough were delivered in change order too, so the highest says the same.
      if (!Array.isArray(j.mailedChanges)) throw new TypeError('mailedChanges is not an array')
      state.#mailedLast = Math.max(0, ...j.mailedChanges.map((n) => int(n, 'a mailed change')))
    }
    state.#markers = j.markers === true
    const id = j.mailedIdentity
    if (id !== undefined && id !== null) {
      if (typeof id !== 'object') throw new TypeError('mailedIdentity is not an object')
      state.#identity = { user: str(id.user, "the last change's user"), date: int(id.date, "the last change's date") }
    }
    const d = j.delivering
    if (d !== undefined && d !== null) {
      if (typeof d !== 'object' || typeof d.done !== 'object' || d.done === null) throw new TypeError('delivering is not a mail progress')
      const done: MailProgress = new Map()
      for (const [id, list] of Object.entries(d.done)) {
        if (!Array.isArray(list)) throw new TypeError('a mail progress is not an array')
        done.set(id, new Set(list.map((a) => str(a, 'a recipient'))))
      }
      state.#delivering = {
        change: int(d.change, 'the change being delivered'),
        at: parsePosition(str(d.at, 'its position')),
        done,
        webhook: d.webhook === true,
      }
    }
    return state
  }
}

function changeEnd(change: Pick<SubmittedChange, 'position'>): JournalPosition | null {
  const p = change.position
  return p.journal === null ? null : { journal: p.journal, offset: p.end }
}

function str(v: unknown, what: string): string {
  if (typeof v !== 'string') throw new TypeError(`${what} is not a string`)
  return v
}

function int(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new TypeError(`${what} is not an integer`)
  return v
}
