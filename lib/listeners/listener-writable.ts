import { Writable } from 'node:stream'
import { ErrorCodes, LogdaemonError, toError } from '../errors.js'
import { JournalEntry } from '../journal/entry.js'
import { comparePositions, formatPosition, isPosition, type JournalPosition } from '../position.js'
import type { Listener, ListenerContext, ListenerLogger } from './listener.js'
import { isThenable, listenerFailed, retryCall, RetryFailure, type RetryContext } from './listener-call.js'
import { isRetryable, retrySettings, type RetryOptions } from '../retry.js'

/** What a listener's Writable reports as it goes (the StatusTracker has these methods). */
export interface ListenerObserver {
  /**
   * Entries the listener handled and skipped since the last report: at
   * most once per turn of the event loop (so the counts are never more
   * than a turn behind, however slow or fast the listener), always before
   * a retry or error report about it, and when it ends. When present it
   * takes the place of `listenerHandled` and `listenerSkipped`, which cost
   * a call per entry.
   */
  listenerProgress?(name: string, handled: number, skipped: number): void
  listenerHandled?(name: string, entry: JournalEntry): void
  listenerSkipped?(name: string): void
  listenerRetry?(name: string, err: Error): void
  listenerError?(name: string, err: Error): void
}

export interface ListenerWritableOptions {
  retry?: RetryOptions
  /** Entries buffered before `write()` returns false. Default 16 (Node's object-mode default). */
  highWaterMark?: number
  /** Where the daemon resumes from, passed to `open()`. */
  start?: JournalPosition | null
  /** Passed to `open()`: `start` is a consistency point saved after a transaction marker. */
  startsAfterMarker?: boolean
  /** Passed to `open()`: where the journal before `start` ended (ListenerContext.previousEnd). */
  previousEnd?: JournalPosition
  logger?: ListenerLogger
  /** Aborting it stops retries and is passed on to the listener. */
  signal?: AbortSignal
  observer?: ListenerObserver
  /**
   * At the end of the input, call `sync()` with the end of the last entry
   * before `close()`. Default true; the chain turns it off because it syncs
   * at consistency points itself.
   */
  syncOnEnd?: boolean
}

/** A control item travelling in order with the entries: run `sync` or `noData` between two entries. */
class ListenerControl {
  readonly kind: 'sync' | 'noData'
  readonly position: JournalPosition | null
  readonly hadData: boolean
  /** Resolves with the position made durable (`sync`: `position`, or an earlier one the listener returned). */
  readonly done: Promise<JournalPosition | null>
  resolve!: (durable: JournalPosition | null) => void
  reject!: (err: Error) => void

  constructor(kind: 'sync' | 'noData', position: JournalPosition | null, hadData: boolean) {
    this.kind = kind
    this.position = position
    this.hadData = hadData
    this.done = new Promise<JournalPosition | null>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    // A destroyed stream rejects pending controls; nobody may be waiting.
    this.done.catch(() => {})
  }
}

/** A call being retried (see ListenerWritable.retrying). */
export interface RetryingCall {
  /** `open`, `listen`, `sync`, `noData` (or `sync(N/offset)` at the end of the input). */
  readonly call: string
  /** The entry's position (`listen`) as `N/offset`, else null. */
  readonly at: string | null
  /** Attempts that failed so far. */
  readonly failures: number
  /** When the first attempt failed (epoch ms). */
  readonly since: number
}

const silentLogger: ListenerLogger = { debug() {}, info() {}, warn() {}, error() {} }

type Done = (err?: Error | null) => void

/** How long a stop lets an open not finished end by itself before it abandons it (see _construct). */
const ABANDON_OPEN_MS = 200

/**
 * A {@link Listener} as an object-mode Writable of {@link JournalEntry} (or
 * of arrays of them, batches, each one write): in
 * journal order and one at a time, each entry goes to `isHandled`, then to
 * `listen` when handled. Entries that waited while a call ran come as one
 * batch (`_writev`), still one call at a time; a `listen` that returns
 * without a promise costs none, one that returns a promise costs one await. A failing `listen` (throw or rejection) is retried
 * with backoff; when the retries run out the stream fails with
 * ERR_LISTENER_FAILED naming the listener and the entry's position. Errors
 * that are TypeErrors (bugs) or carry `retryable: false` are not retried.
 *
 * Bounded: at most `highWaterMark` writes (default 16; entries, or batches
 * when batches are written) wait in the buffer before `write()` returns
 * false, plus at most one `sync` and one `noData` control the chain puts in
 * between.
 *
 * `open()` runs before the first entry, `close()` once at the end (after
 * `sync()` of the last entry unless `syncOnEnd` is false) or on destroy.
 *
 * {@link stopRetrying} is the daemon's graceful stop: calls that succeed
 * go on as usual, but none is retried any more, and an `open` not finished
 * or a call being retried is abandoned at once.
 */
export class ListenerWritable extends Writable {
  readonly listener: Listener
  readonly #retryContext: RetryContext
  readonly #logger: ListenerLogger
  readonly #observer: ListenerObserver
  readonly #abort = new AbortController()
  readonly #start: JournalPosition | null
  readonly #previousEnd: JournalPosition | null
  readonly #startsAfterMarker: boolean
  readonly #syncOnEnd: boolean
  readonly #pending = new Set<ListenerControl>()
  /** Position of the last entry finished (handled or skipped). */
  #through: JournalEntry['position'] | null = null
  /** Whether an entry was handled since the last `sync`. */
  #unsynced = false
  #closed = false
  /** The operation in progress, so `_destroy` can wait for it before `close()`. */
  #inflight: Promise<unknown> | null = null
  /** `open()` (with its retries) has not finished yet. */
  #opening = false
  #opened = false
  /** The call being retried now, or null. */
  #retrying: { call: string; at: string | null; failures: number; since: number } | null = null
  /** Set by stopRetrying: no call is retried any more. */
  #stopReason: Error | null = null
  /** Whether the observer takes counts (`listenerProgress`) rather than a call per entry. */
  readonly #countProgress: boolean
  /** Entries handled and skipped not reported yet, and the report that will tell them. */
  #unreportedHandled = 0
  #unreportedSkipped = 0
  #report: NodeJS.Immediate | null = null
  /** Entries handled and skipped. */
  handled = 0
  skipped = 0

  constructor(listener: Listener, options: ListenerWritableOptions = {}) {
    super({ objectMode: true, highWaterMark: options.highWaterMark ?? 16 })
    const opts = { ...options }
    this.listener = listener
    this.#retryContext = {
      retry: retrySettings(opts.retry),
      signal: this.#abort.signal,
      onRetry: (err, retriesLeft, what, at) => {
        if (this.#retrying) this.#retrying.failures++
        this.#logger.warn({ listener: this.name, err, retriesLeft, at }, `listener ${this.name} failed in ${what}; retrying`)
        this.#tell('listenerRetry', err)
      },
    }
    this.#logger = opts.logger ?? silentLogger
    this.#observer = opts.observer ?? {}
    this.#countProgress = typeof this.#observer.listenerProgress === 'function'
    this.#start = opts.start ?? null
    this.#startsAfterMarker = opts.startsAfterMarker === true
    this.#previousEnd = opts.previousEnd ?? null
    this.#syncOnEnd = opts.syncOnEnd ?? true
    if (opts.signal) {
      const outer = opts.signal
      if (outer.aborted) this.#abort.abort(outer.reason)
      else outer.addEventListener('abort', () => this.#abort.abort(outer.reason), { once: true })
    }
  }

  /** The listener's name. */
  get name(): string {
    return this.listener.name
  }

  /** Position of the last entry this listener finished (handled or skipped), or null. */
  get through(): JournalEntry['position'] | null {
    return this.#through
  }

  /** Whether `open()` has succeeded (true at once for a listener without one). */
  get opened(): boolean {
    return this.#opened
  }

  /** The call being retried now (failed at least once, waiting for its next attempt or in it), or null. */
  get retrying(): RetryingCall | null {
    return this.#retrying ? { ...this.#retrying } : null
  }

  /**
   * The daemon is stopping gracefully (SIGTERM): calls that succeed go on
   * as usual (a healthy listener finishes the entries it has and syncs),
   * but a call that fails from now on is not retried, and an `open` not
   * finished or a call being retried now is abandoned at once: its backoff
   * delay ends, and the listener's `signal` (ListenerContext) aborts so
   * that its own waits end too. The stream then fails with an
   * ERR_LISTENER_FAILED error whose `details.stopping` is true
   * (isStopping): the listener's work in hand is dropped, never synced.
   * An error that no retry could fix (`retryable: false`, a TypeError)
   * still fails as it would have. Idempotent.
   */
  stopRetrying(reason?: Error): void {
    if (this.#stopReason || this.destroyed) return
    this.#stopReason = reason ?? new LogdaemonError(ErrorCodes.LISTENER_FAILED, 'the daemon is stopping')
    if (this.#opening || this.#retrying) this.#abort.abort(this.#stopReason)
  }

  /**
   * Runs `sync(position)` after every entry written before this call;
   * resolves when it has (or rejects with the stream's error), with the
   * position the listener made durable: `position`, or the earlier one its
   * `sync` returned.
   */
  requestSync(position: JournalPosition): Promise<JournalPosition> {
    return this.#control(new ListenerControl('sync', position, false)) as Promise<JournalPosition>
  }

  /** Runs `noData(hadData)` after every entry written before this call. */
  async requestNoData(hadData: boolean): Promise<void> {
    await this.#control(new ListenerControl('noData', null, hadData))
  }

  #control(c: ListenerControl): Promise<JournalPosition | null> {
    if (this.destroyed || this.writableEnded) {
      return Promise.reject(new LogdaemonError(ErrorCodes.LISTENER_FAILED, `listener "${this.name}" is closed`))
    }
    this.#pending.add(c)
    this.write(c)
    return c.done
  }

  override _construct(cb: Done): void {
    if (!this.listener.open) {
      this.#opened = true
      cb()
      return
    }
    const context: ListenerContext = {
      start: this.#start,
      startsAfterMarker: this.#startsAfterMarker,
      ...(this.#previousEnd ? { previousEnd: this.#previousEnd } : {}),
      logger: this.#logger,
      signal: this.#abort.signal,
    }
    this.#opening = true
    let finished = false
    const finish = (err?: Error | null): void => {
      if (finished) return
      finished = true
      this.#abort.signal.removeEventListener('abort', abandon)
      this.#opening = false
      this.#opened = !err
      cb(err ?? null)
    }
    // A stop abandons an open not finished, whether or not the listener heeds its signal: one that never
    // settles (a connect without a timeout) held the stop until stopTimeoutMs, then exit 1. It is given a
    // moment first: an open that heeds its signal, or a retry's backoff, ends at once with its own error,
    // which names the last failure.
    const abandon = (): void => {
      setTimeout(() => {
        if (finished) return
        this.#inflight = null
        // As a stop-ended open reads: "never opened: the daemon is stopping" (the abort is its cause).
        finish(this.#failed(this.#abort.signal.reason as Error, null, 'open', 1))
      }, ABANDON_OPEN_MS).unref()
    }
    this.#abort.signal.addEventListener('abort', abandon, { once: true })
    // A stop that came first: the open is told at once.
    if (this.#stopReason) this.#abort.abort(this.#stopReason)
    if (!finished) this.#guard(() => this.listener.open?.(context), 'open', finish)
  }

  /** An array of entries (a batch, as ListenerChain with `batch` writes them) is handled in order, one entry at a time. */
  override _write(chunk: unknown, _enc: BufferEncoding, cb: Done): void {
    this.#run(Array.isArray(chunk) ? chunk : [chunk], 0, cb)
  }

  /** What waited while a call ran comes as one batch: handled in order, as one entry at a time. */
  override _writev(chunks: { chunk: unknown }[], cb: Done): void {
    const items: unknown[] = []
    for (const { chunk } of chunks) {
      if (!Array.isArray(chunk)) items.push(chunk)
      else for (const entry of chunk) items.push(entry)
    }
    this.#run(items, 0, cb)
  }

  /**
   * Runs `items` in order and calls `cb` once: at the end, or with the first
   * error that retries could not fix. Calls that return synchronously run
   * inline, without a promise; from the first that returns a promise (or
   * throws), the rest runs in {@link #runAsync}, one await per such call.
   */
  #run(items: unknown[], i: number, cb: Done): void {
    let call: PromiseLike<unknown> | undefined
    try {
      for (; i < items.length && !this.destroyed; i++) {
        call = this.#begin(items[i])
        if (call) break
      }
    } catch (err) {
      cb(toError(err))
      return
    }
    if (call) this.#settle(this.#runAsync(call, items, i), cb)
    else cb()
  }

  /**
   * Runs `items` from `i`, whose call `first` is in progress, one at a time:
   * each next item starts when the call before it has settled. Chained with
   * `then` rather than an `await` per item (an async function's resumption
   * cost about half again as much per entry, measured with an async no-op
   * listener); a rejection is retried before the next item starts.
   */
  #runAsync(first: PromiseLike<unknown>, items: unknown[], i: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (result?: unknown): void => {
        try {
          this.#finish(items[i] as JournalEntry | ListenerControl, result)
          for (;;) {
            if (++i >= items.length || this.destroyed) {
              resolve()
              return
            }
            const call = this.#begin(items[i])
            if (call) {
              Promise.resolve(call).then(done, failed)
              return
            }
          }
        } catch (err) {
          reject(err)
        }
      }
      const failed = (err: unknown): void => {
        const item = items[i] as JournalEntry | ListenerControl
        const entry = item instanceof JournalEntry ? item : null
        this.#retryAfter(toError(err), () => this.#invoke(item), entry, entry ? 'listen' : (item as ListenerControl).kind).then(done, reject)
      }
      Promise.resolve(first).then(done, failed)
    })
  }

  /**
   * Starts one item: undefined when it finished inline, else the call in
   * progress, whose rejection is retried (a synchronous throw comes back
   * as a rejected promise). Throws what fails the stream without retries.
   */
  #begin(item: unknown): PromiseLike<unknown> | undefined {
    if (item instanceof JournalEntry) {
      let wanted: boolean
      try {
        wanted = this.listener.isHandled(item)
      } catch (err) {
        // isHandled is a pure predicate: a throw is a bug, not worth retrying.
        throw this.#failed(toError(err), item, 'isHandled', 1)
      }
      if (!wanted) {
        this.skipped++
        this.#through = item.position
        if (this.#countProgress) {
          this.#unreportedSkipped++
          this.#report ??= setImmediate(this.#reportProgress)
        } else this.#tell('listenerSkipped', item)
        return undefined
      }
    } else if (!(item instanceof ListenerControl)) {
      throw new TypeError(`listener "${this.name}" was written a ${typeof item}, not a JournalEntry`)
    }
    let result: unknown
    try {
      result = this.#invoke(item)
    } catch (err) {
      return Promise.reject(toError(err))
    }
    if (isThenable(result)) return result
    this.#finish(item, result)
    return undefined
  }

  #invoke(item: JournalEntry | ListenerControl): unknown {
    if (item instanceof JournalEntry) return this.listener.listen(item)
    if (item.kind === 'sync') return this.listener.sync?.(item.position as JournalPosition)
    return this.listener.noData(item.hadData)
  }

  /** An item is done; `result` is what its call returned (a `sync` may return an earlier position it made durable). */
  #finish(item: JournalEntry | ListenerControl, result?: unknown): void {
    if (item instanceof JournalEntry) {
      this.handled++
      this.#through = item.position
      this.#unsynced = true
      if (this.#countProgress) {
        this.#unreportedHandled++
        this.#report ??= setImmediate(this.#reportProgress)
      } else this.#tell('listenerHandled', item)
      return
    }
    this.#pending.delete(item)
    if (item.kind !== 'sync') {
      item.resolve(null)
      return
    }
    const asked = item.position as JournalPosition
    const durable = isPosition(result) && comparePositions(result, asked) < 0 ? { journal: result.journal, offset: result.offset } : asked
    if (durable === asked) this.#unsynced = false
    item.resolve(durable)
  }

  /** Calls `fn` once inline and through p-retry when it throws or rejects; `done` gets null or the ERR_LISTENER_FAILED error. */
  #guard(fn: () => unknown, what: string, done: Done): void {
    let result: unknown
    try {
      result = fn()
    } catch (err) {
      this.#settle(this.#retryAfter(toError(err), fn, null, what), done)
      return
    }
    if (!isThenable(result)) done(null)
    else
      this.#settle(
        Promise.resolve(result).then(undefined, (err: unknown) => this.#retryAfter(toError(err), fn, null, what)),
        done,
      )
  }

  /** Remembers the work in progress (`_destroy` waits for it) and calls `done` when it settles. */
  #settle(p: Promise<unknown>, done: Done): void {
    this.#inflight = p
    p.then(
      () => {
        this.#inflight = null
        done(null)
      },
      (err: unknown) => {
        this.#inflight = null
        done(toError(err))
      },
    )
  }

  /**
   * Resolves after a retry succeeds; rejects with ERR_LISTENER_FAILED when
   * the retries run out, or at once once the daemon is stopping
   * (stopRetrying): a call that fails then is not retried.
   */
  async #retryAfter(first: Error, fn: () => unknown, entry: JournalEntry | null, what: string): Promise<void> {
    let failure: RetryFailure
    this.#retrying = { call: what, at: entry ? formatEntryAt(entry) : null, failures: 0, since: Date.now() }
    try {
      if (this.#stopReason === null) {
        await retryCall(first, fn, entry, what, this.#retryContext)
        return
      }
      // Failed once the stop had aborted the listener's signal: maybe because of it, so not named as its failure.
      const before = !this.#abort.signal.aborted
      failure = new RetryFailure(first, 1, before ? first : null, before ? 1 : 0)
    } catch (err) {
      failure = err as RetryFailure
    } finally {
      this.#retrying = null
    }
    throw this.#failed(failure.failure, entry, what, failure.attempts, failure)
  }

  /**
   * The error a call that failed for good fails the stream with. Ended by
   * the stop rather than by the listener: the abort (a destroy, or
   * stopRetrying) was the cause, or the daemon was stopping and the error
   * of a call that is retried (`retried`: not isHandled, not close) was one
   * a retry might have fixed.
   */
  #failed(cause: Error, entry: JournalEntry | null, what: string, attempts: number, retried: RetryFailure | null = null): Error {
    const signal = this.#abort.signal
    const aborted = signal.aborted && cause === signal.reason
    const stopping = aborted || (retried !== null && this.#stopReason !== null && isRetryable(cause) && !(cause instanceof TypeError))
    const err = stopping
      ? // What attempts failed with before the stop (not the abort, nor what it caused).
        listenerFailed(this.name, cause, entry, what, retried?.failed ?? 0, true, retried?.last ?? null)
      : listenerFailed(this.name, cause, entry, what, attempts, false)
    if (!stopping) this.#tell('listenerError', err)
    return err
  }

  /** Tells `listenerProgress` the entries handled and skipped since the last report, if any (now, or at the end of the turn). */
  readonly #reportProgress = (): void => {
    if (this.#report !== null) clearImmediate(this.#report)
    this.#report = null
    const handled = this.#unreportedHandled
    const skipped = this.#unreportedSkipped
    if (handled === 0 && skipped === 0) return
    this.#unreportedHandled = 0
    this.#unreportedSkipped = 0
    try {
      this.#observer.listenerProgress?.(this.name, handled, skipped)
    } catch (err) {
      this.#logger.error({ err, listener: this.name }, 'status observer failed')
    }
  }

  /** Observers report; one that throws is logged, never allowed to stop the stream. No closure per entry. */
  #tell(event: keyof ListenerObserver, arg: JournalEntry | Error): void {
    // What was handled before a retry or an error is told first, so the report after it is the newest.
    if (this.#countProgress) this.#reportProgress()
    const fn = this.#observer[event] as ((name: string, arg: JournalEntry | Error) => void) | undefined
    if (!fn) return
    try {
      fn.call(this.#observer, this.name, arg)
    } catch (err) {
      this.#logger.error({ err, listener: this.name }, 'status observer failed')
    }
  }

  override _final(cb: Done): void {
    this.#reportProgress()
    const through = this.#through
    if (!this.#syncOnEnd || !this.#unsynced || !through || !this.listener.sync) {
      this.#close(cb)
      return
    }
    const position = { journal: through.journal ?? 0, offset: through.end }
    this.#guard(
      () => this.listener.sync?.(position),
      `sync(${formatPosition(position)})`,
      (err) => {
        if (err) cb(err)
        else this.#close(cb)
      },
    )
  }

  #close(cb: Done): void {
    if (this.#closed) {
      cb()
      return
    }
    this.#closed = true
    let result: unknown
    try {
      result = this.listener.close()
    } catch (err) {
      cb(this.#failed(toError(err), null, 'close', 1))
      return
    }
    if (!isThenable(result)) cb()
    else
      Promise.resolve(result).then(
        () => cb(),
        (err: unknown) => cb(this.#failed(toError(err), null, 'close', 1)),
      )
  }

  override _destroy(err: Error | null, cb: Done): void {
    this.#reportProgress()
    this.#abort.abort(err ?? new Error('destroyed'))
    const reason = err ?? new LogdaemonError(ErrorCodes.LISTENER_FAILED, `listener "${this.name}" was closed before this ran`)
    for (const c of this.#pending) c.reject(reason)
    this.#pending.clear()
    // Let the call in progress settle (retries end at once on abort) before close().
    const inflight = this.#inflight ?? Promise.resolve()
    void inflight
      .catch(() => {})
      .then(() => {
        this.#close((closeErr) => cb(err ?? closeErr ?? null))
      })
  }
}

/** An entry's position as `N/offset` (`offset` without a journal number). */
function formatEntryAt(entry: JournalEntry): string {
  const p = entry.position
  return p.journal === null ? String(p.offset) : `${p.journal}/${p.offset}`
}
