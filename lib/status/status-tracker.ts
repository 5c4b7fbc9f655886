import { createRequire } from 'node:module'
import type { JournalEntry } from '../journal/entry.js'
import { formatPosition, type JournalPosition } from '../position.js'
import { EntryRate, HISTORY_STEP } from './entry-rate.js'
import type { ListenerStatus, StatusError, StatusSnapshot } from './status-snapshot.js'

export type { HistoryPoint, ListenerStatus, StatusError, StatusSnapshot } from './status-snapshot.js'

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

export interface StatusTrackerOptions {
  /** The clock, in epoch milliseconds. Tests pass a fake one. Default: `Date.now` read once per event-loop turn (see TurnClock). */
  now?: () => number
  /** Reported version. Default: this package's. */
  version?: string
}

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
    const pkg = createRequire(import.meta.url)('logdaemon/package.json') as { version: string }
    return pkg.version
    /* c8 ignore start -- only when the package is copied without its package.json */
  } catch {
    return 'unknown'
  }
  /* c8 ignore stop */
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString())

/**
 * Counts what the daemon does, for the status page and `/metrics`. The
 * daemon calls the event methods; `snapshot()` renders the state. Every
 * event method is O(1) and memory is bounded however long the daemon runs
 * (see {@link EntryRate}).
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
  readonly #rate: EntryRate

  constructor(options: StatusTrackerOptions = {}) {
    this.#now = options.now ?? new TurnClock().now
    this.#version = options.version ?? packageVersion()
    this.#startedAt = this.#now()
    this.#rate = new EntryRate(this.#startedAt)
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
    this.#rate.count(now)
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
      now: new Date(now).toISOString(),
      startedAt: new Date(this.#startedAt).toISOString(),
      uptimeSeconds: Math.max(0, Math.floor((now - this.#startedAt) / 1000)),
      position: this.#readJournal === null || this.#readEnd === null ? null : `${this.#readJournal}/${this.#readEnd}`,
      committed: this.#committed === null ? null : formatPosition(this.#committed),
      liveJournal: { number: this.#liveNumber, path: this.#livePath, size: this.#liveSize },
      lagBytes: this.#lag(),
      entriesTotal: this.#entriesTotal,
      entriesPerSecond: this.#rate.perSecond(now),
      history: { resolutionSeconds: HISTORY_STEP, points: this.#rate.history(now) },
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
    const code: unknown = (err as { code?: unknown }).code
    return { message: err.message, code: typeof code === 'string' ? code : null, listener, at: new Date(this.#now()).toISOString() }
  }

  #lag(): number | null {
    if (this.#liveSize === null || this.#readEnd === null) return null
    if (this.#liveNumber === null || this.#readJournal !== this.#liveNumber) return null
    return Math.max(0, this.#liveSize - this.#readEnd)
  }
}
