/**
 * The `quiet` signal of a follower: `onQuiet(hadData)` fires `ms` after it
 * started waiting at the live journal's end with nothing new, then again
 * every `ms` while it stays quiet. `hadData` is true on the first call
 * after new data and false on the calls after it (the listeners' `noData`).
 * The timer does not keep the process alive: the waiting follower does.
 */
export class QuietTimer {
  readonly #ms: number
  readonly #onQuiet: (hadData: boolean) => void
  #timer: NodeJS.Timeout | null = null
  #hadData = false
  #stopped = false

  constructor(ms: number, onQuiet: (hadData: boolean) => void) {
    this.#ms = ms
    this.#onQuiet = onQuiet
  }

  /** New data: the quiet period starts over. */
  data(): void {
    this.#hadData = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }

  /** The follower waits at the end: arm the timer unless it runs already. */
  waiting(): void {
    if (this.#timer || this.#stopped) return
    this.#timer = setTimeout(() => {
      this.#timer = null
      const hadData = this.#hadData
      this.#hadData = false
      this.#onQuiet(hadData)
      this.waiting()
    }, this.#ms)
    this.#timer.unref()
  }

  stop(): void {
    this.#stopped = true
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }
}
