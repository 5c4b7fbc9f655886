import { ErrorCodes, isLogdaemonError, LogdaemonError, toError } from '../errors.js'
import { tailFingerprint, writeState, type SavedState, type StateFileIdentity } from '../files/state-file.js'
import { comparePositions, type JournalPosition } from '../position.js'

/** A position the state may be saved at, with what is needed to recognise it later. */
export interface SavePoint extends JournalPosition {
  /** Line number of the byte at `offset`. */
  readonly line: number
  /** The bytes just before `offset` in its journal (a copy, at most STATE_TAIL_BYTES). */
  readonly tail: Buffer
  readonly file: StateFileIdentity | null
  /** A consistency point (the end of an `@ex@` that leaves no transaction open), not a start or an entry's end. */
  readonly consistent?: boolean
}

export interface StateKeeperOptions {
  /** The state file. */
  path: string
  /** Least time between two writes, ms. Default 1000. */
  minIntervalMs?: number
  /** Called after each successful write. */
  onSaved?: (state: SavedState) => void
  /** Called once when a write fails; nothing is written after that. */
  onError?: (err: LogdaemonError) => void
  /** Where the bytes are known good: no point past it is saved (see RotatingJournalSource.commitBarrier). */
  barrier?: () => JournalPosition
}

/**
 * Points waiting for the consumer's commit. One is queued per consistency
 * point handed out; the consumer commits behind the reader by at most the
 * stream buffers plus its own queue, so in practice the queue is short. The
 * bound only matters for a consumer that never commits: then the oldest
 * points are dropped, which can only make a later commit save an older
 * point than it could have (a few more records replayed), never a newer one.
 */
const MAX_QUEUED_POINTS = 10_000

/**
 * Turns the consumer's commits into durable state: the newest committed
 * save point is written, at most once per `minIntervalMs`, and on `flush()`.
 * Writes are serialised; a failed write is reported once through `onError`
 * and fails every later `flush()`.
 */
export class StateKeeper {
  readonly #options: StateKeeperOptions
  #queue: SavePoint[] = []
  #head = 0
  /** Where each journal ended, once known: `N/end` is saved as `N+1/0` (N may be deleted later). */
  readonly #ends = new Map<number, { end: number; next: number }>()
  #candidate: SavePoint | null = null
  /** The newest position committed, which the barrier may not have passed yet. */
  #wanted: JournalPosition | null = null
  /** Explicit points (commits anywhere) past the barrier, oldest first. */
  #held: SavePoint[] = []
  #saved: JournalPosition | null = null
  /** When the last write started, on the monotonic clock (performance.now). */
  #lastWrite = -Infinity
  #timer: NodeJS.Timeout | null = null
  #writing: Promise<void> | null = null
  #failed: LogdaemonError | null = null
  #closed = false

  constructor(options: StateKeeperOptions) {
    this.#options = { ...options }
  }

  /** The newest position written to the state file. */
  get saved(): JournalPosition | null {
    return this.#saved
  }

  /** Seeds the keeper with the position the source started from (already durable). */
  started(position: JournalPosition): void {
    this.#saved = { journal: position.journal, offset: position.offset }
  }

  /** A consistency point was handed to the consumer. */
  addPoint(point: SavePoint): void {
    if (this.#queue.length - this.#head >= MAX_QUEUED_POINTS) this.#head++
    this.#queue.push(point)
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
  }

  /** Journal `journal` ended at `end`. */
  journalEnded(journal: number, end: number, next = journal + 1): void {
    this.#ends.set(journal, { end, next })
  }

  /**
   * The consumer is done with everything before `position`: the newest
   * queued point at or before it becomes the one to save, or `point` itself
   * when given (commits anywhere, not only at consistency points).
   */
  commit(position: JournalPosition, point?: SavePoint): void {
    if (!this.#wanted || comparePositions(position, this.#wanted) > 0) this.#wanted = { journal: position.journal, offset: position.offset }
    if (point) {
      if (this.#held.length >= MAX_QUEUED_POINTS) this.#held.shift()
      this.#held.push(point)
    }
    this.barrierMoved()
  }

  /**
   * Takes the newest point at or before both the committed position and the
   * barrier. Called on commits and whenever the reader moved on (the barrier
   * may have passed points held back).
   */
  barrierMoved(): void {
    const wanted = this.#wanted
    if (!wanted) return
    const barrier = this.#options.barrier?.()
    const limit = barrier && comparePositions(barrier, wanted) < 0 ? barrier : wanted
    let best: SavePoint | null = null
    const q = this.#queue
    while (this.#head < q.length && comparePositions(q[this.#head] as SavePoint, limit) <= 0) best = q[this.#head++] as SavePoint
    const held = this.#held
    let i = 0
    while (i < held.length && comparePositions(held[i] as SavePoint, limit) <= 0) i++
    if (i > 0) {
      const point = held[i - 1] as SavePoint
      this.#held = held.slice(i)
      if (!best || comparePositions(point, best) > 0) best = point
    }
    if (!best || (this.#candidate && comparePositions(best, this.#candidate) <= 0)) return
    this.#candidate = best
    this.#schedule()
  }

  /** Writes the newest committed point now (waiting for a write under way). Rejects if a write failed. */
  async flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    while (this.#writing) await this.#writing.catch(() => {})
    if (!this.#failed && this.#pending()) await this.#write()
    if (this.#failed) throw this.#failed
  }

  /** Flushes; later commits are ignored. */
  async close(): Promise<void> {
    await this.flush()
    this.#closed = true
  }

  #pending(): boolean {
    const c = this.#candidate
    return c !== null && (this.#saved === null || comparePositions(this.#normal(c), this.#saved) > 0)
  }

  #schedule(): void {
    if (this.#timer || this.#writing || this.#failed || this.#closed) return
    // The monotonic clock: a wall clock stepped back (NTP, a VM restored) held every save back for as long as the step.
    const wait = this.#lastWrite + (this.#options.minIntervalMs ?? 1000) - performance.now()
    if (wait <= 0) {
      void this.#write().catch(() => {})
      return
    }
    this.#timer = setTimeout(() => {
      this.#timer = null
      void this.#write().catch(() => {})
    }, wait)
    this.#timer.unref()
  }

  /** Writes the candidate; schedules again if a newer one came meanwhile. */
  #write(): Promise<void> {
    const point = this.#candidate
    if (!point || this.#failed || !this.#pending()) return Promise.resolve()
    const pos = this.#normal(point)
    const state: SavedState = {
      journal: pos.journal,
      offset: pos.offset,
      line: pos === point ? point.line : 1,
      tail: tailFingerprint(pos === point ? point.tail : Buffer.alloc(0)),
      file: pos === point ? point.file : null,
      savedAt: new Date().toISOString(),
      ...(pos === point && point.consistent ? { consistent: true } : {}),
      // `N/end` saved as `next/0`: the end of the journal before is what a restart can check. It is archived as
      // `next - 1`: N, or M when the live file read as N was renamed to journal.M (a renumbering).
      ...(pos !== point ? { previous: { journal: pos.journal - 1, end: point.offset, tail: tailFingerprint(point.tail) } } : {}),
    }
    this.#lastWrite = performance.now()
    const writing = writeState(this.#options.path, state).then(
      () => {
        this.#writing = null
        this.#saved = { journal: pos.journal, offset: pos.offset }
        for (const n of this.#ends.keys()) if (n < pos.journal && this.#ends.get(n)?.next !== pos.journal) this.#ends.delete(n)
        this.#options.onSaved?.(state)
        if (this.#pending()) this.#schedule()
      },
      (err: unknown) => {
        this.#writing = null
        this.#failed = isLogdaemonError(err) ? err : new LogdaemonError(ErrorCodes.STATE_WRITE, toError(err).message, { cause: err })
        this.#options.onError?.(this.#failed)
        throw this.#failed
      },
    )
    this.#writing = writing
    return writing
  }

  /** `N/end` of a finished journal is `next/0` (N+1 but after a renumbering): the same place, and it does not need journal N to resume. */
  #normal(point: SavePoint): SavePoint | JournalPosition {
    const ended = this.#ends.get(point.journal)
    return ended && ended.end === point.offset ? { journal: ended.next, offset: 0 } : point
  }
}
