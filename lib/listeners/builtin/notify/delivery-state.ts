import { comparePositions, formatPosition, parsePosition, type JournalPosition } from '../../../position.js'
import type { SubmittedChange } from './change-collector.js'

/** Per mail (by Message-ID), the recipients done with it: they took it, or refused it for good. */
export type MailProgress = Map<string, Set<string>>

/** A change as the delivery state knows it: its number and where it completed. */
export type DeliveredChange = Pick<SubmittedChange, 'change' | 'position'>

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
    if (this.#mailed === null || comparePositions(end, this.#mailed) > 0) {
      this.#mailed = end
      this.#mailedLast = change.change
    } else if (comparePositions(end, this.#mailed) === 0 && this.#mailedLast !== null && change.change > this.#mailedLast) {
      this.#mailedLast = change.change
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
