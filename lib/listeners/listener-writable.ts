import { Writable } from 'node:stream'
import pRetry from 'p-retry'
import { ErrorCodes, LogdaemonError, formatWhere, toError } from '../errors.js'
import { JournalEntry } from '../journal/entry.js'
import { formatPosition, type JournalPosition } from '../journal/position.js'
import type { Listener, ListenerContext, ListenerLogger } from './listener.js'
import { ListenerControl } from './listener-control.js'
import { isRetryable, retrySettings, type RetryOptions } from './retry-options.js'

export { DEFAULT_RETRY, type RetryOptions } from './retry-options.js'

/** What a listener's Writable reports as it goes (the StatusTracker has these methods). */
export interface ListenerObserver {
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

const silentLogger: ListenerLogger = { debug() {}, info() {}, warn() {}, error() {} }

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

/**
 * A {@link Listener} as an object-mode Writable of {@link JournalEntry}: in
 * journal order and one at a time, each entry goes to `isHandled`, then to
 * `listen` when handled. A failing `listen` (throw or rejection) is retried
 * with backoff; when the retries run out the stream fails with
 * ERR_LISTENER_FAILED naming the listener and the entry's position. Errors
 * that are TypeErrors (bugs) or carry `retryable: false` are not retried.
 *
 * Bounded: at most `highWaterMark` entries (default 16) wait in the buffer
 * before `write()` returns false, plus at most one `sync` and one `noData`
 * control the chain puts in between.
 *
 * `open()` runs before the first entry, `close()` once at the end (after
 * `sync()` of the last entry unless `syncOnEnd` is false) or on destroy.
 */
export class ListenerWritable extends Writable {
  readonly listener: Listener
  readonly #retry: Required<RetryOptions>
  readonly #logger: ListenerLogger
  readonly #observer: ListenerObserver
  readonly #abort = new AbortController()
  readonly #start: JournalPosition | null
  readonly #syncOnEnd: boolean
  readonly #pending = new Set<ListenerControl>()
  /** Position of the last entry finished (handled or skipped). */
  #through: JournalEntry['position'] | null = null
  /** Whether an entry was handled since the last `sync`. */
  #unsynced = false
  #closed = false
  /** The operation in progress, so `_destroy` can wait for it before `close()`. */
  #inflight: Promise<unknown> | null = null
  /** Entries handled and skipped. */
  handled = 0
  skipped = 0

  constructor(listener: Listener, options: ListenerWritableOptions = {}) {
    super({ objectMode: true, highWaterMark: options.highWaterMark ?? 16 })
    const opts = { ...options }
    this.listener = listener
    this.#retry = retrySettings(opts.retry)
    this.#logger = opts.logger ?? silentLogger
    this.#observer = opts.observer ?? {}
    this.#start = opts.start ?? null
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

  /**
   * Runs `sync(position)` after every entry written before this call;
   * resolves when it has (or rejects with the stream's error).
   */
  requestSync(position: JournalPosition): Promise<void> {
    return this.#control(new ListenerControl('sync', position, false))
  }

  /** Runs `noData(hadData)` after every entry written before this call. */
  requestNoData(hadData: boolean): Promise<void> {
    return this.#control(new ListenerControl('noData', null, hadData))
  }

  #control(c: ListenerControl): Promise<void> {
    if (this.destroyed || this.writableEnded) {
      return Promise.reject(new LogdaemonError(ErrorCodes.LISTENER_FAILED, `listener "${this.name}" is closed`))
    }
    this.#pending.add(c)
    this.write(c)
    return c.done
  }

  override _construct(cb: (err?: Error | null) => void): void {
    if (!this.listener.open) {
      cb()
      return
    }
    const context: ListenerContext = { start: this.#start, logger: this.#logger, signal: this.#abort.signal }
    this.#guard(() => this.listener.open?.(context), null, 'open', cb)
  }

  override _write(chunk: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (chunk instanceof ListenerControl) {
      this.#runControl(chunk, cb)
      return
    }
    if (!(chunk instanceof JournalEntry)) {
      cb(new TypeError(`listener "${this.name}" was written a ${typeof chunk}, not a JournalEntry`))
      return
    }
    const entry = chunk
    let wanted: boolean
    try {
      wanted = this.listener.isHandled(entry)
    } catch (err) {
      // isHandled is a pure predicate: a throw is a bug, not worth retrying.
      cb(this.#failed(toError(err), entry, 'isHandled', 1))
      return
    }
    if (!wanted) {
      this.skipped++
      this.#through = entry.position
      this.#tell(() => this.#observer.listenerSkipped?.(this.name))
      cb()
      return
    }
    this.#guard(
      () => this.listener.listen(entry),
      entry,
      'listen',
      (err) => {
        if (err) {
          cb(err)
          return
        }
        this.handled++
        this.#through = entry.position
        this.#unsynced = true
        this.#tell(() => this.#observer.listenerHandled?.(this.name, entry))
        cb()
      },
    )
  }

  #runControl(c: ListenerControl, cb: (err?: Error | null) => void): void {
    const run =
      c.kind === 'sync'
        ? () => {
            const position = c.position as JournalPosition
            return this.listener.sync?.(position)
          }
        : () => this.listener.noData(c.hadData)
    this.#guard(run, null, c.kind, (err) => {
      this.#pending.delete(c)
      if (err) {
        c.reject(err)
        cb(err)
        return
      }
      if (c.kind === 'sync') this.#unsynced = false
      c.resolve()
      cb()
    })
  }

  /**
   * Calls `fn` once inline (no promise for synchronous listeners), and
   * through p-retry when it throws or rejects. `done` gets null or the
   * ERR_LISTENER_FAILED error; it is never called synchronously twice.
   */
  #guard(
    fn: () => unknown,
    entry: JournalEntry | null,
    what: string,
    done: (err: Error | null) => void,
  ): void {
    let result: unknown
    try {
      result = fn()
    } catch (err) {
      this.#retryAfter(toError(err), fn, entry, what, done)
      return
    }
    if (!isThenable(result)) {
      done(null)
      return
    }
    const p = Promise.resolve(result).then(
      () => done(null),
      (err: unknown) => this.#retryAfter(toError(err), fn, entry, what, done),
    )
    this.#track(p)
  }

  #retryAfter(
    first: Error,
    fn: () => unknown,
    entry: JournalEntry | null,
    what: string,
    done: (err: Error | null) => void,
  ): void {
    let attempts = 0
    const p = pRetry(
      async () => {
        attempts++
        // The first attempt already ran (inline); hand p-retry its error.
        if (attempts === 1) throw first
        await fn()
      },
      {
        ...this.#retry,
        signal: this.#abort.signal,
        shouldRetry: ({ error, retriesLeft }) => {
          if (!isRetryable(error)) return false
          this.#logger.warn({ listener: this.name, err: error, retriesLeft, at: entry ? formatWhere(entry.position) : what }, `listener ${this.name} failed in ${what}; retrying`)
          this.#tell(() => this.#observer.listenerRetry?.(this.name, error))
          return true
        },
      },
    ).then(
      () => done(null),
      (err: unknown) => done(this.#failed(toError(err), entry, what, attempts)),
    )
    this.#track(p)
  }

  #track(p: Promise<unknown>): void {
    this.#inflight = p
    void p.finally(() => {
      if (this.#inflight === p) this.#inflight = null
    })
  }

  #failed(cause: Error, entry: JournalEntry | null, what: string, attempts: number): LogdaemonError {
    if (this.#abort.signal.aborted && cause === this.#abort.signal.reason) {
      return new LogdaemonError(ErrorCodes.LISTENER_FAILED, `listener "${this.name}" stopped in ${what}: the daemon is stopping`, { cause, details: { listener: this.name } })
    }
    const where = entry ? ` on the entry at ${formatWhere(entry.position)}` : ''
    const tries = attempts > 1 ? ` after ${attempts} attempts` : ''
    const err = new LogdaemonError(
      ErrorCodes.LISTENER_FAILED,
      `listener "${this.name}" failed in ${what}${where}${tries}: ${cause.message}. ` +
        'Nothing past the last fully handled entry was committed: fix the cause and restart, the daemon resumes from the last committed position',
      {
        cause,
        journal: entry?.position.journal ?? null,
        offset: entry?.position.offset ?? null,
        line: entry?.position.line ?? null,
        details: { listener: this.name, operation: what },
      },
    )
    this.#tell(() => this.#observer.listenerError?.(this.name, err))
    return err
  }

  /** Observers report; one that throws is logged, never allowed to stop the stream. */
  #tell(fn: () => void): void {
    try {
      fn()
    } catch (err) {
      this.#logger.error({ err, listener: this.name }, 'status observer failed')
    }
  }

  override _final(cb: (err?: Error | null) => void): void {
    const through = this.#through
    if (!this.#syncOnEnd || !this.#unsynced || !through || !this.listener.sync) {
      this.#close(cb)
      return
    }
    const position = { journal: through.journal ?? 0, offset: through.end }
    this.#guard(
      () => this.listener.sync?.(position),
      null,
      `sync(${formatPosition(position)})`,
      (err) => {
        if (err) cb(err)
        else this.#close(cb)
      },
    )
  }

  #close(cb: (err?: Error | null) => void): void {
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
    if (!isThenable(result)) {
      cb()
      return
    }
    Promise.resolve(result).then(
      () => cb(),
      (err: unknown) => cb(this.#failed(toError(err), null, 'close', 1)),
    )
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
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
