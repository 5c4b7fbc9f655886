import type { JournalPosition } from '../position.js'

/**
 * Bounded memory: at most this many samples. When full, every other one of
 * the older half is dropped, so the newest samples keep a one-second
 * resolution and old ones thin out (a day of growth fits with minute
 * resolution at the far end).
 */
const MAX_SAMPLES = 512

interface Sample {
  readonly at: number
  readonly journal: number
  readonly size: number
}

/**
 * When the live journal was seen to reach each size: samples of (time,
 * journal, size) taken while the daemon runs. `seenAt(p)` is the first
 * time the byte at `p` was known to be on disk, so `now - seenAt(p)` is a
 * lower bound of the byte's age (it may have been written earlier, between
 * two samples or before the daemon started).
 */
export class WriteTimes {
  #samples: Sample[] = []

  /** The live journal `journal` has `size` bytes at `at` (epoch ms). Only growth is kept. */
  sample(at: number, journal: number, size: number): void {
    const last = this.#samples.at(-1)
    if (last && (journal < last.journal || (journal === last.journal && size <= last.size))) return
    this.#samples.push({ at, journal, size })
    if (this.#samples.length > MAX_SAMPLES) {
      const half = this.#samples.length >> 1
      const older = this.#samples.slice(0, half).filter((_, i) => i % 2 === 0)
      this.#samples = [...older, ...this.#samples.slice(half)]
    }
  }

  /** The first time the byte at `p` was seen on disk, or null when no sample covers it. */
  seenAt(p: JournalPosition): number | null {
    for (const s of this.#samples) {
      if (s.journal > p.journal || (s.journal === p.journal && s.size > p.offset)) return s.at
    }
    return null
  }
}
