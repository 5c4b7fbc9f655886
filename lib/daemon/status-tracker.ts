import { createRequire } from 'node:module'
import type { JournalEntry } from '../journal/entry.js'
import { formatPosition, type JournalPosition } from '../journal/position.js'
import { isLogdaemonError } from '../errors.js'

/** The last error seen, as the status page shows it. */
export interface StatusError {
  readonly message: string
  /** The error's stable code (`ERR_…`), or null for errors without one. */
  readonly code: string | null
  /** The listener it came from, or null for the daemon's own errors. */
  readonly listener: string | null
  readonly at: string
}

/** One listener's counters. */
export interface ListenerStatus {
  readonly name: string
  /** Entries the listener has finished (`listen` resolved). */
  readonly handled: number
  /** Entries its `isHandled` declined. */
  readonly skipped: number
  /** Failed attempts that were retried. */
  readonly retries: number
  /** Failures after which retries ran out. */
  readonly errors: number
  readonly lastError: StatusError | null
  /** When it last handled or skipped an entry (ISO time), or null. */
  readonly lastActivity: string | null
}

/** One point of the entries-per-second chart. */
export interface HistoryPoint {
  /** Start of the interval (ISO time). */
  readonly at: string
  /** Entries read in the interval. */
  readonly entries: number
  /** Entries per second over the part of the interval the daemon was running. */
  readonly perSecond: number
}

/** What `/status.json` serves. Times are ISO 8601 strings; positions are `N/offset` text. */
export interface StatusSnapshot {
  /** The logdaemon version. */
  readonly version: string
  /** The server root, or null before `started`. */
  readonly root: string | null
  readonly startedAt: string
  readonly uptimeSeconds: number
  /** End of the last entry read (`N/offset`), or null before the first. */
  readonly position: string | null
  /** The last committed position (`N/offset`), or null before the first commit. */
  readonly committed: string | null
  readonly liveJournal: {
    /** The live journal's number (the next checkpoint's), or null when unknown. */
    readonly number: number | null
    readonly path: string | null
    /** Its size in bytes, or null when unknown. */
    readonly size: number | null
  }
  /** Live size minus the read offset while reading the live journal; null when unknown (or catching up on older journals). */
  readonly lagBytes: number | null
  readonly entriesTotal: number
  /** Entries per second over the last 10 complete seconds. */
  readonly entriesPerSecond: number
  /** Entries per second, oldest first, one point per `resolutionSeconds`, complete intervals only. */
  readonly history: {
    readonly resolutionSeconds: number
    readonly points: readonly HistoryPoint[]
  }
  readonly listeners: readonly ListenerStatus[]
  /** Retries over all listeners. */
  readonly retries: number
  /** Errors over all listeners and the daemon. */
  readonly errors: number
  readonly lastError: StatusError | null
  /** When the last entry was read (ISO time), or null. */
  readonly lastActivity: string | null
  readonly lastRotation: { readonly at: string; readonly from: number; readonly to: number; readonly mode: string } | null
  /** True while the journal has been quiet for the quiet period. */
  readonly quiet: boolean
}

export interface StatusTrackerOptions {
  /** The clock, in epoch milliseconds. Tests pass a fake one. Default `Date.now`. */
  now?: () => number
  /** Reported version. Default: this package's. */
  version?: string
}

/** The rate window: `entriesPerSecond` averages this many complete seconds. */
const RATE_SECONDS = 10
/** History resolution, in seconds. */
const HISTORY_STEP = 5
/** History bound: 10 minutes at 5 s per point. */
const HISTORY_POINTS = 120
/**
 * Per-second counters kept in a ring: the history span plus one partial
 * history interval plus a spare second, so every complete interval the
 * history reports is still in the ring.
 */
const RING_SECONDS = HISTORY_POINTS * HISTORY_STEP + HISTORY_STEP + 1

interface ListenerCounters {
  handled: number
  skipped: number
  retries: number
  errors: number
  lastError: StatusError | null
  lastActivity: number | null
}

function packageVersion(): string {
  try {
    // Self-reference through package.json `exports`: works from lib/ and dist/.
    const pkg = createRequire(import.meta.url)('logdaemon/package.json') as { version?: unknown }
    return typeof pkg.version === 'string' ? pkg.version : 'unknown'
  } catch {
    /* c8 ignore next 2 -- only when the package is copied without its package.json */
    return 'unknown'
  }
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

/**
 * Counts what the daemon does, for the status page and `/metrics`. The
 * daemon calls the event methods; `snapshot()` renders the state. Every
 * event method is O(1): entries are counted into a fixed ring of per-second
 * buckets ({@link RING_SECONDS} of them), so memory stays bounded however
 * long the daemon runs.
 */
export class StatusTracker {
  readonly #now: () => number
  readonly #version: string
  readonly #startedAt: number
  #root: string | null = null
  #livePath: string | null = null
  #liveNumber: number | null = null
  #liveSize: number | null = null
  #readJournal: number | null = null
  #readEnd: number | null = null
  #committed: JournalPosition | null = null
  #entriesTotal = 0
  #lastActivity: number | null = null
  #retries = 0
  #errors = 0
  #lastError: StatusError | null = null
  #lastRotation: { at: number; from: number; to: number; mode: string } | null = null
  #quiet = false
  readonly #listeners = new Map<string, ListenerCounters>()
  readonly #ring = new Float64Array(RING_SECONDS)
  /** The epoch second the ring's newest bucket counts. */
  #second: number

  constructor(options: StatusTrackerOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#version = options.version ?? packageVersion()
    this.#startedAt = this.#now()
    this.#second = Math.floor(this.#startedAt / 1000)
  }

  /** The daemon started reading `root`, whose live journal is at `liveJournal`. */
  started(info: { root: string; liveJournal: string }): void {
    this.#root = info.root
    this.#livePath = info.liveJournal
  }

  /** Registers a listener so it shows before its first entry. */
  addListener(name: string): void {
    this.#listener(name)
  }

  /** The names of the registered listeners, in registration order. */
  get listenerNames(): string[] {
    return [...this.#listeners.keys()]
  }

  entryRead(entry: JournalEntry): void {
    const now = this.#now()
    const second = Math.floor(now / 1000)
    if (second > this.#second) this.#advance(second)
    this.#ring[this.#second % RING_SECONDS]!++
    this.#entriesTotal++
    this.#lastActivity = now
    this.#readJournal = entry.position.journal
    this.#readEnd = entry.position.end
  }

  listenerHandled(name: string, _entry: JournalEntry): void {
    const l = this.#listener(name)
    l.handled++
    l.lastActivity = this.#now()
  }

  listenerSkipped(name: string): void {
    const l = this.#listener(name)
    l.skipped++
    l.lastActivity = this.#now()
  }

  listenerRetry(name: string, err: Error): void {
    const l = this.#listener(name)
    l.retries++
    this.#retries++
    l.lastError = this.#describe(err, name)
  }

  listenerError(name: string, err: Error): void {
    const l = this.#listener(name)
    l.errors++
    this.#errors++
    l.lastError = this.#describe(err, name)
    this.#lastError = l.lastError
  }

  /** The daemon's own errors (not a listener's). */
  error(err: Error): void {
    this.#errors++
    this.#lastError = this.#describe(err, null)
  }

  committed(position: JournalPosition): void {
    this.#committed = { journal: position.journal, offset: position.offset }
  }

  rotated(info: { from: number; to: number; mode: string }): void {
    this.#lastRotation = { at: this.#now(), from: info.from, to: info.to, mode: info.mode }
  }

  quiet(isQuiet: boolean): void {
    this.#quiet = isQuiet
  }

  /** The live journal's number and size as last measured; null parts are unknown. */
  liveSize(info: { journal: number | null; size: number | null }): void {
    this.#liveNumber = info.journal
    this.#liveSize = info.size
  }

  snapshot(): StatusSnapshot {
    const now = this.#now()
    const second = Math.floor(now / 1000)
    if (second > this.#second) this.#advance(second)
    const listeners: ListenerStatus[] = []
    for (const [name, l] of this.#listeners) {
      listeners.push({
        name,
        handled: l.handled,
        skipped: l.skipped,
        retries: l.retries,
        errors: l.errors,
        lastError: l.lastError,
        lastActivity: iso(l.lastActivity),
      })
    }
    const rotation = this.#lastRotation
    return {
      version: this.#version,
      root: this.#root,
      startedAt: new Date(this.#startedAt).toISOString(),
      uptimeSeconds: Math.max(0, Math.floor((now - this.#startedAt) / 1000)),
      position: this.#readJournal === null || this.#readEnd === null ? null : `${this.#readJournal}/${this.#readEnd}`,
      committed: this.#committed === null ? null : formatPosition(this.#committed),
      liveJournal: { number: this.#liveNumber, path: this.#livePath, size: this.#liveSize },
      lagBytes: this.#lag(),
      entriesTotal: this.#entriesTotal,
      entriesPerSecond: this.#rate(),
      history: { resolutionSeconds: HISTORY_STEP, points: this.#history() },
      listeners,
      retries: this.#retries,
      errors: this.#errors,
      lastError: this.#lastError,
      lastActivity: iso(this.#lastActivity),
      lastRotation: rotation === null ? null : { ...rotation, at: new Date(rotation.at).toISOString() },
      quiet: this.#quiet,
    }
  }

  #listener(name: string): ListenerCounters {
    let l = this.#listeners.get(name)
    if (l === undefined) {
      l = { handled: 0, skipped: 0, retries: 0, errors: 0, lastError: null, lastActivity: null }
      this.#listeners.set(name, l)
    }
    return l
  }

  #describe(err: Error, listener: string | null): StatusError {
    const code = isLogdaemonError(err) ? err.code : typeof (err as { code?: unknown }).code === 'string' ? String((err as { code?: unknown }).code) : null
    return { message: err.message, code, listener, at: new Date(this.#now()).toISOString() }
  }

  /** Moves the ring's head to `second`, zeroing the seconds skipped (at most the whole ring). */
  #advance(second: number): void {
    const steps = Math.min(second - this.#second, RING_SECONDS)
    for (let i = 1; i <= steps; i++) this.#ring[(this.#second + i) % RING_SECONDS] = 0
    this.#second = second
  }

  /** Sum of the ring's buckets for seconds [from, to). */
  #sum(from: number, to: number): number {
    let n = 0
    for (let s = from; s < to; s++) n += this.#ring[s % RING_SECONDS]!
    return n
  }

  #rate(): number {
    const startSecond = Math.floor(this.#startedAt / 1000)
    const to = this.#second
    const from = Math.max(to - RATE_SECONDS, startSecond)
    return to > from ? this.#sum(from, to) / (to - from) : 0
  }

  #history(): HistoryPoint[] {
    const startSecond = Math.floor(this.#startedAt / 1000)
    const lastEnd = Math.floor(this.#second / HISTORY_STEP) * HISTORY_STEP
    const points: HistoryPoint[] = []
    for (let end = lastEnd; end > startSecond && points.length < HISTORY_POINTS; end -= HISTORY_STEP) {
      const begin = end - HISTORY_STEP
      const covered = end - Math.max(begin, startSecond)
      const entries = this.#sum(Math.max(begin, startSecond), end)
      points.push({ at: new Date(begin * 1000).toISOString(), entries, perSecond: entries / covered })
    }
    return points.reverse()
  }

  #lag(): number | null {
    if (this.#liveSize === null || this.#readEnd === null) return null
    if (this.#liveNumber === null || this.#readJournal !== this.#liveNumber) return null
    return Math.max(0, this.#liveSize - this.#readEnd)
  }
}
