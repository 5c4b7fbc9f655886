import type { HistoryPoint } from './status-snapshot.js'

/** The rate window: `perSecond` averages this many complete seconds. */
export const RATE_SECONDS = 10
/** History resolution, in seconds. */
export const HISTORY_STEP = 5
/** History bound: 10 minutes at one point per 5 s. */
export const HISTORY_POINTS = 120
/**
 * Per-second counters kept in a ring: the history span plus one partial
 * history interval plus a spare second, so every complete interval the
 * history reports is still in the ring.
 */
const RING_SECONDS = HISTORY_POINTS * HISTORY_STEP + HISTORY_STEP + 1

/**
 * Entries per second, counted into a fixed ring of per-second buckets:
 * `count` is O(1) and memory is bounded however long the daemon runs.
 * Seconds are epoch seconds, so points line up across restarts; a clock that
 * steps back counts into the newest bucket.
 */
export class EntryRate {
  readonly #ring = new Float64Array(RING_SECONDS)
  readonly #startSecond: number
  /** The epoch second the ring's newest bucket counts. */
  #second: number

  constructor(startMs: number) {
    this.#startSecond = Math.floor(startMs / 1000)
    this.#second = this.#startSecond
  }

  /** Counts `n` (default one entry) at `nowMs`. */
  count(nowMs: number, n = 1): void {
    const second = Math.floor(nowMs / 1000)
    if (second > this.#second) this.#advance(second)
    this.#ring[this.#second % RING_SECONDS]! += n
  }

  /** Entries per second over the last {@link RATE_SECONDS} complete seconds (fewer just after start). */
  perSecond(nowMs: number): number {
    this.#advance(Math.floor(nowMs / 1000))
    const to = this.#second
    const from = Math.max(to - RATE_SECONDS, this.#startSecond)
    return to > from ? this.#sum(from, to) / (to - from) : 0
  }

  /** Complete {@link HISTORY_STEP}-second intervals since start, oldest first, at most {@link HISTORY_POINTS}. */
  history(nowMs: number): HistoryPoint[] {
    this.#advance(Math.floor(nowMs / 1000))
    const lastEnd = Math.floor(this.#second / HISTORY_STEP) * HISTORY_STEP
    const points: HistoryPoint[] = []
    for (let end = lastEnd; end > this.#startSecond && points.length < HISTORY_POINTS; end -= HISTORY_STEP) {
      // The first interval may have started before the daemon: rate over the part it ran.
      const begin = Math.max(end - HISTORY_STEP, this.#startSecond)
      const entries = this.#sum(begin, end)
      points.push({ at: new Date((end - HISTORY_STEP) * 1000).toISOString(), entries, perSecond: entries / (end - begin) })
    }
    return points.reverse()
  }

  /** Moves the ring's head to `second`, zeroing the seconds skipped (at most the whole ring). */
  #advance(second: number): void {
    if (second <= this.#second) return
    const steps = Math.min(second - this.#second, RING_SECONDS)
    for (let i = 1; i <= steps; i++) this.#ring[(this.#second + i) % RING_SECONDS] = 0
    this.#second = second
  }

  /** Sum of the buckets for seconds [from, to). */
  #sum(from: number, to: number): number {
    let n = 0
    for (let s = from; s < to; s++) n += this.#ring[s % RING_SECONDS]!
    return n
  }
}
