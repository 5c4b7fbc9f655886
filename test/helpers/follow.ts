import type { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { JournalEntry } from '../../lib/journal/entry.js'
import type { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import type { RotatingJournalSource } from '../../lib/source/rotating-journal-source.js'

/** What a test consumer saw: raw bytes per journal, entries, and the first entry of each journal. */
export class Seen {
  readonly bytes = new Map<number, Buffer[]>()
  readonly entries: JournalEntry[] = []
  /** Journal number → didRotate of its first entry seen. */
  readonly firstDidRotate = new Map<number, boolean>()
  /** Journals in the order their entries came. */
  readonly order: number[] = []

  add(e: JournalEntry): void {
    const n = e.position.journal as number
    if (!this.bytes.has(n)) {
      this.bytes.set(n, [])
      this.firstDidRotate.set(n, e.didRotate)
      this.order.push(n)
    } else if (e.didRotate) {
      this.firstDidRotate.set(n, true) // must not happen: caught by the tests as a second didRotate
      this.order.push(-n)
    }
    this.bytes.get(n)?.push(e.raw)
    this.entries.push(e)
  }

  journal(n: number): Buffer {
    return Buffer.concat(this.bytes.get(n) ?? [])
  }

  /** Bytes seen of the journal being written now, vs what the simulator wrote. */
  caughtUp(sim: SimulatedP4d): boolean {
    const n = sim.currentJournal
    return this.journal(n).length === sim.journalBytes(n).length
  }
}

/**
 * Reads `source` in the background, committing each entry, optionally
 * slowly. `stop()` destroys the source and resolves with what was seen.
 */
export function consume(
  source: RotatingJournalSource,
  options: { delayMs?: number; delayEvery?: number; commit?: boolean; seen?: Seen } = {},
): { seen: Seen; done: Promise<void>; stop: () => Promise<Seen>; error: () => Error | null; hold: () => () => void } {
  const seen = options.seen ?? new Seen()
  let error: Error | null = null
  let gate: Promise<void> | null = null
  const done = (async () => {
    try {
      for await (const e of source) {
        if (gate) await gate
        seen.add(e)
        if (options.commit ?? true) source.commit(e)
        if (options.delayMs && seen.entries.length % (options.delayEvery ?? 1) === 0) await sleep(options.delayMs)
      }
    } catch (err) {
      error = err as Error
    }
  })()
  return {
    seen,
    done,
    error: () => error,
    /** Stops consuming (after the entry in hand) until the returned function is called. */
    hold: () => {
      let release = (): void => {}
      gate = new Promise<void>((resolve) => (release = resolve)).then(() => {
        gate = null
      })
      return () => release()
    },
    stop: async () => {
      source.destroy()
      await done
      return seen
    },
  }
}

/**
 * Whether a piped source has stopped reading: the pipe paused it and its
 * buffer is full, so it reads no more until the consumer takes some.
 */
export function readingStopped(source: Readable): boolean {
  return source.readableFlowing === false && source.readableLength >= source.readableHighWaterMark
}

/** Polls `cond` every few ms until true; fails after `timeoutMs`. */
export async function until(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
}

/** Whether every journal the simulator wrote from `from` on was seen whole and exact. */
export function sawEverything(sim: SimulatedP4d, seen: Seen, from: number): { ok: boolean; detail: string } {
  const bad: string[] = []
  for (const n of sim.journals) {
    if (n < from) continue
    const want = sim.journalBytes(n)
    const have = seen.journal(n)
    if (!want.equals(have)) bad.push(`journal ${n}: want ${want.length} bytes, have ${have.length}`)
  }
  return { ok: bad.length === 0, detail: bad.join('; ') || 'all journals exact' }
}

/**
 * The union of what several runs of a follower printed: each run must go on
 * in position order, start at or before where the bytes assembled so far
 * end (no gap), and repeat only bytes equal to the ones before (duplicates
 * after a restart). `check` compares the union with what was written.
 */
export class Union {
  readonly journals = new Map<number, Buffer[]>()
  readonly lengths = new Map<number, number>()
  problems: string[] = []
  duplicates = 0

  /** Adds one run's records, each as journal, offset and bytes. */
  addRun(records: Iterable<{ journal: number; offset: number; raw: Buffer }>): void {
    let last = { journal: -1, offset: -1 }
    for (const r of records) {
      if (r.journal < last.journal || (r.journal === last.journal && r.offset < last.offset)) {
        this.problems.push(`out of order: ${r.journal}/${r.offset} after ${last.journal}/${last.offset}`)
      }
      last = r
      const have = this.lengths.get(r.journal) ?? 0
      if (have === 0 && !this.lengths.has(r.journal)) {
        const prev = Math.max(-1, ...[...this.lengths.keys()].filter((n) => n < r.journal))
        if (prev >= 0 && prev !== r.journal - 1) this.problems.push(`journal ${r.journal} follows ${prev}`)
      }
      if (r.offset > have) {
        this.problems.push(`gap in journal ${r.journal}: ${have} to ${r.offset}`)
        continue
      }
      if (r.offset < have) {
        const parts = Buffer.concat(this.journals.get(r.journal) ?? [])
        this.journals.set(r.journal, [parts])
        if (!parts.subarray(r.offset, r.offset + r.raw.length).equals(r.raw)) this.problems.push(`different bytes again at ${r.journal}/${r.offset}`)
        this.duplicates++
        if (r.offset + r.raw.length <= have) continue
        const extra = r.raw.subarray(have - r.offset)
        this.journals.get(r.journal)?.push(extra)
        this.lengths.set(r.journal, have + extra.length)
        continue
      }
      const list = this.journals.get(r.journal) ?? []
      list.push(r.raw)
      this.journals.set(r.journal, list)
      this.lengths.set(r.journal, have + r.raw.length)
    }
  }

  /** Whether the union is exactly what the simulator wrote from journal `from` on. */
  check(sim: SimulatedP4d, from: number): { ok: boolean; detail: string } {
    const bad = [...this.problems]
    for (const n of sim.journals) {
      if (n < from) continue
      const want = sim.journalBytes(n)
      const have = Buffer.concat(this.journals.get(n) ?? [])
      if (!want.equals(have)) bad.push(`journal ${n}: want ${want.length} bytes, have ${have.length}`)
    }
    return { ok: bad.length === 0, detail: bad.slice(0, 5).join('; ') || 'every byte of every journal, in order' }
  }
}

/** The records of a Seen as Union input. */
export function recordsOf(seen: Seen): { journal: number; offset: number; raw: Buffer }[] {
  return seen.entries.map((e) => ({ journal: e.position.journal as number, offset: e.position.offset, raw: e.raw }))
}
