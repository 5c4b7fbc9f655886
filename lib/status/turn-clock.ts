/**
 * A clock read at most once per turn of the event loop: the first `now()` of
 * a turn reads `source`, the rest of the turn reuses that reading. The
 * status tracker counts millions of entries; reading the system clock for
 * each costs more than the counting (about 250 ns a call on a VM whose
 * clock source is not the vDSO's), while a turn lasts a few milliseconds at
 * most. One `setImmediate` per turn marks the reading stale.
 */
export class TurnClock {
  readonly #source: () => number
  #reading: number | null = null
  readonly #expire = (): void => {
    this.#reading = null
  }

  constructor(source: () => number = Date.now) {
    this.#source = source
  }

  /** Milliseconds since the epoch, as of this turn's first call. */
  readonly now = (): number => {
    if (this.#reading === null) {
      this.#reading = this.#source()
      setImmediate(this.#expire)
    }
    return this.#reading
  }
}
