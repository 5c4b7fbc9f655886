import { Transform, type TransformCallback } from 'node:stream'
import { toError } from '../errors.js'
import { framingOrDamage } from '../files/gzip-damage.js'
import { JournalEntry, type FieldEncoding } from './entry.js'
import { EntryIterator } from './entry-iterator.js'
import { JournalFramer, type RecordSink, type SkipReport } from './framer.js'

export interface JournalEntryTransformOptions {
  /** Journal number put on every entry's position. Default null. */
  journal?: number | null
  /** File name, for error messages. */
  file?: string | null
  /** Absolute byte offset of the first input byte (resuming mid-file). Default 0. */
  offset?: number
  /** Line number of the first input byte. Default 1. */
  line?: number
  /** Largest record in bytes. Default 64 MiB. */
  maxEntryBytes?: number
  /** Skip oversize records instead of failing with ERR_ENTRY_TOO_LARGE. */
  skipOversize?: boolean
  /** Skip malformed input to the next line instead of failing with ERR_JOURNAL_MALFORMED. */
  skipMalformed?: boolean
  /** Yield a trailing partial record flagged `incomplete` instead of failing with ERR_JOURNAL_INCOMPLETE. */
  allowIncomplete?: boolean
  /** How entries decode field bytes. Default utf8. */
  encoding?: FieldEncoding
  /**
   * Push the entries of each input chunk as one array instead of one by
   * one. Same entries, same order; a stream object costs more than framing
   * a record, so bulk consumers (the CLI, the daemon) read batches.
   * highWaterMark then counts batches.
   */
  batch?: boolean
  /** Readable-side buffer, in entries (in batches with `batch`). Default 16 (Node's object-mode default). */
  highWaterMark?: number
}

/**
 * Bytes in, {@link JournalEntry} objects out. Quote-aware, byte-exact, with
 * absolute positions. A chunk's records are pushed together, so at most one
 * input chunk's worth of entries sits above the readable highWaterMark.
 *
 * Emits `skip` with a {@link SkipReport} for every record skipped when
 * skipping is on; `malformedSkipped`, `oversizeSkipped` and `bytesSkipped`
 * count them.
 */
export class JournalEntryTransform extends Transform {
  readonly #framer: JournalFramer
  readonly #journal: number | null
  readonly #encoding: FieldEncoding
  readonly #allowIncomplete: boolean
  readonly #sink: RecordSink
  /** Whether entries go out in batches (`batch`, or a `for await` reading). */
  #batching: boolean
  /**
   * Entries of the current chunk when batching; null until its first entry.
   * A batch starts as `[entry]`, an array made for objects: a `[]` made for
   * small integers would change its kind at its first entry, which the
   * optimized sink did not expect (a deoptimization per run, --trace-deopt).
   */
  #batch: JournalEntry[] | null = null
  /** Whether the caller asked for batches (then `for await` yields them too). */
  readonly #userBatch: boolean
  /** An error held back until the entries before it have been read. */
  #deferred: { err: Error; cb: TransformCallback } | undefined
  /** The input's failure (see failInput), held back the same way. */
  #inputFailed: Error | null = null
  /** Input bytes taken so far. */
  #seen = 0
  /**
   * A framing error in input not verified yet (see verifiedInput), with the
   * input bytes taken up to it: it waits for the check, the input after it
   * dropped.
   */
  #suspect: { err: Error; through: number } | null = null
  /** Entries pushed so far. */
  entries = 0

  constructor(options: JournalEntryTransformOptions = {}) {
    checkReaderOptions(options)
    super({
      readableObjectMode: true,
      writableObjectMode: false,
      readableHighWaterMark: options.highWaterMark ?? 16,
    })
    const opts = { ...options }
    this.#journal = opts.journal ?? null
    this.#encoding = opts.encoding ?? 'utf8'
    this.#allowIncomplete = opts.allowIncomplete ?? false
    this.#framer = new JournalFramer(opts)
    this.#framer.onSkip = (report: SkipReport) => this.emit('skip', report)
    const journal = this.#journal
    const encoding = this.#encoding
    this.#userBatch = opts.batch ?? false
    this.#batching = opts.batch ?? false
    this.#sink = (source, start, end, offset, line) => {
      this.entries++
      const entry = new JournalEntry(source, { journal, offset, end: offset + end - start, line }, { encoding, start, end })
      if (!this.#batching) this.push(entry)
      else if (this.#batch === null) this.#batch = [entry]
      else this.#batch.push(entry)
    }
  }

  get malformedSkipped(): number {
    return this.#framer.malformedSkipped
  }

  get oversizeSkipped(): number {
    return this.#framer.oversizeSkipped
  }

  get bytesSkipped(): number {
    return this.#framer.bytesSkipped
  }

  /** Offset just past the last input byte seen. */
  get offset(): number {
    return this.#framer.offset
  }

  override _transform(chunk: Buffer | string, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.#suspect) {
      this.#checkSuspect(cb)
      return
    }
    if (this.#stands) {
      // After a framing error that stands (see inputVerified): dropped.
      cb()
      this.#failIfDrained()
      return
    }
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk
    this.#seen += buf.length
    let failure: Error | undefined
    try {
      this.#framer.push(buf, this.#sink)
    } catch (err) {
      failure = toError(err)
    }
    this.#pushBatch()
    if (!failure) cb()
    else if (this.verifiedInput() < this.#seen) {
      this.#suspect = { err: failure, through: this.#seen }
      cb()
    } else this.#failAfterDrain(failure, cb)
  }

  /**
   * How many input bytes are known to be the bytes meant (Infinity: all of
   * them). A stage that inflates gzip knows them up to the end of the last
   * member whose CRC-32 it checked: a framing error past that waits for the
   * check of its member, since damaged deflate data often inflates to wrong
   * bytes without an error of its own (see framingOrDamage).
   */
  protected verifiedInput(): number {
    return Number.POSITIVE_INFINITY
  }

  /**
   * The stage before says more of its input is verified (a gzip member's
   * trailer checked): a held framing error whose input is all verified now
   * goes out without waiting for more input, which may be long in coming
   * (stdin or a FIFO held open); the input after it is dropped.
   */
  protected inputVerified(): void {
    const suspect = this.#suspect
    if (!suspect || this.verifiedInput() < suspect.through) return
    this.#suspect = null
    this.#stands = true
    this.failInput(suspect.err)
  }

  /** The held framing error stands (inputVerified): the input after it is dropped, and it fails the stream as an input failure does. */
  #stands = false

  /** An input failure waiting only for the input written before it to be dropped. */
  #failIfDrained(): void {
    if (this.#inputFailed && this.#drained()) {
      const err = this.#inputFailed
      this.#inputFailed = null
      process.nextTick(() => this.destroy(err))
    }
  }

  /** A chunk after a held framing error: dropped, and the error goes out once the input before it is verified. */
  #checkSuspect(cb: TransformCallback): void {
    const suspect = this.#suspect as { err: Error; through: number }
    if (this.verifiedInput() < suspect.through) {
      cb()
      return
    }
    this.#suspect = null
    this.#failAfterDrain(suspect.err, cb)
  }

  /**
   * `for await` yields entries (arrays with `batch: true`), as a core
   * Readable's iterator does, but from batches: from here on the entries
   * of each input chunk are pushed as one array, and the loop takes an
   * array per `read()` (see EntryIterator). Same entries, order and errors;
   * highWaterMark then counts batches.
   */
  override [Symbol.asyncIterator](): AsyncIterableIterator<JournalEntry> {
    if (this.#userBatch) return super[Symbol.asyncIterator]()
    this.#batching = true
    return new EntryIterator(this)
  }

  #pushBatch(): void {
    const batch = this.#batch
    if (batch !== null) {
      this.#batch = null
      this.push(batch)
    }
  }

  /**
   * Reading is where a held-back error surfaces: once the consumer has taken
   * every entry that came before the bad input, the stream fails. Hooking
   * `read()` (rather than `_read()`, which Node does not call again until
   * something is pushed) covers `pipe`, `for await` and `read()` alike.
   */
  override read(size?: number): JournalEntry | JournalEntry[] | null {
    const entry = super.read(size) as JournalEntry | JournalEntry[] | null
    if (this.#deferred && this.readableLength === 0) process.nextTick(() => this.#releaseDeferred())
    if (this.#inputFailed && this.#drained()) {
      const err = this.#inputFailed
      this.#inputFailed = null
      process.nextTick(() => this.destroy(err))
    }
    return entry
  }

  /**
   * What feeds this stream failed (a read error, the file cut under it, a
   * corrupt gzip stream): the stream fails with `err` once the entries of
   * the bytes written before it have been read, as it does for its own
   * errors, instead of dropping them.
   */
  failInput(err: Error): void {
    if (this.#deferred || this.#inputFailed || this.destroyed) return
    const suspect = this.#suspect
    this.#suspect = null
    if (suspect) err = framingOrDamage(suspect.err, err)
    if (this.#drained()) this.destroy(err)
    else this.#inputFailed = err
  }

  /** Nothing written is left to frame, and nothing framed is left to read. */
  #drained(): boolean {
    return this.readableLength === 0 && this.writableLength === 0
  }

  /**
   * Fails the stream, but only after the entries already pushed have been
   * consumed: a bad record must not cost the good ones before it.
   */
  #failAfterDrain(err: Error, cb: TransformCallback): void {
    if (this.readableLength === 0) {
      cb(err)
      return
    }
    this.#deferred = { err, cb }
  }

  #releaseDeferred(): void {
    const d = this.#deferred
    if (!d || this.readableLength > 0) return
    this.#deferred = undefined
    d.cb(d.err)
  }

  override _flush(cb: TransformCallback): void {
    if (this.#stands) {
      // The framing error (inputVerified) ends the stream, after the entries before it.
      const err = this.#inputFailed
      this.#inputFailed = null
      if (err) this.#failAfterDrain(err, cb)
      return
    }
    if (this.#suspect) {
      // The input ended well: every byte of it was checked.
      const { err } = this.#suspect
      this.#suspect = null
      this.#failAfterDrain(err, cb)
      return
    }
    if (this.#allowIncomplete) {
      const rest = this.#framer.takePending()
      if (rest) {
        this.entries++
        const { raw, offset, line } = rest
        const entry = new JournalEntry(raw, { journal: this.#journal, offset, end: offset + raw.length, line }, { encoding: this.#encoding, incomplete: true })
        this.push(this.#batching ? [entry] : entry)
      }
      cb()
      return
    }
    const err = this.#framer.incompleteError()
    if (err) this.#failAfterDrain(err, cb)
    else cb()
  }
}

/**
 * Checks the options that place and decode entries, given to a library
 * entry point (a reader, a transform): a RangeError (a TypeError for a
 * wrong type) naming the option, at once. Unchecked, `offset: '5'` made
 * positions of concatenated text (`"50"`), NaN made NaN positions, and
 * `journal: '5'` a journal number that was text.
 */
export function checkReaderOptions(o: { journal?: unknown; offset?: unknown; line?: unknown; encoding?: unknown }): void {
  const integer = (name: string, v: unknown, min: number): void => {
    if (v === undefined) return
    if (typeof v !== 'number') throw new TypeError(`${name} must be a number, got ${typeof v} ${JSON.stringify(v)}`)
    if (!Number.isSafeInteger(v) || v < min) throw new RangeError(`${name} must be an integer from ${min} up, got ${String(v)}`)
  }
  if (o.journal !== null) integer('journal', o.journal, 0)
  integer('offset', o.offset, 0)
  integer('line', o.line, 1)
  if (o.encoding !== undefined && o.encoding !== 'utf8' && o.encoding !== 'latin1') {
    throw new RangeError(`encoding must be 'utf8' or 'latin1', got ${JSON.stringify(o.encoding)}`)
  }
}
