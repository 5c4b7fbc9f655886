import { once } from 'node:events'
import { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { toError } from '../errors.js'
import { JournalEntry } from '../journal/entry.js'
import { comparePositions, type JournalPosition } from '../journal/position.js'
import type { Listener, ListenerLogger } from './listener.js'
import { ListenerWritable, type ListenerObserver, type RetryOptions } from './listener-writable.js'

/** A listener with its own retry settings. */
export interface ListenerSpec {
  listener: Listener
  retry?: RetryOptions
}

/** What the chain reports (the StatusTracker has these methods). */
export interface ChainObserver extends ListenerObserver {
  entryRead?(entry: JournalEntry): void
  committed?(position: JournalPosition): void
  quiet?(isQuiet: boolean): void
}

export interface ListenerChainOptions {
  listeners: readonly (Listener | ListenerSpec)[]
  /**
   * Persists a position (the source's `commit`): every listener has finished
   * every entry before it and synced. Called one at a time, in order.
   */
  commit?: (position: JournalPosition, entry: JournalEntry) => void | Promise<void>
  /** Which entries may be committed after: consistency points (default) or any entry. */
  commitAt?: 'consistent' | 'entry'
  /** Least time between two sync-and-commit rounds, in ms. Default 1000. */
  commitIntervalMs?: number
  /** After this long without an entry, listeners get `noData` and pending work is committed. Default 5000; 0 turns it off. */
  quietMs?: number
  /** Retry settings for listeners without their own. */
  retry?: RetryOptions
  /** Entries buffered in the chain and in each listener's Writable. Default 16. */
  highWaterMark?: number
  start?: JournalPosition | null
  logger?: ListenerLogger
  observer?: ChainObserver
}

interface Candidate {
  position: JournalPosition
  entry: JournalEntry
}

/**
 * Fans one stream of {@link JournalEntry} out to several listeners, each in
 * its own {@link ListenerWritable}, and commits positions they have all
 * finished. An object-mode Writable: `pipeline(source, chain)`.
 *
 * Backpressure: an entry is written to every listener at once; the chain
 * takes the next only when every listener's buffer is below its
 * highWaterMark, so the slowest listener sets the pace of the read. The
 * bound: `highWaterMark` entries in the chain's buffer plus `highWaterMark`
 * (+1 being handled) in each listener's, with the defaults 16 + 17 × N
 * entries, plus at most one sync and one noData control per listener.
 *
 * Commits: after an entry that may be committed (a consistency point by
 * default), at most once per `commitIntervalMs`, and when the journal goes
 * quiet or the input ends, the chain puts a `sync(position)` after that
 * entry into every listener; when all have run it, `commit(position)` is
 * called. A listener that fails for good fails the chain with its
 * ERR_LISTENER_FAILED; nothing is committed after that.
 *
 * Emits `commit` (position) and `quiet` (boolean).
 */
export class ListenerChain extends Writable {
  readonly #writables: ListenerWritable[]
  readonly #commit: ListenerChainOptions['commit']
  readonly #commitAt: 'consistent' | 'entry'
  readonly #interval: number
  readonly #quietMs: number
  readonly #observer: ChainObserver
  readonly #logger: ListenerLogger | undefined
  #candidate: Candidate | null = null
  #committed: JournalPosition | null = null
  #round: Promise<void> | null = null
  #roundStartedAt = -Infinity
  #forceWanted = false
  #commitTimer: NodeJS.Timeout | null = null
  #quietTimer: NodeJS.Timeout | null = null
  #lastEntryAt = Date.now()
  #isQuiet = false
  #hadData = false
  #noDataRunning = false
  #stopped = false

  constructor(options: ListenerChainOptions) {
    const opts = { ...options }
    const hwm = opts.highWaterMark ?? 16
    super({ objectMode: true, highWaterMark: hwm })
    this.#commit = opts.commit
    this.#commitAt = opts.commitAt ?? 'consistent'
    this.#interval = opts.commitIntervalMs ?? 1000
    this.#quietMs = opts.quietMs ?? 5000
    this.#observer = opts.observer ?? {}
    this.#logger = opts.logger
    this.#writables = opts.listeners.map((l) => {
      const spec: ListenerSpec = 'listener' in l && !('listen' in l) ? l : { listener: l as Listener }
      const retry = spec.retry ?? opts.retry
      const w = new ListenerWritable(spec.listener, {
        highWaterMark: hwm,
        syncOnEnd: false,
        start: opts.start ?? null,
        observer: this.#observer,
        ...(retry ? { retry } : {}),
        ...(opts.logger ? { logger: opts.logger } : {}),
      })
      w.on('error', (err: Error) => this.destroy(err))
      return w
    })
    const names = new Set<string>()
    for (const w of this.#writables) {
      if (names.has(w.name)) throw new TypeError(`two listeners are named "${w.name}": give each a distinct name`)
      names.add(w.name)
    }
    this.#armQuiet(this.#quietMs)
  }

  /** The listeners' Writables, in order. */
  get writables(): readonly ListenerWritable[] {
    return this.#writables
  }

  /** The last committed position, or null. */
  get committed(): JournalPosition | null {
    return this.#committed
  }

  override _write(chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (!(chunk instanceof JournalEntry)) {
      cb(new TypeError(`the listener chain was written a ${typeof chunk}, not a JournalEntry`))
      return
    }
    const entry = chunk
    this.#tell(() => this.#observer.entryRead?.(entry))
    this.#lastEntryAt = Date.now()
    this.#hadData = true
    if (this.#isQuiet) this.#setQuiet(false)
    const blocked: ListenerWritable[] = []
    for (const w of this.#writables) if (!w.write(entry)) blocked.push(w)
    if (entry.position.journal !== null && (this.#commitAt === 'entry' || entry.consistent)) {
      this.#candidate = { position: { journal: entry.position.journal, offset: entry.position.end }, entry }
      this.#maybeSync(false)
    }
    if (blocked.length === 0) {
      cb()
      return
    }
    Promise.all(blocked.map((w) => once(w, 'drain'))).then(
      () => cb(),
      (err: unknown) => cb(toError(err)),
    )
  }

  /** Starts a sync-and-commit round when one is due (or `force`d) and none runs. */
  #maybeSync(force: boolean): void {
    if (this.#stopped) return
    if (this.#round) {
      if (force) this.#forceWanted = true
      return
    }
    const c = this.#candidate
    if (!c || (this.#committed && comparePositions(c.position, this.#committed) <= 0)) return
    const wait = this.#roundStartedAt + this.#interval - Date.now()
    if (!force && wait > 0) {
      this.#commitTimer ??= setTimeout(() => {
        this.#commitTimer = null
        this.#maybeSync(false)
      }, wait)
      return
    }
    if (this.#commitTimer) clearTimeout(this.#commitTimer)
    this.#commitTimer = null
    this.#roundStartedAt = Date.now()
    this.#round = this.#syncAndCommit(c).then(
      () => {
        this.#round = null
        const again = this.#forceWanted
        this.#forceWanted = false
        this.#maybeSync(again)
      },
      (err: unknown) => {
        this.#round = null
        this.destroy(toError(err))
      },
    )
  }

  async #syncAndCommit(c: Candidate): Promise<void> {
    await Promise.all(this.#writables.map((w) => w.requestSync(c.position)))
    if (this.#stopped) return
    await this.#commit?.(c.position, c.entry)
    this.#committed = c.position
    this.#tell(() => this.#observer.committed?.(c.position))
    this.emit('commit', c.position)
  }

  #armQuiet(ms: number): void {
    if (this.#quietMs <= 0 || this.#stopped) return
    this.#quietTimer = setTimeout(() => this.#onQuietTimer(), ms)
  }

  #onQuietTimer(): void {
    this.#quietTimer = null
    const idle = Date.now() - this.#lastEntryAt
    if (idle < this.#quietMs) {
      this.#armQuiet(this.#quietMs - idle)
      return
    }
    this.quiet()
    this.#armQuiet(this.#quietMs)
  }

  /**
   * The input is quiet: listeners get `noData` (hadData true on the first
   * call after entries, false after that) and pending work is committed.
   * The chain calls it itself after `quietMs` without entries; a daemon
   * whose source knows better (the source's `quiet` event, sent only at
   * the live journal's end) sets `quietMs: 0` and calls it instead.
   */
  quiet(): void {
    if (this.#stopped || this.destroyed || this.writableEnded) return
    if (!this.#isQuiet) {
      this.#setQuiet(true)
      this.#maybeSync(true)
    }
    // One noData round at a time: a listener stuck in retries does not pile them up.
    if (this.#noDataRunning) return
    const hadData = this.#hadData
    this.#hadData = false
    this.#noDataRunning = true
    Promise.all(this.#writables.map((w) => w.requestNoData(hadData))).then(
      () => {
        this.#noDataRunning = false
      },
      (err: unknown) => this.destroy(toError(err)),
    )
  }

  #setQuiet(quiet: boolean): void {
    this.#isQuiet = quiet
    this.#tell(() => this.#observer.quiet?.(quiet))
    this.emit('quiet', quiet)
  }

  #tell(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.#logger?.error({ err }, 'status observer failed')
    }
  }

  #clearTimers(): void {
    if (this.#commitTimer) clearTimeout(this.#commitTimer)
    if (this.#quietTimer) clearTimeout(this.#quietTimer)
    this.#commitTimer = null
    this.#quietTimer = null
  }

  /** End of input: let listeners finish, sync and commit the last point, then close them. */
  override _final(cb: (err?: Error | null) => void): void {
    this.#clearTimers()
    this.#finish().then(
      () => cb(),
      (err: unknown) => cb(toError(err)),
    )
  }

  async #finish(): Promise<void> {
    while (this.#round) {
      this.#forceWanted = false
      await this.#round
    }
    this.#maybeSync(true)
    if (this.#round) await this.#round
    if (this.destroyed) return
    this.#stopped = true
    for (const w of this.#writables) w.end()
    await Promise.all(this.#writables.map((w) => finished(w)))
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.#stopped = true
    this.#clearTimers()
    const open = this.#writables.filter((w) => !w.closed)
    for (const w of open) w.destroy(err ?? undefined)
    Promise.all(open.map((w) => finished(w).catch(() => {}))).then(() => cb(err))
  }
}
