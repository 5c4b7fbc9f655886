import { Readable } from 'node:stream'
import { ErrorCodes, isErrnoException, isLogdaemonError, toError } from '../errors.js'
import { liveJournalPath } from '../files/journal-name.js'
import { readState } from '../files/state-file.js'
import { StateLock } from '../files/state-lock.js'
import { JournalEntry, type EntryPosition, type FieldEncoding } from '../journal/entry.js'
import { destroyedWithoutError, EntryIterator } from '../journal/entry-iterator.js'
import { JournalFramer, checkMaxEntryBytes, type RecordSink } from '../journal/framer.js'
import { comparePositions, type JournalPosition } from '../position.js'
import { ConsistencyTracker } from './consistency.js'
import { JournalCursor, type CursorStep } from './journal-cursor.js'
import type { RotateEvent, RotatingJournalSourceEvents, RotatingJournalSourceOptions, SourceStatus } from './source-options.js'
import { countLines, openStart, type StartPoint } from './start-point.js'
import { QuietTimer } from './quiet-timer.js'
import { SavePoints, savePointOf } from './save-points.js'
import { StateKeeper } from './state-keeper.js'
import { isUnreadable, unreachableJournal, unreadableAtStart } from './unreadable.js'
import { checkTimerMs } from '../timer-ms.js'

export type * from './source-options.js'

/**
 * The readable buffer of a source with `batch`, in batches. A batch is the
 * entries of one read chunk (128 KiB of records, ~1,000 short ones), so 2
 * already keep the consumer busy while the next chunk is read, and a slow
 * consumer holds little: 2 × 128 KiB of records and their entry objects.
 */
export const DEFAULT_BATCH_HIGH_WATER_MARK = 2

/**
 * The journal set as one object-mode Readable of {@link JournalEntry}: the
 * archived journals from the start point in order, then the live journal as
 * p4d appends to it, across rotations by rename, by copy and truncate, and
 * with gzip (docs/journal-format.md sections 3 and 4). Every entry carries its
 * journal number; the first entry of each journal after the first has
 * `didRotate`; entries that end a consistency point have `consistent`.
 *
 * Backpressure reaches the file: bytes are read only when the consumer
 * wants entries. The consumer calls `commit()` with what it has finished;
 * with a `state` file, the newest committed consistency point is saved
 * (at most once per `saveIntervalMs`, when quiet, on `flushState()` and on
 * destroy), and a restart resumes there. `destroy()` (or `signal`) ends the
 * stream: `for await` loops end, files, watchers and timers are released.
 *
 * Events (besides a Readable's): `start`, `rotate`, `quiet`, `state`,
 * `skip`; see {@link RotatingJournalSourceEvents}.
 */
export class RotatingJournalSource extends Readable {
  readonly #options: RotatingJournalSourceOptions
  readonly #encoding: FieldEncoding
  readonly #abort = new AbortController()
  readonly #cursor: JournalCursor
  readonly #tracker = new ConsistencyTracker()
  readonly #keeper: StateKeeper | null
  /** The state file's lock, once taking it has begun (held until the stream is destroyed). */
  #lock: Promise<StateLock> | null = null
  #opening: Promise<StartPoint> | null = null
  #start: StartPoint | null = null
  #framer: JournalFramer | null = null
  #journal = 0
  #pumping = false
  /** Whether the last push left room in the buffer. */
  #more = true
  /** The next entry is the first of a journal reached by rotation. */
  #rotated = false
  #deferred: Error | null = null
  /** The framer's error in the chunk just framed: the stream fails with it (see #pump). */
  #framingFailed: Error | null = null
  /** Whether entries are pushed as batches (`batch`, or a `for await` reading). */
  #batching: boolean
  /**
   * Entries of the chunk being framed when batching; null until its first
   * entry. A batch starts as `[entry]`, an array made for objects (see
   * JournalEntryTransform: a `[]` changes its kind at its first entry).
   */
  #batch: JournalEntry[] | null = null
  /** Whether the caller asked for batches (then `for await` yields them too). */
  readonly #userBatch: boolean
  readonly #points = new SavePoints()
  /** End of the last entry handed out (-1 before the start is known), in journal `#journal` or the one before. */
  #positionJournal = 0
  #positionEnd = -1
  #committed: JournalPosition | null = null
  #lastRotation: RotateEvent | null = null
  #lastDataAt: Date | null = null
  #entries = 0
  readonly #quiet: QuietTimer

  constructor(options: RotatingJournalSourceOptions) {
    super({ objectMode: true, highWaterMark: options.highWaterMark ?? (options.batch ? DEFAULT_BATCH_HIGH_WATER_MARK : 16) })
    const opts = (this.#options = { ...options })
    // Node fires a timer longer than 2^31-1 ms at once: refuse one rather than poll and save in a loop.
    checkMaxEntryBytes(opts.maxEntryBytes)
    const from: unknown = opts.from
    if (from !== undefined && from !== 'end' && !(typeof from === 'number' && Number.isSafeInteger(from) && from >= 0)) {
      // NaN read as "journals  are missing between NaN and NaN", and '1' as no start point at all.
      throw new RangeError(
        `from must be a journal number (an integer from 0 up) or 'end', got ${typeof from === 'number' ? String(from) : JSON.stringify(from)}`,
      )
    }
    checkTimerMs('quietMs', opts.quietMs)
    checkTimerMs('pollMs', opts.pollMs)
    checkTimerMs('saveIntervalMs', opts.saveIntervalMs)
    checkTimerMs('graceMs', opts.graceMs)
    checkTimerMs('gzipRetry.pollMs', opts.gzipRetry?.pollMs)
    checkTimerMs('gzipRetry.stableMs', opts.gzipRetry?.stableMs)
    this.#userBatch = opts.batch ?? false
    this.#batching = opts.batch ?? false
    this.#encoding = opts.encoding ?? 'utf8'
    this.#cursor = new JournalCursor({
      layout: opts,
      signal: this.#abort.signal,
      onWait: () => this.#quiet.waiting(),
      onHeldBack: () => {
        this.#lastDataAt = new Date()
        this.#quiet.data()
      },
      ...(opts.pollMs === undefined ? {} : { pollMs: opts.pollMs }),
      ...(opts.gzipRetry === undefined ? {} : { gzipRetry: opts.gzipRetry }),
      ...(opts.graceMs === undefined ? {} : { graceMs: opts.graceMs }),
      ...(opts.adviceAs === undefined ? {} : { adviceAs: opts.adviceAs }),
    })
    this.#keeper = opts.state
      ? new StateKeeper({
          path: opts.state,
          ...(opts.saveIntervalMs === undefined ? {} : { minIntervalMs: opts.saveIntervalMs }),
          onSaved: (state) => this.emit('state', state),
          barrier: () => this.commitBarrier,
          onError: (err) => this.destroy(err),
        })
      : null
    this.#quiet = new QuietTimer(opts.quietMs ?? 2000, (hadData) => {
      this.emit('quiet', hadData)
      this.#keeper?.flush().catch(() => {}) // a failure has destroyed the stream already
    })
    if (opts.signal?.aborted) process.nextTick(() => this.destroy())
    else opts.signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  /**
   * Finds and checks the start point (state, `from`, or the live end) and
   * opens the first journal. Reading calls it; call it first to learn the
   * start or to fail early. Rejects with ERR_NO_START, ERR_JOURNAL_GAP,
   * ERR_STATE_CORRUPT or ERR_STATE_MISMATCH (the stream is not destroyed
   * by this rejection; reading would destroy it with the same error).
   */
  open(): Promise<StartPoint> {
    this.#opening ??= this.#open()
    return this.#opening
  }

  /**
   * The consumer is done with `target`: an entry (done up to its end), an
   * entry's position (likewise) or a position `N/offset` (done with every
   * byte before it). With a state file, the newest consistency point at or
   * before it will be saved (or the entry's end with `consistentOnly: false`).
   */
  commit(target: JournalEntry | EntryPosition | JournalPosition): void {
    const entry = target instanceof JournalEntry ? target : null
    const p: EntryPosition | JournalPosition = entry ? entry.position : (target as EntryPosition | JournalPosition)
    if (p.journal === null) return
    const pos = { journal: p.journal, offset: 'end' in p ? p.end : p.offset }
    if (this.#committed && comparePositions(pos, this.#committed) <= 0) return
    this.#committed = pos
    const point = entry && this.#options.consistentOnly === false ? savePointOf(entry, pos.journal, this.#cursor.file) : undefined
    this.#keeper?.commit(pos, point)
  }

  /**
   * Where the entries handed out are known good: nothing past it is saved,
   * and a ListenerChain this source is piped into syncs nothing past it.
   * Inside a `.gz` archive it is the end of the last gzip member whose
   * CRC-32 was checked (an archive is often one member: its end).
   */
  get commitBarrier(): JournalPosition {
    return this.#cursor.verified
  }

  /** Saves the newest committed point now; rejects (and the stream fails) if the write fails. */
  async flushState(): Promise<void> {
    await this.#keeper?.flush()
  }

  get status(): SourceStatus {
    const live = this.#cursor.live
    const phase = this.destroyed ? 'closed' : !this.#framer ? 'starting' : live ? 'live' : 'archives'
    return {
      phase,
      start: this.#start,
      position: this.#positionEnd < 0 ? null : { journal: this.#positionJournal, offset: this.#positionEnd },
      read: this.#framer ? { journal: this.#cursor.journal, offset: this.#cursor.offset } : null,
      live,
      committed: this.#committed,
      saved: this.#keeper?.saved ?? null,
      lastRotation: this.#lastRotation,
      lastDataAt: this.#lastDataAt,
      entries: this.#entries,
    }
  }

  /**
   * `for await` yields entries (batches with `batch: true`) and ends without
   * an error when the source is destroyed without one (a core Readable's
   * iterator would report a premature close). It reads batches: from here
   * on the entries of each chunk are pushed as one array and handed out one
   * by one without a stream hop or an async generator step each (see
   * EntryIterator), and highWaterMark counts batches (a chunk's entries
   * each); `break` destroys the source.
   */
  override [Symbol.asyncIterator](): AsyncIterableIterator<JournalEntry> {
    if (this.#userBatch) return this.#batches() as AsyncIterableIterator<never>
    this.#batching = true
    return new EntryIterator(this, { endOnDestroy: true })
  }

  /** `for await` with `batch: true`: the arrays, ending quietly on a destroy without an error. */
  async *#batches(): AsyncGenerator<JournalEntry[], undefined> {
    try {
      for await (const batch of super[Symbol.asyncIterator]()) yield batch as JournalEntry[]
    } catch (err) {
      if (!destroyedWithoutError(this, err)) throw err
    }
    return undefined
  }

  /** A framing error surfaces once the entries before it have been read (like JournalEntryTransform). */
  override read(size?: number): JournalEntry | JournalEntry[] | null {
    const entry = super.read(size) as JournalEntry | JournalEntry[] | null
    if (this.#deferred && this.readableLength === 0) {
      const err = this.#deferred
      this.#deferred = null
      process.nextTick(() => this.destroy(err))
    }
    return entry
  }

  override _read(): void {
    this.#more = true
    if (this.#pumping) return
    this.#pumping = true
    this.#pump().catch((err: unknown) => {
      if (!this.destroyed) this.destroy(toError(err))
    })
  }

  readonly #onAbort = (): void => {
    this.destroy()
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#options.signal?.removeEventListener('abort', this.#onAbort)
    this.#abort.abort()
    this.#quiet.stop()
    const stateFailed = isLogdaemonError(err) && err.code === ErrorCodes.STATE_WRITE
    const closing = async (): Promise<void> => {
      try {
        await this.#cursor.close()
        if (this.#keeper && !stateFailed) await this.#keeper.close()
      } finally {
        // Only after the last state write: the next holder must find the final position.
        await this.#releaseLock()
      }
    }
    closing().then(
      () => cb(err),
      (e: unknown) => cb(err ?? toError(e)),
    )
  }

  /**
   * Takes the state file's lock (ERR_LOCKED when another live process
   * holds it), then opens; a failure to open releases the lock.
   */
  async #open(): Promise<StartPoint> {
    const state = this.#options.state
    if (!state) return this.#openLocked()
    this.#lock = StateLock.acquire(state)
    await this.#lock
    try {
      return await this.#openLocked()
    } catch (err) {
      await this.#releaseLock()
      throw err
    }
  }

  /**
   * Finds the start and opens its journal: a journal or directory it may
   * not read, or a path no directory can be at (the root a file, a name too
   * long), is ERR_JOURNAL_UNREADABLE (unreadable.ts).
   */
  async #openLocked(): Promise<StartPoint> {
    try {
      return await this.#openStart()
    } catch (err) {
      if (isUnreadable(err)) throw unreadableAtStart(err)
      throw (isErrnoException(err) && !isLogdaemonError(err) && err.path && unreachableJournal(err, err.path)) || err
    }
  }

  async #releaseLock(): Promise<void> {
    const lock = this.#lock
    this.#lock = null
    if (lock)
      await lock.then(
        (l) => l.release(),
        () => {},
      )
  }

  async #openStart(): Promise<StartPoint> {
    const opts = this.#options
    const advice = opts.adviceAs ?? 'option'
    const saved = opts.state ? await readState(opts.state, advice) : null
    const { start, opened } = await openStart(opts, saved, opts.from, opts.state, this.#cursor, advice)
    const before = opened.before
    this.#startJournal(start.journal, start.offset, start.line)
    this.#points.reset(before, start.offset)
    this.#start = start
    this.#positionJournal = start.journal
    this.#positionEnd = start.offset
    // A first start is saved at once. It is durable before an entry is handed out when a restart could not find
    // it again: a kill before the first commit must not move `from: 'end'` on. A start from journal N (`from`)
    // is where a restart without state starts again, so reading does not wait for that write (an fsync of the
    // file and one of its directory); a failed write fails the stream, as any save does.
    if (this.#keeper && !saved) this.#keeper.commit(start, { ...start, tail: Buffer.from(before), file: this.#cursor.file })
    else this.#keeper?.started(start)
    if (start.how !== 'from') await this.#keeper?.flush()
    this.emit('start', start)
    return start
  }

  /**
   * Reads and frames until a push finds the buffer full. `#pumping` drops in
   * the same tick as the loop's last check, so a `_read` that comes later
   * always starts a new pump, and one that comes during it keeps it going.
   */
  async #pump(): Promise<void> {
    try {
      await this.open()
      while (!this.destroyed && this.#more && !this.#deferred) {
        let step: CursorStep
        try {
          step = await this.#cursor.next()
        } catch (err) {
          if (this.destroyed) return
          throw err
        }
        if (this.destroyed) return
        if (step.kind === 'end') this.#endJournal(step)
        else this.#frame(step.bytes)
        this.#keeper?.barrierMoved()
        const failed = this.#framingFailed
        if (failed) {
          // Bytes of a `.gz` member not checked yet: its CRC-32 may show damage (JournalCursor.checkFramingError).
          const err = await this.#cursor.checkFramingError(failed)
          if (!this.destroyed) this.#failAfterDrain(err)
          return
        }
      }
    } finally {
      this.#pumping = false
    }
  }

  #frame(bytes: Buffer): void {
    this.#lastDataAt = new Date()
    this.#quiet.data()
    this.#points.chunk(bytes, this.#cursor.offset - bytes.length)
    try {
      ;(this.#framer as JournalFramer).push(bytes, this.#sink)
    } catch (err) {
      this.#pushBatch()
      this.#framingFailed = toError(err)
    }
    this.#pushBatch()
    this.#points.chunkDone()
  }

  /** Pushes the chunk's entries as one batch; the status counts them handed out. */
  #pushBatch(): void {
    const batch = this.#batch
    if (batch === null) return
    this.#batch = null
    this.#handedOut(batch.length, (batch[batch.length - 1] as JournalEntry).position)
    this.#more = this.push(batch)
  }

  #handedOut(entries: number, last: EntryPosition): void {
    this.#entries += entries
    this.#positionJournal = last.journal as number
    this.#positionEnd = last.end
  }

  /** One record framed: its entry, whether it ends a consistency point (then a save point), into the batch. */
  readonly #sink: RecordSink = (source, start, end, offset, line) => {
    const e = new JournalEntry(source, { journal: this.#journal, offset, end: offset + end - start, line }, { encoding: this.#encoding, start, end })
    if (this.#rotated) {
      e.didRotate = true
      this.#rotated = false
    }
    if (this.#tracker.updateRecord(source, start, end)) {
      e.consistent = true
      this.#keeper?.addPoint(this.#points.at(this.#journal, e.position.end, line + countLines(source, start, end), this.#cursor.file))
    }
    if (this.#batching) {
      const batch = this.#batch
      if (batch === null) this.#batch = [e]
      else batch.push(e)
      return
    }
    this.#handedOut(1, e.position)
    this.#more = this.push(e)
  }

  #endJournal(step: CursorStep & { kind: 'end' }): void {
    const framer = this.#framer as JournalFramer
    if (framer.pending) {
      const err = framer.incompleteError()
      const rest = framer.takePending()
      if (!this.#options.skipMalformed && err) {
        this.#failAfterDrain(err)
        return
      }
      if (rest) {
        const reason = `journal ${step.journal} ends inside a record (${rest.raw.length} bytes without a line end)`
        this.emit('skip', { code: ErrorCodes.JOURNAL_MALFORMED, offset: rest.offset, line: rest.line, reason, journal: step.journal })
      }
    }
    this.#keeper?.journalEnded(step.journal, step.end, step.next)
    const event: RotateEvent = {
      from: step.journal,
      to: step.next,
      mode: step.mode,
      at: new Date(),
      ...(step.next !== step.journal + 1 ? { archivedAs: step.next - 1 } : {}),
    }
    this.#lastRotation = event
    this.#startJournal(step.next, 0, 1)
    this.#points.reset(Buffer.alloc(0), 0)
    this.#rotated = true
    this.emit('rotate', event)
  }

  #startJournal(journal: number, offset: number, line: number): void {
    const o = this.#options
    this.#journal = journal
    this.#framer = new JournalFramer({
      offset,
      line,
      journal,
      file: this.#cursor.file?.path ?? liveJournalPath(o),
      ...(o.maxEntryBytes === undefined ? {} : { maxEntryBytes: o.maxEntryBytes }),
      skipOversize: o.skipOversize ?? false,
      skipMalformed: o.skipMalformed ?? false,
    })
    this.#framer.onSkip = (report) => this.emit('skip', { ...report, journal })
  }

  /** Fails the stream once the entries already pushed have been read. */
  #failAfterDrain(err: Error): void {
    if (this.readableLength === 0) this.destroy(err)
    else this.#deferred = err
  }
}

export interface RotatingJournalSource {
  on<E extends keyof RotatingJournalSourceEvents>(event: E, listener: RotatingJournalSourceEvents[E]): this
  on(event: string | symbol, listener: (...args: never[]) => void): this
  once<E extends keyof RotatingJournalSourceEvents>(event: E, listener: RotatingJournalSourceEvents[E]): this
  once(event: string | symbol, listener: (...args: never[]) => void): this
  emit<E extends keyof RotatingJournalSourceEvents>(event: E, ...args: Parameters<RotatingJournalSourceEvents[E]>): boolean
  emit(event: string | symbol, ...args: unknown[]): boolean
}
