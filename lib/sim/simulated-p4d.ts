/**
 * A simulated p4d: owns a server root and writes a live journal the way p4d
 * does, so that tailers can be tested against real file-system behaviour:
 *
 * - transactions land in several separate writes at random split points, so
 *   a reader often sees a half-written record;
 * - rotation by rename (the live path changes inode), by copy and truncate
 *   (same inode, shrinks to 0), or by rename then gzip (journal.N is
 *   replaced by journal.N.gz, written progressively, a bit later).
 *
 * Every byte ever written to every journal number is kept (`journalBytes`),
 * so a test can check that a reader saw all of them, in order. Bytes, split
 * points and rotation modes are deterministic given the seed; timing is not.
 */

import { createReadStream, createWriteStream } from 'node:fs'
import { copyFile, mkdir, open, readFile, rename, unlink, type FileHandle } from 'node:fs/promises'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { createGzip } from 'node:zlib'
import { isErrnoException } from '../errors.js'
import { Random } from './random.js'
import { RecordGenerator, type Batch } from './record-generator.js'

export type RotateMode = 'rename' | 'copy-truncate' | 'rename-gzip'

const ROTATE_MODES: readonly RotateMode[] = ['rename', 'copy-truncate', 'rename-gzip']

export interface SimulatedP4dOptions {
  /** Server root (P4ROOT); created if missing. */
  root: string
  /** Live journal (P4JOURNAL); default `root/journal`. */
  journal?: string
  /** Journal prefix: archives are `PREFIX.jnl.N` (relative to root) instead of `root/journal.N`. */
  prefix?: string
  seed: number
  /** Number of the live journal at start (default 1). */
  startJournal?: number
  /** Default mode of `rotate()` (default 'rename'); 'random' picks one per rotation from the seed. */
  rotateMode?: RotateMode | 'random'
  /** Most separate writes one transaction is split into (default 8). */
  maxPieces?: number
  /** Pause between the writes of one transaction, in ms (default 0: no timer, only the write's own await). */
  pieceGapMs?: number
  /** Write `@pv@ 1 @db.counters@ @journal@ @N@ ` as the first transaction of each new live journal (default true). */
  journalCounter?: boolean
  /** Server root written in notes (default `root`); set it to get identical bytes in different directories. */
  serverRoot?: string
  /** Users edit their Reviews fields now and then (db.review rows); off by default. */
  reviews?: boolean
  /** Bytes of gzip output per progressive write of a `.gz` archive (default 16 KiB, p4d's buffer size). */
  gzipChunkBytes?: number
}

export interface AppendResult {
  /** Journal number the bytes went to. */
  readonly journal: number
  /** Offset of the first byte in that journal. */
  readonly offset: number
  readonly bytes: Buffer
  /** Sizes of the separate writes, in order (sum = bytes.length). */
  readonly pieces: readonly number[]
  /** What was written, with metadata; absent for `appendBytes`. */
  readonly batch?: Batch
}

/** An append of generated records: the metadata is always there. */
export interface TransactionAppend extends AppendResult {
  readonly batch: Batch
}

export interface RotateResult {
  /** The journal number that was archived; the live journal is now this + 1. */
  readonly journal: number
  readonly mode: RotateMode
  /** Final archive path: `journal.N`, or `journal.N.gz` for 'rename-gzip'. */
  readonly archive: string
  /** Bytes of journal N. */
  readonly bytes: number
  /** Resolves when the archive is final ('rename-gzip': the .gz is complete and journal.N removed). */
  readonly done: Promise<void>
}

export interface RunOptions {
  /** Pause between transactions (default 100 ms). */
  intervalMs?: number
  /** Rotate when this long has passed since the last rotation (default 10 s; 0 never). */
  rotateEveryMs?: number
  /** Rotation mode (default: the constructor's `rotateMode`). */
  rotateMode?: RotateMode | 'random'
  /** Stops the loop; `run()` then resolves (it does not reject). */
  signal?: AbortSignal
  /** Write an `@nx@ 7` restart note first, as p4d does when it starts (default true). */
  restartNote?: boolean
  onAppend?: (result: AppendResult) => void
  onRotate?: (result: RotateResult) => void
}

export interface RunSummary {
  readonly transactions: number
  readonly rotations: number
  /** Live journal number at the end. */
  readonly journal: number
}

interface History {
  chunks: Buffer[]
  size: number
}

export class SimulatedP4d {
  readonly root: string
  readonly livePath: string
  readonly #prefix: string | null
  readonly #options: SimulatedP4dOptions
  readonly #generator: RecordGenerator
  readonly #pieces: Random
  readonly #modes: Random
  #journal: number
  #fh: FileHandle | null = null
  #opened = false
  #closed = false
  #queue: Promise<unknown> = Promise.resolve()
  #background = new Set<Promise<void>>()
  #history = new Map<number, History>()

  constructor(options: SimulatedP4dOptions) {
    this.#options = { ...options }
    this.root = path.resolve(options.root)
    this.livePath = path.resolve(this.root, options.journal ?? 'journal')
    this.#prefix = options.prefix === undefined ? null : path.resolve(this.root, options.prefix)
    this.#journal = options.startJournal ?? 1
    if (!Number.isSafeInteger(this.#journal) || this.#journal < 0) {
      throw new RangeError(`startJournal must be a non-negative integer, got ${options.startJournal}`)
    }
    this.#generator = new RecordGenerator(options.seed, { root: options.serverRoot ?? this.root, reviews: options.reviews ?? false })
    const rng = new Random(options.seed)
    this.#pieces = rng.fork('pieces')
    this.#modes = rng.fork('rotate-modes')
    this.#history.set(this.#journal, { chunks: [], size: 0 })
  }

  /** Number of the live journal. */
  get currentJournal(): number {
    return this.#journal
  }

  /** Bytes written to the live journal so far. */
  get liveSize(): number {
    return this.#historyOf(this.#journal).size
  }

  /** The journal numbers written so far, oldest first. */
  get journals(): number[] {
    return [...this.#history.keys()].sort((a, b) => a - b)
  }

  /** The generator behind the transactions (its state advances as the server writes). */
  get generator(): RecordGenerator {
    return this.#generator
  }

  /** Uncompressed archive path of journal n: `root/journal.n` or `PREFIX.jnl.n`. */
  archivePath(n: number): string {
    return this.#prefix === null ? path.join(this.root, `journal.${n}`) : `${this.#prefix}.jnl.${n}`
  }

  /** Every byte written to journal n, in order (throws for a journal never written). */
  journalBytes(n: number): Buffer {
    const h = this.#history.get(n)
    if (!h) throw new RangeError(`journal ${n} was never written by this server (journals: ${this.journals.join(', ')})`)
    if (h.chunks.length > 1) h.chunks = [Buffer.concat(h.chunks, h.size)]
    return h.chunks[0] ?? Buffer.alloc(0)
  }

  /** Appends the next realistic transaction (or two interleaved) to the live journal. */
  appendTransaction(): Promise<TransactionAppend> {
    return this.#serial(async () => {
      const batch = this.#generator.next()
      return { ...(await this.#write(batch.records)), batch }
    })
  }

  /** Appends an `@nx@ 7` restart note and its `@ex@`, as p4d does when it starts. */
  restart(): Promise<TransactionAppend> {
    return this.#serial(async () => {
      const t = this.#generator.restart()
      const written = await this.#write(t.records)
      return { ...written, batch: { records: t.records, transactions: [t], interleaved: false, bytes: written.bytes.length } }
    })
  }

  /** Appends arbitrary bytes (a garbled record, say), split like a transaction. */
  appendBytes(bytes: Buffer): Promise<AppendResult> {
    return this.#serial(() => this.#write([bytes]))
  }

  /**
   * Rotates the live journal N like `p4d -jj`: its bytes become the archive
   * of journal N and the live journal becomes N + 1.
   */
  rotate(mode?: RotateMode | 'random'): Promise<RotateResult> {
    return this.#serial(async () => {
      const fh = await this.#open()
      let m = mode ?? this.#options.rotateMode ?? 'rename'
      if (m === 'random') m = this.#modes.pick(ROTATE_MODES)
      const n = this.#journal
      const plain = this.archivePath(n)
      const bytes = this.liveSize
      await mkdir(path.dirname(plain), { recursive: true })
      if (m === 'copy-truncate') {
        await copyFile(this.livePath, plain)
        await fh.truncate(0) // same inode; the O_APPEND handle writes at 0 from now on
      } else {
        await fh.close()
        this.#fh = null
        await rename(this.livePath, plain)
        this.#fh = await open(this.livePath, 'a')
      }
      this.#journal = n + 1
      this.#history.set(n + 1, { chunks: [], size: 0 })
      let done: Promise<void> = Promise.resolve()
      if (m === 'rename-gzip') done = this.#track(this.#compress(plain))
      if (this.#options.journalCounter ?? true) await this.#write(this.#generator.journalCounter(n + 1).records)
      return { journal: n, mode: m, archive: m === 'rename-gzip' ? `${plain}.gz` : plain, bytes, done }
    })
  }

  /**
   * Appends transactions every `intervalMs` and rotates every
   * `rotateEveryMs` until `signal` aborts. Used by `npm run demo`.
   */
  async run(options: RunOptions = {}): Promise<RunSummary> {
    const { intervalMs = 100, rotateEveryMs = 10_000, signal } = options
    let transactions = 0
    let rotations = 0
    let lastRotation = Date.now()
    await this.#open()
    const fresh = this.liveSize === 0
    // Await first: `options.onAppend?.(await …)` would skip the await when there is no callback.
    if ((options.restartNote ?? true) && !signal?.aborted) {
      const note = await this.restart()
      options.onAppend?.(note)
    }
    // A new live journal says its number near its start, as after each rotation (what `logdaemon init` reads when no
    // archive says it: a new user's first config then starts at journal 1, not 0, and the first rotation agrees).
    if (fresh && (this.#options.journalCounter ?? true)) await this.#write(this.#generator.journalCounter(this.#journal).records)
    while (!signal?.aborted) {
      const appended = await this.appendTransaction()
      options.onAppend?.(appended)
      transactions++
      if (rotateEveryMs > 0 && Date.now() - lastRotation >= rotateEveryMs) {
        const rotated = await this.rotate(options.rotateMode)
        options.onRotate?.(rotated)
        rotations++
        lastRotation = Date.now()
      }
      try {
        await sleep(intervalMs, undefined, signal ? { signal } : {})
      } catch (err) {
        if (signal?.aborted) break
        throw err
      }
    }
    return { transactions, rotations, journal: this.#journal }
  }

  /** Waits for pending writes and background compressions. */
  async idle(): Promise<void> {
    await this.#queue
    while (this.#background.size > 0) await Promise.all(this.#background)
  }

  /** Waits for pending work, then closes the live journal. Idempotent; rejects if a compression failed. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    try {
      await this.idle()
    } finally {
      await this.#serial(async () => {
        await this.#fh?.close()
        this.#fh = null
      }, true)
    }
  }

  #serial<T>(fn: () => Promise<T>, closing = false): Promise<T> {
    if (this.#closed && !closing) return Promise.reject(new Error('SimulatedP4d is closed'))
    const run = this.#queue.then(fn)
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    )
    return run
  }

  async #open(): Promise<FileHandle> {
    if (this.#fh) return this.#fh
    if (!this.#opened) {
      this.#opened = true
      await mkdir(this.root, { recursive: true })
      await mkdir(path.dirname(this.livePath), { recursive: true })
      // A live journal left from an earlier run stays: p4d appends to it.
      try {
        const existing = await readFile(this.livePath)
        if (existing.length > 0) this.#history.set(this.#journal, { chunks: [existing], size: existing.length })
      } catch (err) {
        if (!isErrnoException(err) || err.code !== 'ENOENT') throw err
      }
    }
    this.#fh = await open(this.livePath, 'a')
    return this.#fh
  }

  /** Writes the records as one byte string, in random pieces. */
  async #write(records: readonly Buffer[]): Promise<Omit<AppendResult, 'batch'>> {
    const fh = await this.#open()
    const bytes = records.length === 1 ? (records[0] as Buffer) : Buffer.concat(records)
    const journal = this.#journal
    const history = this.#historyOf(journal)
    const offset = history.size
    const pieces = this.#splitPoints(bytes.length)
    const gap = this.#options.pieceGapMs ?? 0
    let at = 0
    for (const [i, size] of pieces.entries()) {
      if (i > 0 && gap > 0) await sleep(gap)
      const piece = bytes.subarray(at, at + size)
      for (let done = 0; done < piece.length; ) {
        const { bytesWritten } = await fh.write(piece, done, piece.length - done)
        done += bytesWritten
      }
      history.chunks.push(piece)
      history.size += piece.length
      at += size
    }
    return { journal, offset, bytes, pieces }
  }

  /** Sizes of 1 to maxPieces writes that add up to `length`, cut at random bytes. */
  #splitPoints(length: number): number[] {
    const max = Math.max(1, Math.min(this.#options.maxPieces ?? 8, length))
    const count = this.#pieces.int(1, max)
    const cuts = new Set<number>()
    while (cuts.size < count - 1) cuts.add(this.#pieces.int(1, length - 1))
    const sorted = [0, ...[...cuts].sort((a, b) => a - b), length]
    return sorted.slice(1).map((end, i) => end - (sorted[i] as number))
  }

  /** rename-gzip: journal.N → journal.N.gz (written progressively), then journal.N goes. */
  async #compress(plain: string): Promise<void> {
    const chunk = this.#options.gzipChunkBytes ?? 16 * 1024
    await pipeline(createReadStream(plain, { highWaterMark: chunk }), createGzip({ chunkSize: chunk }), createWriteStream(`${plain}.gz`))
    await unlink(plain)
  }

  #track(task: Promise<void>): Promise<void> {
    this.#background.add(task)
    const settle = () => this.#background.delete(task)
    task.then(settle, settle)
    // The caller may never await `done`: do not let a failure become unhandled.
    task.catch(() => {})
    return task
  }

  #historyOf(n: number): History {
    let h = this.#history.get(n)
    if (!h) this.#history.set(n, (h = { chunks: [], size: 0 }))
    return h
  }
}
