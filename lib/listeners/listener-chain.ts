import { type Readable, Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { toError } from '../errors.js'
import { JournalEntry } from '../journal/entry.js'
import { comparePositions, type JournalPosition } from '../position.js'
import type { Listener, ListenerLogger } from './listener.js'
import { ListenerWritable, type ListenerObserver } from './listener-writable.js'
import type { RetryOptions } from '../retry.js'
import { checkTimerMs } from '../timer-ms.js'

/** A listener with its own retry settings. */
export interface ListenerSpec {
  listener: Listener
  retry?: RetryOptions
}

/** What the chain reports (the StatusTracker has these methods). */
export interface ChainObserver extends ListenerObserver {
  /** Entries the chain took, one call per batch (or per entry without `batch`); instead of `entryRead` when given. */
  entriesRead?(entries: readonly JournalEntry[]): void
  entryRead?(entry: JournalEntry): void
  committed?(position: JournalPosition): void
  quiet?(isQuiet: boolean): void
}

export interface ListenerChainOptions {
  listeners: readonly (Listener | ListenerSpec)[]
  /**
   * Persists a position (the source's `commit`): every listener has finished
   * every entry before it and synced. Called one at a time, in order, with
   * the entry that ends there; without it when a listener's `sync` made only
   * an earlier position durable, and the commit is at that one.
   */
  commit?: (position: JournalPosition, entry?: JournalEntry) => void | Promise<void>
  /** Which entries may be committed after: consistency points (default) or any entry. */
  commitAt?: 'consistent' | 'entry'
  /**
   * Where the bytes read so far are known good: no `sync()` or commit is
   * ever made past it (a `.gz` archive's member is good once its CRC has
   * been checked, at its end). Default: the `commitBarrier` of a
   * RotatingJournalSource piped into the chain, else none.
   */
  barrier?: () => JournalPosition
  /** Least time between two sync-and-commit rounds, in ms. Default 1000. At most 2^31-1, as quietMs (the constructor throws a RangeError). */
  commitIntervalMs?: number
  /** After this long without an entry, listeners get `noData` and pending work is committed. Default 5000; 0 turns it off. */
  quietMs?: number
  /** Retry settings for listeners without their own. */
  retry?: RetryOptions
  /** Entries buffered in the chain and in each listener's Writable (batches with `batch`). Default 128 (DEFAULT_CHAIN_HIGH_WATER_MARK), 2 with `batch`. */
  highWaterMark?: number
  /**
   * The input comes as batches: arrays of entries, as a RotatingJournalSource
   * with `batch: true` pushes them (a single entry is a batch of one). Each
   * batch goes on to every listener as one write, and highWaterMark counts
   * batches (default DEFAULT_CHAIN_BATCH_HIGH_WATER_MARK). Listeners see
   * the same calls, in the same order, with the same commits.
   */
  batch?: boolean
  start?: JournalPosition | null
  /** Passed to every listener's `open()`: `start` is a consistency point saved after a transaction marker. */
  startsAfterMarker?: boolean
  /** Passed to every listener's `open()`: where the journal before `start` ended (ListenerContext.previousEnd). */
  previousEnd?: JournalPosition
  logger?: ListenerLogger
  observer?: ChainObserver
}

/** A quiet() waiting for the entries before it (see ListenerChain.quiet). */
interface QuietWanted {
  through: JournalPosition | null
  readonly queued: Promise<void>
  readonly resolve: () => void
}

interface Candidate {
  position: JournalPosition
  entry: JournalEntry
}

/**
 * Entries buffered in the chain and in each listener by default. 128 rather
 * than Node's 16 for object streams: the chain then hands listeners larger
 * batches (`_writev`), and the daemon with a no-op async listener ran 13 %
 * faster on 1 GiB (benchmarks/, daemon-noop-listener: 285 → 323 MB/s) at
 * the same peak RSS. Entries are views into 128 KiB read chunks, so the
 * bound stays a few chunks of memory. Pinned in test/listeners/listener-chain.ts.
 */
export const DEFAULT_CHAIN_HIGH_WATER_MARK = 128

/**
 * Batches buffered in the chain and in each listener with `batch`. A batch
 * is one read chunk's entries (128 KiB of records, about 1,000 short ones),
 * so 2 keep a listener busy while the source reads on, and the bound stays
 * small: the chain's 2, 1 being dispatched, and each listener's 2 + 1
 * being handled, × 128 KiB, plus the source's 2 (about 1 MiB with one listener).
 */
export const DEFAULT_CHAIN_BATCH_HIGH_WATER_MARK = 2

/**
 * Fans one stream of {@link JournalEntry} out to several listeners, each in
 * its own {@link ListenerWritable}, and commits positions they have all
 * finished. An object-mode Writable: `pipeline(source, chain)`.
 *
 * Backpressure: an entry is written to every listener at once; the chain
 * takes the next only when every listener's buffer is below its
 * highWaterMark, so the slowest listener sets the pace of the read. The
 * bound: `highWaterMark` entries in the chain's buffer plus `highWaterMark`
 * (+1 being handled) in each listener's, with the defaults 128 + 129 × N
 * entries, plus at most one sync and one noData control per listener.
 * Entries that waited in a buffer are handed on as one batch (`_writev`),
 * and the chain waits for `drain` with plain listeners, not promises.
 * With `batch` the unit is a batch (a read chunk's entries) instead of an
 * entry: 2 + 1 + 3 × N batches by default.
 *
 * Batches (`batch: true`, fed by a RotatingJournalSource with `batch: true`,
 * as the daemon wires them) save a stream hop per entry: each batch is one
 * write into the chain and one into each listener's Writable, which still
 * calls the listener one entry at a time, in order.
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
  /** The last committable entry every listener was written. */
  #candidate: JournalEntry | null = null
  #barrier: (() => JournalPosition) | null
  /** The newest committable entry past the barrier, waiting for the barrier to pass it. */
  #held: JournalEntry | null = null
  #committed: JournalPosition | null = null
  /** The newest position every listener has synced (committed, or held back by a listener's earlier durable position). */
  #synced: JournalPosition | null = null
  #round: Promise<void> | null = null
  #roundStartedAt = -Infinity
  #forceWanted = false
  #commitTimer: NodeJS.Timeout | null = null
  #quietTimer: NodeJS.Timeout | null = null
  #lastEntryAt = performance.now()
  #isQuiet = false
  #hadData = false
  #noDataRunning = false
  /** A quiet() waiting for the entries read before it to reach the listeners (see quiet). */
  #quietWanted: QuietWanted | null = null
  #quietCheck: NodeJS.Immediate | null = null
  /** The last entry written to every listener. */
  #lastDispatched: JournalEntry | null = null
  /** A write is being handed to the listeners (its callback not called yet). */
  #dispatching = false
  /** The stream piped into the chain: the entries it holds came before a quiet too. */
  #upstream: Readable | null = null
  #stopped = false
  readonly #batch: boolean

  constructor(options: ListenerChainOptions) {
    const opts = { ...options }
    checkTimerMs('commitIntervalMs', opts.commitIntervalMs)
    checkTimerMs('quietMs', opts.quietMs)
    const hwm = opts.highWaterMark ?? (opts.batch ? DEFAULT_CHAIN_BATCH_HIGH_WATER_MARK : DEFAULT_CHAIN_HIGH_WATER_MARK)
    super({ objectMode: true, highWaterMark: hwm })
    this.#batch = opts.batch ?? false
    this.#commit = opts.commit
    this.#commitAt = opts.commitAt ?? 'consistent'
    this.#interval = opts.commitIntervalMs ?? 1000
    this.#quietMs = opts.quietMs ?? 5000
    this.#observer = opts.observer ?? {}
    this.#logger = opts.logger
    this.#barrier = opts.barrier ?? null
    this.on('pipe', (src: Readable) => {
      this.#upstream = src
    })
    this.on('unpipe', (src: Readable) => {
      if (this.#upstream !== src) return
      this.#upstream = null
      // What it held will not come: a quiet that waited for it is due once the chain holds nothing.
      this.#quietIfDue()
    })
    if (!this.#barrier) {
      this.on('pipe', (src: unknown) => {
        if (!this.#barrier && hasCommitBarrier(src)) this.#barrier = () => src.commitBarrier
      })
    }
    this.#writables = opts.listeners.map((l) => {
      const spec: ListenerSpec = 'listener' in l && !('listen' in l) ? l : { listener: l as Listener }
      const retry = spec.retry ?? opts.retry
      const w = new ListenerWritable(spec.listener, {
        highWaterMark: hwm,
        syncOnEnd: false,
        start: opts.start ?? null,
        ...(opts.startsAfterMarker ? { startsAfterMarker: true } : {}),
        ...(opts.previousEnd ? { previousEnd: opts.previousEnd } : {}),
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
    this.#dispatching = true
    if (this.#batch) this.#dispatchBatches([chunk], 0, cb)
    else this.#dispatch([chunk], 0, cb)
  }

  /** Entries that waited while the listeners drained come as one batch, dispatched in order. */
  override _writev(chunks: { chunk: unknown }[], cb: (err?: Error | null) => void): void {
    const entries = new Array<unknown>(chunks.length)
    for (let i = 0; i < chunks.length; i++) entries[i] = (chunks[i] as { chunk: unknown }).chunk
    this.#dispatching = true
    if (this.#batch) this.#dispatchBatches(entries, 0, cb)
    else this.#dispatch(entries, 0, cb)
  }

  /**
   * With `batch`: writes writes[k..] (batches, or single entries) to every
   * listener, one write per batch, in order; the newest committable entry
   * of each batch is offered once every listener was written it. When a
   * listener's buffer fills, waits for every full listener to drain.
   */
  #dispatchBatches(writes: unknown[], k: number, cb: (err?: Error | null) => void): void {
    this.#lastEntryAt = performance.now()
    for (; k < writes.length; k++) {
      const w = writes[k]
      const batch = Array.isArray(w) ? (w as unknown[]) : [w]
      const last = this.#readBatch(batch)
      if (typeof last !== 'number') {
        this.#dispatched(cb, last)
        return
      }
      if (batch.length === 0) continue
      // Per batch, not per write: a quiet applied after an earlier batch of this write came before this one.
      this.#hadData = true
      if (this.#isQuiet) this.#setQuiet(false)
      let full = false
      for (const l of this.#writables) if (!l.write(batch)) full = true
      const committable = last < 0 ? null : this.#admitBatch(batch as JournalEntry[], last)
      if (committable) this.#offer(committable)
      this.#lastDispatched = batch[batch.length - 1] as JournalEntry
      // A quiet that waited for this batch: its noData goes to every listener right after it.
      if (this.#quietWanted !== null) this.#quietIfDue()
      if (full) {
        whenDrained(this.#writables, (err) => {
          if (err) this.#dispatched(cb, err)
          else this.#dispatchBatches(writes, k + 1, cb)
        })
        return
      }
    }
    this.#dispatched(cb)
  }

  /**
   * Checks that a batch holds only entries and reports them read, in one
   * pass that also finds its last committable entry: that entry's index
   * (-1 when none), or the error for a batch that holds something else.
   */
  #readBatch(batch: unknown[]): number | TypeError {
    const everyEntry = this.#commitAt === 'entry'
    let last = -1
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]
      if (!(entry instanceof JournalEntry)) return new TypeError(`the listener chain was written a batch holding a ${typeof entry}, not a JournalEntry`)
      if ((everyEntry || entry.consistent) && entry.position.journal !== null) last = i
    }
    const observer = this.#observer
    if (observer.entriesRead) this.#entriesRead(observer, batch as JournalEntry[])
    else if (observer.entryRead) for (const entry of batch) this.#entryRead(observer, entry as JournalEntry)
    return last
  }

  /**
   * The newest committable entry at or before the barrier after `batch`,
   * whose last committable entry is at `last`, as {@link #admit} would find
   * it entry by entry: that entry when the barrier has passed it (the usual
   * case), else each committable entry in turn (the barrier inside a `.gz`
   * member).
   */
  #admitBatch(batch: JournalEntry[], last: number): JournalEntry | null {
    const entry = batch[last] as JournalEntry
    if (!this.#barrier || comparePositions(positionOf(entry), this.#barrier()) <= 0) return this.#admit(entry)
    let admitted: JournalEntry | null = null
    for (let i = 0; i <= last; i++) {
      const e = batch[i] as JournalEntry
      if (this.#committable(e)) admitted = this.#admit(e) ?? admitted
    }
    return admitted
  }

  #committable(entry: JournalEntry): boolean {
    return entry.position.journal !== null && (this.#commitAt === 'entry' || entry.consistent)
  }

  /**
   * Writes entries[i..] to every listener, in order. When a listener's
   * buffer fills, offers the last committable entry written so far, waits
   * for every full listener to drain, and goes on with the next entry: no
   * listener holds more than its highWaterMark of entries.
   */
  #dispatch(entries: unknown[], i: number, cb: (err?: Error | null) => void): void {
    this.#lastEntryAt = performance.now()
    const observer = this.#observer
    let committable: JournalEntry | null = null
    for (; i < entries.length; i++) {
      const entry = entries[i]
      if (!(entry instanceof JournalEntry)) {
        const what = Array.isArray(entry) ? 'batch (an array): pass batch: true to the chain' : `${typeof entry}, not a JournalEntry`
        this.#dispatched(cb, new TypeError(`the listener chain was written a ${what}`))
        return
      }
      if (observer.entriesRead) this.#entriesRead(observer, [entry])
      else if (observer.entryRead) this.#entryRead(observer, entry)
      // Per entry, not per write: a quiet applied after an earlier entry of this write came before this one.
      this.#hadData = true
      if (this.#isQuiet) this.#setQuiet(false)
      let full = false
      for (const w of this.#writables) if (!w.write(entry)) full = true
      if (this.#committable(entry)) committable = this.#admit(entry) ?? committable
      this.#lastDispatched = entry
      if (this.#quietWanted !== null) {
        if (committable) this.#offer(committable)
        committable = null
        this.#quietIfDue()
      }
      if (full) {
        if (committable) this.#offer(committable)
        whenDrained(this.#writables, (err) => {
          if (err) this.#dispatched(cb, err)
          else this.#dispatch(entries, i + 1, cb)
        })
        return
      }
    }
    if (committable) this.#offer(committable)
    this.#dispatched(cb)
  }

  /**
   * A write is handed to the listeners (or failed): its callback. A quiet
   * waiting for the chain to hold nothing is looked at again once the
   * stream piped in has had its turn to write what it holds.
   */
  #dispatched(cb: (err?: Error | null) => void, err?: Error): void {
    this.#dispatching = false
    this.#lastEntryAt = performance.now()
    cb(err)
    if (this.#quietWanted !== null && this.#quietCheck === null) {
      this.#quietCheck = setImmediate(() => {
        this.#quietCheck = null
        this.#quietIfDue()
      })
    }
  }

  /**
   * The newest committable entry at or before the barrier, given a new
   * committable `entry`: the entry itself, the one held back before it
   * (now passed by the barrier), or null. An entry past the barrier is held
   * back (only the newest: an older one past it too is in the same
   * unverified stretch, and the barrier passes both at once).
   */
  #admit(entry: JournalEntry | null): JournalEntry | null {
    if (!this.#barrier) return entry
    const barrier = this.#barrier()
    let admitted: JournalEntry | null = null
    if (this.#held && comparePositions(positionOf(this.#held), barrier) <= 0) {
      admitted = this.#held
      this.#held = null
    }
    if (!entry) return admitted
    if (comparePositions(positionOf(entry), barrier) <= 0) return entry
    this.#held = entry
    return admitted
  }

  /**
   * A committable entry every listener was written: a sync-and-commit round
   * after it may start. A round running or a timer waiting for the interval
   * takes the newest candidate when it ends, so they need no call per batch.
   */
  #offer(entry: JournalEntry): void {
    this.#candidate = entry
    if (!this.#round && !this.#commitTimer) this.#maybeSync(false)
  }

  /** Starts a sync-and-commit round when one is due (or `force`d) and none runs. */
  #maybeSync(force: boolean): void {
    if (this.#stopped) return
    if (this.#round) {
      if (force) this.#forceWanted = true
      return
    }
    const admitted = this.#admit(null)
    if (admitted) this.#candidate = admitted
    const e = this.#candidate
    if (!e) return
    const c: Candidate = { position: { journal: e.position.journal as number, offset: e.position.end }, entry: e }
    if (this.#committed && comparePositions(c.position, this.#committed) <= 0) return
    // Synced already, a listener holding the commit back: only a newer point can move it.
    if (this.#synced && comparePositions(c.position, this.#synced) <= 0) return
    // The monotonic clock: a wall clock stepped back (NTP, a VM restored) held every commit back for as long as the step.
    const wait = this.#roundStartedAt + this.#interval - performance.now()
    if (!force && wait > 0) {
      this.#commitTimer ??= setTimeout(() => {
        this.#commitTimer = null
        this.#maybeSync(false)
      }, wait)
      return
    }
    if (this.#commitTimer) clearTimeout(this.#commitTimer)
    this.#commitTimer = null
    this.#roundStartedAt = performance.now()
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
    // Unreachable by construction (#admit); a last guard: nothing past the barrier is ever synced.
    if (this.#barrier && comparePositions(c.position, this.#barrier()) > 0) return
    const durable = await Promise.all(this.#writables.map((w) => w.requestSync(c.position)))
    this.#synced = c.position
    if (this.#stopped) return
    // A listener that could not make the point durable yet (it returned an earlier one): commit no later than that.
    let at = c.position
    for (const d of durable) if (comparePositions(d, at) < 0) at = d
    if (this.#committed && comparePositions(at, this.#committed) <= 0) return
    await this.#commit?.(at, at === c.position ? c.entry : undefined)
    this.#committed = at
    this.#tell(() => this.#observer.committed?.(at))
    this.emit('commit', at)
  }

  #armQuiet(ms: number): void {
    if (this.#quietMs <= 0 || this.#stopped) return
    this.#quietTimer = setTimeout(() => this.#onQuietTimer(), ms)
  }

  #onQuietTimer(): void {
    this.#quietTimer = null
    // Entries waiting for a slow listener are not quiet: the wait counts from when they are handed on.
    if (this.#dispatching || this.writableLength > 0) {
      this.#armQuiet(this.#quietMs)
      return
    }
    const idle = performance.now() - this.#lastEntryAt
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
   *
   * `noData` comes after the entries read before the quiet, never before
   * them: it waits until the entry at `through` (the source's position
   * when it went quiet) has been written to the listeners, or until
   * nothing is left to write (none in the chain's buffer or in the stream
   * piped into it). Calls while one waits are one quiet, at the later
   * position. Resolves once the `noData` calls are queued, or the chain
   * stopped first; a call once the input has ended does nothing.
   */
  quiet(through: JournalPosition | null = null): Promise<void> {
    if (this.#stopped || this.destroyed || this.writableEnded) return Promise.resolve()
    const wanted = this.#quietWanted
    if (wanted) {
      if (through && (!wanted.through || comparePositions(through, wanted.through) > 0)) wanted.through = through
      this.#quietIfDue()
      return wanted.queued
    }
    let resolve!: () => void
    const queued = new Promise<void>((r) => (resolve = r))
    this.#quietWanted = { through, queued, resolve }
    this.#quietIfDue()
    return queued
  }

  /** Applies the waiting quiet once what was read before it has been written to the listeners. */
  #quietIfDue(): void {
    const wanted = this.#quietWanted
    if (wanted === null) return
    if (!this.#stopped && !this.destroyed) {
      const last = this.#lastDispatched
      const reached = wanted.through !== null && last !== null && last.position.journal !== null && comparePositions(positionOf(last), wanted.through) >= 0
      const empty = !this.#dispatching && this.writableLength === 0 && (this.#upstream?.readableLength ?? 0) === 0
      if (!reached && !empty) return
      this.#quietWanted = null
      this.#quietNow()
    } else this.#quietWanted = null
    wanted.resolve()
  }

  #quietNow(): void {
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

  #entriesRead(observer: ChainObserver, entries: readonly JournalEntry[]): void {
    try {
      observer.entriesRead?.(entries)
    } catch (err) {
      this.#logger?.error({ err }, 'status observer failed')
    }
  }

  #entryRead(observer: ChainObserver, entry: JournalEntry): void {
    try {
      observer.entryRead?.(entry)
    } catch (err) {
      this.#logger?.error({ err }, 'status observer failed')
    }
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
    if (this.#quietCheck) clearImmediate(this.#quietCheck)
    this.#commitTimer = null
    this.#quietTimer = null
    this.#quietCheck = null
  }

  /** End of input: let listeners finish, sync and commit the last point, then close them. */
  override _final(cb: (err?: Error | null) => void): void {
    // Every entry has been written to the listeners: a quiet that waited for them comes now, before the last sync.
    this.#quietIfDue()
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
    this.#quietIfDue()
    const open = this.#writables.filter((w) => !w.closed)
    for (const w of open) w.destroy(err ?? undefined)
    Promise.all(open.map((w) => finished(w).catch(() => {}))).then(() => cb(err))
  }
}

/**
 * Calls `done` once every stream in `streams` that waits for `drain`
 * (`writableNeedDrain`) has emitted it, or with the first stream's error
 * (or a premature close) instead. Plain listeners, no promise: the chain
 * waits like this every highWaterMark entries.
 */
export function whenDrained(streams: readonly Writable[], done: (err?: Error) => void): void {
  let waiting = 0
  let settled = false
  const cleanups: (() => void)[] = []
  const settle = (err?: Error): void => {
    if (settled) return
    settled = true
    for (const c of cleanups) c()
    done(err)
  }
  for (const s of streams) {
    if (!s.writableNeedDrain) continue
    waiting++
    const onDrain = (): void => {
      cleanup()
      if (--waiting === 0) settle()
    }
    const onError = (err: Error): void => settle(err)
    const onClose = (): void =>
      settle(s.errored ?? Object.assign(new Error('premature close: a listener closed before it drained'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))
    const cleanup = (): void => {
      s.off('drain', onDrain)
      s.off('error', onError)
      s.off('close', onClose)
    }
    s.on('drain', onDrain)
    s.on('error', onError)
    s.on('close', onClose)
    cleanups.push(cleanup)
  }
  if (waiting === 0) settle()
}

function positionOf(entry: JournalEntry): JournalPosition {
  return { journal: entry.position.journal as number, offset: entry.position.end }
}

/** A source that says where its bytes are known good (RotatingJournalSource). */
function hasCommitBarrier(src: unknown): src is { readonly commitBarrier: JournalPosition } {
  if (typeof src !== 'object' || src === null || !('commitBarrier' in src)) return false
  const b = (src as { commitBarrier: unknown }).commitBarrier
  return typeof b === 'object' && b !== null && 'journal' in b && 'offset' in b
}
