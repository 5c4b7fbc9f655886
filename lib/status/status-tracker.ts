import { createRequire } from 'node:module'
import type { JournalEntry } from '../journal/entry.js'
import { formatPosition, type JournalPosition } from '../position.js'
import { EntryRate, HISTORY_STEP } from './entry-rate.js'
import type { CatchUp, HealthState, ListenerStatus, StatusError, StatusSnapshot } from './status-snapshot.js'
import { bytesAfter, type JournalSize } from '../files/journal-sizes.js'
import { WriteTimes } from './write-times.js'

export type { CatchUp, HealthState, HistoryPoint, ListenerStatus, StatusError, StatusSnapshot } from './status-snapshot.js'

/** When the health says Behind or Caught up (config `health`). */
export interface HealthThresholds {
  /** lagBytes above this: Behind. */
  behindBytes: number
  /** lagSeconds above this: Behind. */
  behindSeconds: number
  /** lagBytes at or below this, at the live journal: Caught up. */
  caughtUpBytes: number
}

/**
 * How long the journals may be out of sight (the live journal not on disk,
 * the root not listable) before the health says Behind: p4d makes the next
 * live journal as it rotates one, so a real rotation is never this long.
 */
export const LIVE_MISSING_GRACE_MS = 30_000

/** The defaults of config `health`. */
export const DEFAULT_HEALTH: Readonly<HealthThresholds> = { behindBytes: 64 * 1024 * 1024, behindSeconds: 300, caughtUpBytes: 0 }

/** Measures the journals on disk from journal `from` to the live one (the daemon's is `journalSizes`). */
export type DiskProbe = (from: number) => Promise<JournalSize[]>

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
  /** Health thresholds. Default {@link DEFAULT_HEALTH}. */
  health?: Partial<HealthThresholds>
}

interface ListenerCounters {
  handled: number
  skipped: number
  retries: number
  errors: number
  lastError: StatusError | null
  lastActivity: number | null
  retrying: boolean
  acknowledged: (() => string | null) | null
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

/** A listener's `acknowledged()`, guarded: a throwing or odd hook shows as null rather than breaking the status. */
function askAcknowledged(hook: (() => string | null) | null): string | null {
  if (hook === null) return null
  try {
    const v = hook()
    return typeof v === 'string' ? v : null
  } catch {
    return null
  }
}

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
  #start: { journal: number; offset: number } | null = null
  #bytesRead = 0
  readonly #byteRate: EntryRate
  readonly #health: HealthThresholds
  #probe: DiskProbe | null = null
  #sizes: JournalSize[] | null = null
  #measuring: Promise<void> | null = null
  #queued: Promise<void> | null = null
  readonly #writeTimes = new WriteTimes()
  #failure: StatusError | null = null
  /** Since when the journals cannot be measured, or the live journal is not on disk, and why; null while all is well. */
  #missing: { since: number; what: string } | null = null
  readonly #listeners = new Map<string, ListenerCounters>()
  /** The counters `#listener` returned last, and for which name. */
  #lastName: string | null = null
  #last: ListenerCounters | null = null
  readonly #rate: EntryRate

  constructor(options: StatusTrackerOptions = {}) {
    this.#now = options.now ?? new TurnClock().now
    this.#version = options.version ?? packageVersion()
    this.#startedAt = this.#now()
    this.#rate = new EntryRate(this.#startedAt)
    this.#byteRate = new EntryRate(this.#startedAt)
    this.#health = { ...DEFAULT_HEALTH, ...options.health }
  }

  /** The daemon started reading `root`, whose live journal is at `liveJournal`. */
  started(info: { root: string; liveJournal: string; start?: { journal: number; offset: number } }): void {
    this.#root = info.root
    this.#livePath = info.liveJournal
    if (info.start) this.#start = { journal: info.start.journal, offset: info.start.offset }
  }

  /** Registers a listener so it shows before its first entry; `acknowledged` is its optional hook (see Listener#acknowledged). */
  addListener(name: string, acknowledged?: () => string | null): void {
    const l = this.#listener(name)
    if (acknowledged) l.acknowledged = acknowledged
  }

  /**
   * Lets `measure()` read the journals on disk. Without a probe, lagBytes
   * is the live journal's last reported size minus the read offset.
   */
  setProbe(probe: DiskProbe): void {
    this.#probe = probe
  }

  /**
   * Measures the journals on disk now (the status server calls it before
   * each `/status.json` and `/metrics`). Concurrent calls share one
   * measurement; a failed measurement keeps the previous one.
   */
  measure(): Promise<void> {
    const probe = this.#probe
    if (probe === null) return Promise.resolve()
    // A read that arrives during a measurement waits for the next one (which may have started
    // before the bytes it should see were written): at most one running and one queued, so a
    // burst of requests costs two readdirs.
    if (this.#queued) return this.#queued
    if (this.#measuring) {
      this.#queued = this.#measuring.then(() => {
        this.#queued = null
        return this.#measureNow(probe)
      })
      return this.#queued
    }
    return this.#measureNow(probe)
  }

  #measureNow(probe: DiskProbe): Promise<void> {
    const from = Math.min(this.#committed?.journal ?? Infinity, this.#readJournal ?? Infinity, this.#start?.journal ?? Infinity)
    this.#measuring = probe(Number.isFinite(from) ? from : 0)
      .then(
        (sizes) => {
          const now = this.#now()
          this.#sizes = sizes
          const live = sizes.at(-1)
          if (live) this.#writeTimes.sample(now, live.journal, live.size)
          this.#isMissing(live && live.path === null ? `the live journal${this.#livePath === null ? '' : ` ${this.#livePath}`} is not on disk` : null, now)
        },
        (err: unknown) => {
          // The old sizes stay (the lag they give is the best known), but the health says the journals are out of sight.
          const e = err as { code?: unknown; message?: unknown }
          const message = String(e?.message ?? err)
          const code = typeof e?.code === 'string' && !message.startsWith(e.code) ? `${e.code}: ` : ''
          this.#isMissing(`the journals cannot be listed (${code}${message})`, this.#now())
        },
      )
      .finally(() => (this.#measuring = null))
    return this.#measuring
  }

  #isMissing(what: string | null, now: number): void {
    if (what === null) this.#missing = null
    else if (this.#missing === null) this.#missing = { since: now, what }
    else this.#missing = { since: this.#missing.since, what }
  }

  /**
   * What keeps the journals out of sight for longer than
   * {@link LIVE_MISSING_GRACE_MS} (the server root gone, the live journal
   * moved away): the health is Behind while it lasts. Null otherwise.
   */
  journalsMissing(): { since: string; seconds: number; what: string } | null {
    const m = this.#missing
    if (m === null) return null
    const ms = this.#now() - m.since
    if (ms < LIVE_MISSING_GRACE_MS) return null
    return { since: new Date(m.since).toISOString(), seconds: Math.floor(ms / 1000), what: m.what }
  }

  /** The daemon stopped because of `err`: the health is Failed from now on. */
  failed(err: Error): void {
    this.#failure = this.#describe(err, null)
  }

  /** The names of the registered listeners, in registration order. */
  get listenerNames(): string[] {
    return [...this.#listeners.keys()]
  }

  /** A batch of entries read (the listener chain's report with `batch`): the same counts as `entryRead` for each. */
  entriesRead(entries: readonly JournalEntry[]): void {
    const n = entries.length
    if (n === 0) return
    const now = this.#now()
    let bytes = 0
    for (let i = 0; i < n; i++) {
      const p = (entries[i] as JournalEntry).position
      bytes += p.end - p.offset
    }
    this.#rate.count(now, n)
    this.#bytesRead += bytes
    this.#byteRate.count(now, bytes)
    this.#entriesTotal += n
    this.#lastActivity = now
    const last = (entries[n - 1] as JournalEntry).position
    this.#readJournal = last.journal
    this.#readEnd = last.end
  }

  entryRead(entry: JournalEntry): void {
    const now = this.#now()
    this.#rate.count(now)
    const bytes = entry.position.end - entry.position.offset
    this.#bytesRead += bytes
    this.#byteRate.count(now, bytes)
    this.#entriesTotal++
    this.#lastActivity = now
    this.#readJournal = entry.position.journal
    this.#readEnd = entry.position.end
  }

  listenerHandled(name: string, _entry: JournalEntry): void {
    const l = this.#listener(name)
    l.handled++
    l.retrying = false
    l.lastActivity = this.#now()
  }

  /** What a listener did since its last report (ListenerWritable tells it at most once per turn of the event loop). */
  listenerProgress(name: string, handled: number, skipped: number): void {
    const l = this.#listener(name)
    l.handled += handled
    l.skipped += skipped
    l.retrying = false
    l.lastActivity = this.#now()
  }

  listenerSkipped(name: string): void {
    const l = this.#listener(name)
    l.skipped++
    l.retrying = false
    l.lastActivity = this.#now()
  }

  listenerRetry(name: string, err: Error): void {
    const l = this.#listener(name)
    l.retries++
    l.retrying = true
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
    // Every listener synced up to here: none is retrying any more.
    for (const l of this.#listeners.values()) l.retrying = false
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
    if (info.journal !== null && info.size !== null) this.#writeTimes.sample(this.#now(), info.journal, info.size)
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
        acknowledged: askAcknowledged(l.acknowledged),
        retrying: l.retrying,
      })
    }
    const rotation = this.#lastRotation
    const lag = this.#lagNow(now)
    const health = this.#healthNow(lag, listeners)
    return {
      version: this.#version,
      root: this.#root,
      now: new Date(now).toISOString(),
      startedAt: new Date(this.#startedAt).toISOString(),
      uptimeSeconds: Math.max(0, Math.floor((now - this.#startedAt) / 1000)),
      position: this.#readJournal === null || this.#readEnd === null ? null : `${this.#readJournal}/${this.#readEnd}`,
      committed: this.#committed === null ? null : formatPosition(this.#committed),
      liveJournal: { number: this.#liveNumber, path: this.#livePath, size: this.#liveSize },
      lagBytes: lag.bytes,
      lagBytesEstimated: lag.estimated,
      uncommittedBytes: lag.uncommitted,
      lagSeconds: lag.seconds,
      health: health.state,
      healthReason: health.reason,
      catchUp: health.state === 'Caught up' || lag.bytes === null ? null : this.#catchUp(lag, now),
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
    // Called for every entry each listener handles, mostly for one name after another: the last one is kept.
    if (name === this.#lastName && this.#last !== null) return this.#last
    let l = this.#listeners.get(name)
    if (l === undefined) {
      l = { handled: 0, skipped: 0, retries: 0, errors: 0, lastError: null, lastActivity: null, retrying: false, acknowledged: null }
      this.#listeners.set(name, l)
    }
    this.#lastName = name
    this.#last = l
    return l
  }

  #describe(err: Error, listener: string | null): StatusError {
    const code: unknown = (err as { code?: unknown }).code
    return { message: err.message, code: typeof code === 'string' ? code : null, listener, at: new Date(this.#now()).toISOString() }
  }

  /** Lag from the last disk measurement and the positions now. */
  #lagNow(now: number): { bytes: number | null; estimated: boolean; uncommitted: number | null; seconds: number | null; live: number | null } {
    const sizes = this.#sizes
    if (sizes === null) return { bytes: this.#lag(), estimated: false, uncommitted: null, seconds: null, live: this.#liveNumber }
    const start = this.#start ?? { journal: sizes[0]?.journal ?? 0, offset: 0 }
    const read = this.#readJournal === null || this.#readEnd === null ? start : { journal: this.#readJournal, offset: this.#readEnd }
    const committed = this.#committed ?? start
    const bytes = bytesAfter(sizes, read)
    const uncommitted = bytesAfter(sizes, committed)
    const estimated = sizes.some((s) => s.estimated && s.journal >= read.journal)
    let seconds = 0
    if (uncommitted > 0 || bytes > 0) {
      // The oldest byte not read or not committed is the one at the committed position.
      const seen = this.#writeTimes.seenAt(committed)
      const archive = sizes.find((s) => s.journal === committed.journal && !s.live)
      const ages = [seen === null ? 0 : now - seen, archive?.mtimeMs == null ? 0 : now - archive.mtimeMs]
      seconds = Math.max(0, Math.floor(Math.max(...ages) / 1000))
    }
    return { bytes, estimated, uncommitted, seconds, live: sizes.at(-1)?.journal ?? null }
  }

  #healthNow(lag: { bytes: number | null; seconds: number | null; live: number | null }, listeners: ListenerStatus[]): { state: HealthState; reason: string } {
    const h = this.#health
    if (this.#failure) return { state: 'Failed', reason: `stopped: ${this.#failure.code ?? 'Error'}: ${this.#failure.message}` }
    const retrying = listeners.filter((l) => l.retrying)
    if (retrying.length) {
      const l = retrying[0]!
      return {
        state: 'Retrying',
        reason: `listener ${l.name} is retrying${l.lastError ? ` after ${l.lastError.code ?? 'Error'}: ${l.lastError.message}` : ''}`,
      }
    }
    const missing = this.journalsMissing()
    if (missing) return { state: 'Behind', reason: `${missing.what} since ${missing.since} (${missing.seconds} s): nothing new can be read` }
    if (lag.bytes !== null && lag.bytes > h.behindBytes)
      return { state: 'Behind', reason: `${lag.bytes} bytes unread, more than behindBytes (${h.behindBytes})` }
    if (lag.seconds !== null && lag.seconds > h.behindSeconds) {
      return { state: 'Behind', reason: `the oldest unread or uncommitted byte is ${lag.seconds} s old, more than behindSeconds (${h.behindSeconds})` }
    }
    const readJournal = this.#readJournal ?? this.#start?.journal ?? null
    if (lag.bytes !== null && lag.live !== null && readJournal === lag.live && lag.bytes <= h.caughtUpBytes) {
      return { state: 'Caught up', reason: `reading the live journal ${lag.live}, ${lag.bytes} bytes behind its end` }
    }
    if (lag.bytes === null) return { state: 'Reading', reason: 'lag not measured yet' }
    return {
      state: 'Reading',
      reason: `${lag.bytes} bytes to read${lag.live !== null && readJournal !== null && readJournal < lag.live ? ` up to the live journal ${lag.live}` : ''}`,
    }
  }

  #catchUp(lag: { bytes: number | null; live: number | null }, now: number): CatchUp | null {
    if (lag.bytes === null) return null
    const first = this.#start?.journal ?? this.#readJournal
    const current = this.#readJournal ?? first
    const live = lag.live ?? this.#liveNumber
    if (first === null || current === null || live === null) return null
    const done = this.#bytesRead
    const rate = this.#byteRate.perSecond(now)
    return {
      journal: Math.max(1, current - first + 1),
      journals: Math.max(1, live - first + 1),
      percent: done + lag.bytes === 0 ? 100 : Math.floor((1000 * done) / (done + lag.bytes)) / 10,
      secondsLeft: rate > 0 ? Math.ceil(lag.bytes / rate) : null,
    }
  }

  #lag(): number | null {
    if (this.#liveSize === null || this.#readEnd === null) return null
    if (this.#liveNumber === null || this.#readJournal !== this.#liveNumber) return null
    return Math.max(0, this.#liveSize - this.#readEnd)
  }
}
