/**
 * gzip input. `createGunzip` inflates a whole gzip stream: every member of
 * concatenated gzip files (`cat a.gz b.gz`), zero padding tolerated after a
 * member. `maybeGunzip` inflates gzip and passes anything else through
 * unchanged, telling them apart by the magic bytes, not by the file name.
 *
 * The framing between members is in gunzip-decoder.ts; the members are
 * inflated by node:zlib or zlib-sync (inflater.ts, which also reads
 * LOGDAEMON_INFLATER). The default for streams, node:zlib, inflates in
 * libuv's thread pool; with a worker engine (node-worker, zlib-sync-worker)
 * the framing and inflating run on a worker thread (gunzip-worker.ts),
 * started once the input turns out to be gzip. `gunzipFile` has the
 * worker read a `.gz` file itself (logdaemon-cat's default for files).
 */
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs'
import { Transform, type TransformCallback } from 'node:stream'
import { toError } from '../errors.js'
import { checkFramingError, dropFrom } from './gzip-damage.js'
import { GunzipDecoder, isGzip, type GzipDecoder } from './gunzip-decoder.js'
import { createGzipDecoder, WorkerGunzipDecoder } from './gunzip-worker.js'
import { INFLATER_ENV, loadIsal, OUT_CHUNK, selectFileInflater, selectInflater, type Inflater, type InflaterChoice, type InflaterName } from './inflater.js'

export { inflaterName, type InflaterChoice, type InflaterName } from './inflater.js'
export { GunzipDecoder, isGzip } from './gunzip-decoder.js'

export interface GunzipOptions {
  /** The file, named in errors. */
  file?: string
  /** Default 'auto': node:zlib (in libuv's thread pool; node-worker in `gunzipFile`); LOGDAEMON_INFLATER overrides 'auto'. */
  inflater?: InflaterChoice
}

export interface GunzipTransformOptions {
  /** The file, named in errors. */
  file?: string | null
  /** Input that does not start with the gzip magic: an ERR_GZIP_CORRUPT error (default) or passed through. */
  notGzip?: 'error' | 'pass'
  /** A gzip file a threaded inflater's worker reads itself (see `gunzipFile`): nothing is to be written then. */
  path?: string
  /** With `path`: compressed bytes read, as they are read. */
  onRead?: (bytes: number) => void
}

export interface GunzipFileOptions extends GunzipOptions {
  /** Compressed bytes read from the file, as they are read (progress). */
  onRead?: (bytes: number) => void
}

/**
 * A gzip file inflated by a worker thread that reads the file itself, so
 * that this thread neither reads nor copies compressed input: when the
 * inflater is a threaded one (`auto` picks node-worker) and `path` names a
 * regular file that starts with the gzip magic. Otherwise null: read the
 * file through `maybeGunzip` then (not gzip, not a regular file, cannot be
 * opened here: the reader reports that as it always has). The output,
 * errors and `verified` are the Transform's; it takes no input.
 */
export function gunzipFile(path: string, options: GunzipFileOptions = {}): GunzipTransform | null {
  const inflater = selectFileInflater(options.inflater)
  if (!inflater.threaded || !isGzipFile(path)) return null
  const gunzip = new GunzipTransform(inflater, { file: options.file ?? path, path, ...(options.onRead ? { onRead: options.onRead } : {}) })
  gunzip.end()
  return gunzip
}

/** Whether `path` is a regular file that starts with the gzip magic (false when it cannot be looked at). */
function isGzipFile(path: string): boolean {
  const head = fileHead(path)
  return head !== null && isGzip(head)
}

/**
 * Whether `path` is a regular file that is not gzip: empty, or its first
 * byte not gzip's first magic byte (a one-byte file of that byte goes
 * through gunzip, as any input does). createJournalReader frames such a
 * file without a gunzip stage. False when it cannot be looked at: the
 * reader then reports that as it always has.
 */
export function isPlainFile(path: string): boolean {
  const head = fileHead(path)
  return head !== null && (head.length === 0 || head[0] !== GZIP_ID1)
}

/** gzip's first magic byte (RFC 1952 §2.3.1). */
const GZIP_ID1 = 0x1f

/**
 * The first two bytes of `path` (fewer for a shorter file), or null when it
 * is not a regular file or cannot be read. Looked at by path before it is
 * opened: opening a FIFO, even without blocking, lets a writer waiting to
 * open it go on, to find no reader once it is closed again (EPIPE). Opened
 * without blocking and checked again through the descriptor, for a FIFO put
 * in its place meanwhile.
 */
function fileHead(path: string): Buffer | null {
  let fd: number | null = null
  try {
    if (!statSync(path).isFile()) return null
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
    if (!fstatSync(fd).isFile()) return null
    const head = Buffer.alloc(2)
    return head.subarray(0, readSync(fd, head, 0, 2, 0))
  } catch {
    return null
  } finally {
    if (fd !== null) closeSync(fd)
  }
}

/** What `gunzipFileChunks` returns. */
export interface InflatedChunks extends AsyncIterableIterator<Buffer> {
  readonly inflaterName: InflaterName
  /** Output bytes of gzip members whose trailer (CRC-32 and size) has been checked, whether or not handed out yet. */
  readonly verified: number
  /** A chunk's `buffer` that nothing refers to any more: the worker fills it again (optional: else it allocates a new one). */
  recycle(buf: ArrayBuffer): void
  return(): Promise<IteratorResult<Buffer>>
}

export interface GunzipChunksOptions extends GunzipFileOptions {
  /** Bytes of output per chunk (the last one may be shorter). */
  chunkBytes: number
}

/**
 * A `.gz` file inflated by a worker thread that reads it (as `gunzipFile`),
 * as an async iterator of chunks of `chunkBytes` bytes of output, each a
 * Buffer over all of an ArrayBuffer of its own (the caller may transfer it
 * to another thread). After the last chunk, the iterator throws the
 * stream's error, if any (corrupt, truncated, a failed worker): every
 * byte inflated before the error comes first. Null when the inflater is
 * not a threaded one or the file is not a regular gzip file (read it
 * through `gunzipFile`/`maybeGunzip` then).
 *
 * The worker inflates at most four chunks ahead of what has been taken,
 * and one more chunk waits here: a slow reader slows the inflating.
 * `return()` (a `for await` left early) terminates the worker.
 */
export function gunzipFileChunks(path: string, options: GunzipChunksOptions): InflatedChunks | null {
  const inflater = selectFileInflater(options.inflater)
  if (!inflater.threaded || !isGzipFile(path)) return null
  let decoder: WorkerGunzipDecoder | null = null
  return chunkIterator(inflater.name, {
    run: (emit) => {
      decoder = new WorkerGunzipDecoder(inflater.name, emit, {
        engine: inflater.threaded,
        file: options.file ?? path,
        path,
        batch: options.chunkBytes,
        whole: true,
        ...(options.onRead ? { onRead: options.onRead } : {}),
      })
      return decoder.end()
    },
    stop: () => decoder?.destroy(),
    recycle: (buf) => decoder?.recycle(buf),
    verified: () => decoder?.verified ?? 0,
  })
}

/** What `chunkIterator` drives: `run` hands out chunks through `emit`, waiting while one is out. */
interface ChunkProducer {
  run(emit: (chunk: Buffer) => Promise<void>): Promise<void>
  stop(): void
  recycle(buf: ArrayBuffer): void
  verified(): number
}

/**
 * The iterator over a producer's chunks: one chunk waits here at most (the
 * producer waits until it is taken); after the last chunk, the producer's
 * error, if any, is thrown; `return()` stops the producer.
 */
function chunkIterator(name: InflaterName, producer: ChunkProducer): InflatedChunks {
  let ready: Buffer | null = null
  let failure: Error | null = null
  let ended = false
  /** `return()` was called: the producer's chunks and errors are dropped. */
  let stopped = false
  /** The consumer waits for a chunk, the end or an error. */
  let wakeReader: (() => void) | null = null
  /** The producer waits for room. */
  let wakeWriter: (() => void) | null = null
  const wake = (): void => {
    const w = wakeReader
    wakeReader = null
    w?.()
  }
  producer
    .run((chunk) => {
      // Stopped: the producer is told so by a rejection, and goes no further.
      if (stopped) return Promise.reject(new Error('the chunks were returned'))
      ready = chunk
      wake()
      return new Promise<void>((resolve) => {
        wakeWriter = resolve
      })
    })
    .then(
      () => {
        ended = true
        wake()
      },
      (err: unknown) => {
        if (!stopped) failure = toError(err)
        wake()
      },
    )
  const stop = (): void => {
    stopped = true
    ended = true
    ready = null
    producer.stop()
    const w = wakeWriter
    wakeWriter = null
    w?.()
  }
  const iterator: InflatedChunks = {
    inflaterName: name,
    get verified() {
      return producer.verified()
    },
    recycle: (buf) => producer.recycle(buf),
    [Symbol.asyncIterator]() {
      return iterator
    },
    async next() {
      for (;;) {
        if (ready) {
          const chunk: Buffer = ready
          ready = null
          const w = wakeWriter
          wakeWriter = null
          w?.()
          return { done: false, value: chunk }
        }
        if (failure) {
          const err = failure
          failure = null
          ended = true
          throw err
        }
        if (ended) return { done: true, value: undefined }
        await new Promise<void>((resolve) => {
          wakeReader = resolve
        })
      }
    },
    async return() {
      stop()
      return { done: true, value: undefined }
    },
  }
  return iterator
}

/**
 * The chunks of a `.gz` file for a pool of framing workers: inflated here
 * by ISA-L where the engine asked for is `auto` (or `isal`) and the addon
 * loads (`inflateFileChunksHere`), else by a worker (`gunzipFileChunks`;
 * null when no worker engine applies). ISA-L inflates about 1.2 GB/s, a
 * fifth of the time the framing workers take over the same bytes, so this
 * thread has the time, and no inflate worker costs its start, its copies
 * and its memory: measured on the bench's 200 MB checkpoint, 0.89 CPU-s
 * against 1.00 with isal-worker and 94 MB peak RSS against 107 (json
 * lines: 102 MB against 112).
 */
export function fileChunks(path: string, options: GunzipChunksOptions): InflatedChunks | null {
  const wanted = options.inflater && options.inflater !== 'auto' ? options.inflater : process.env[INFLATER_ENV] || 'auto'
  if ((wanted === 'auto' || wanted === 'isal') && loadIsal()) return inflateFileChunksHere(path, { ...options, inflater: 'isal' })
  return gunzipFileChunks(path, options)
}

/** Compressed bytes per read of `inflateFileChunksHere`. */
const HERE_READ_BYTES = 128 * 1024
/** Chunk buffers kept for reuse by `inflateFileChunksHere`. */
const HERE_SPARES = 8

/**
 * A `.gz` file inflated on this thread, read synchronously in 128 KiB
 * pieces, with `gunzipFileChunks`'s contract (each chunk a Buffer over an
 * ArrayBuffer of its own; every byte inflated before an error handed out
 * before the error is thrown; `return()` stops). The inflater writes
 * straight into the chunk being filled where it can (ISA-L and node-sync
 * do), and waits while a full chunk is out: a gzip bomb inflates a chunk
 * at a time. Null when the file is not a regular gzip file.
 */
export function inflateFileChunksHere(path: string, options: GunzipChunksOptions): InflatedChunks | null {
  if (!isGzipFile(path)) return null
  const inflater = selectInflater(options.inflater ?? 'isal')
  const chunkBytes = Math.max(1, options.chunkBytes)
  const spares: ArrayBuffer[] = []
  let batch = new Uint8Array(chunkBytes)
  let used = 0
  let stopped = false
  let decoder: GunzipDecoder | null = null
  /** Hands out the chunk filled so far and starts the next one. */
  const cut = (emit: (chunk: Buffer) => Promise<void>): Promise<void> => {
    const full = Buffer.from(batch.buffer, 0, used)
    const spare = spares.pop()
    batch = spare ? new Uint8Array(spare) : new Uint8Array(chunkBytes)
    used = 0
    return emit(full)
  }
  return chunkIterator(inflater.name, {
    run: async (emit) => {
      const take = async (chunk: Buffer): Promise<void> => {
        for (let at = 0; at < chunk.length; ) {
          const n = Math.min(batch.length - used, chunk.length - at)
          batch.set(chunk.subarray(at, at + n), used)
          used += n
          at += n
          if (used === batch.length) await cut(emit)
        }
      }
      const here = new GunzipDecoder(
        inflater,
        (chunk) => {
          if (chunk.buffer !== batch.buffer || chunk.byteOffset !== used) return take(chunk)
          // Inflated into the chunk's free room: nothing to copy.
          used += chunk.length
          return used === batch.length ? cut(emit) : undefined
        },
        { file: options.file ?? path, notGzip: 'error', lend: true, room: () => batch.subarray(used) },
      )
      decoder = here
      const fd = openSync(path, 'r')
      try {
        const input = Buffer.allocUnsafe(HERE_READ_BYTES)
        for (;;) {
          if (stopped) return
          const n = readSync(fd, input, 0, input.length, null)
          if (n === 0) break
          options.onRead?.(n)
          await here.write(input.subarray(0, n))
        }
        await here.end()
      } finally {
        closeSync(fd)
        // What was inflated before the end, or an error, goes out first.
        if (used > 0 && !stopped) await cut(emit)
      }
    },
    stop: () => {
      stopped = true
      decoder?.destroy()
    },
    verified: () => decoder?.verified ?? 0,
    recycle: (buf) => {
      if (buf.byteLength === chunkBytes && spares.length < HERE_SPARES) spares.push(buf)
    },
  })
}

/** A Transform that inflates a gzip stream (bytes in, bytes out). */
export function createGunzip(options: GunzipOptions = {}): GunzipTransform {
  return new GunzipTransform(selectInflater(options.inflater), { file: options.file ?? null })
}

/** A Transform that inflates gzip input and passes any other input through unchanged. */
export function maybeGunzip(options: GunzipOptions = {}): GunzipTransform {
  return new GunzipTransform(selectInflater(options.inflater), { file: options.file ?? null, notGzip: 'pass' })
}

/**
 * Unread output the transform holds before inflating waits: a few pieces,
 * so that the inflating thread (libuv's pool, or the worker) runs ahead of
 * the reader instead of taking turns with it.
 */
const READ_AHEAD = 128 * 1024

/**
 * A gzip stream as a Transform (the framing is GunzipDecoder's). Output goes
 * out in pieces of at most 64 KiB, and inflating waits while READ_AHEAD
 * bytes are unread: a small gzip bomb inflates only as fast as it is read.
 *
 * An error (corrupt or truncated input) is raised only after every byte
 * inflated before it has been read, as `gzip -dc` prints all it can:
 * a verified member followed by garbage or by a cut member comes out whole.
 */
export class GunzipTransform extends Transform {
  readonly #decoder: GzipDecoder
  /** The inflater waits on this while the readable side is full. */
  #wake: (() => void) | null = null
  /** An error held back until the output before it has been read. */
  #failed: Error | null = null
  /** A chunk is being inflated (`_transform` has not called back). */
  #writing = false
  /** The input's failure, waiting for the chunk being inflated (see failInput). */
  #inputFailed: Error | null = null
  readonly #emit = (chunk: Buffer): Promise<void> | undefined => {
    if (this.destroyed) return undefined
    if (this.push(chunk)) return undefined
    return new Promise<void>((resolve) => {
      this.#wake = resolve
    })
  }

  constructor(inflater: Inflater, options: GunzipTransformOptions = {}) {
    // A worker runs ahead by its own window: one piece buffered here is
    // enough, and a reader then takes each piece as it is (two buffered
    // pieces are copied into one by read()).
    super({ readableHighWaterMark: inflater.threaded ? OUT_CHUNK : READ_AHEAD })
    this.#decoder = createGzipDecoder(inflater, this.#emit, {
      file: options.file ?? null,
      notGzip: options.notGzip ?? 'error',
      ...(options.path !== undefined ? { path: options.path } : {}),
      ...(options.onRead ? { onRead: options.onRead } : {}),
      // A worker's error that comes while no input is being written.
      onError: (err) => this.#fail(err),
      onVerified: () => this.#verifiedMoved(),
    })
  }

  /** A 'verified' event is due (one a tick, after the decoder's call has returned). */
  #verifiedDue = false

  /**
   * `verified` moved on: a reader holding a framing error until its member
   * is checked (see checkFramingError) hears it, also when the trailer came
   * with no output after it (input held open: stdin, a FIFO).
   */
  #verifiedMoved(): void {
    if (this.#verifiedDue) return
    this.#verifiedDue = true
    process.nextTick(() => {
      this.#verifiedDue = false
      if (!this.destroyed) this.emit('verified', this.verified)
    })
  }

  /** The engine inflating this stream. */
  get inflaterName(): InflaterName {
    return this.#decoder.inflaterName
  }

  /** Output bytes of gzip members whose trailer (CRC-32 and size) has been checked. */
  get verified(): number {
    return this.#decoder.verified
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#failed) return callback()
    this.#writing = true
    this.#decoder.write(chunk).then(
      () => {
        this.#writing = false
        callback()
        const inputFailed = this.#inputFailed
        if (inputFailed) this.failInput(inputFailed)
      },
      (err: unknown) => {
        this.#writing = false
        this.#fail(toError(err), callback)
      },
    )
  }

  override _flush(callback: TransformCallback): void {
    if (this.#failed) return
    this.#decoder.end().then(
      () => callback(),
      (err: unknown) => this.#fail(toError(err)),
    )
  }

  override _read(size: number): void {
    const wake = this.#wake
    this.#wake = null
    wake?.()
    super._read(size)
  }

  /** The error surfaces once the output before it has been read (see `read`). */
  override read(size?: number): Buffer | null {
    const chunk = super.read(size) as Buffer | null
    if (this.#failed && this.readableLength === 0 && !this.destroyed) {
      const err = this.#failed
      process.nextTick(() => this.destroy(err))
    }
    return chunk
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#decoder.destroy()
    const wake = this.#wake
    this.#wake = null
    wake?.()
    callback(err)
  }

  /**
   * The input failed (a read error, the file cut under it): the stream fails
   * with `err` once the output inflated from the input before it has been
   * read, as for its own errors, instead of dropping that output.
   */
  failInput(err: Error): void {
    this.#inputFailed = null
    if (this.#failed || this.destroyed) return
    // The chunk being inflated came before the failure: its output goes out first.
    if (this.#writing) this.#inputFailed = err
    else this.#fail(err)
  }

  /** Holds `err` back until the output is read; the input after it is dropped. */
  #fail(err: Error, callback?: TransformCallback): void {
    this.#failed = err
    if (this.readableLength === 0) this.destroy(err)
    else callback?.()
  }
}

/**
 * The error to throw when framing `input` failed with `err` after `seen`
 * bytes of it. When `input` is a GunzipTransform whose trailer checks have
 * not reached `seen`, `before` runs first (the records before the error go
 * out), then the rest of the member is inflated to check it
 * (checkFramingError): damaged gzip is ERR_GZIP_CORRUPT, not a bad journal.
 * Anything else is `err` as it is.
 */
export async function framingFailure(err: unknown, input: unknown, seen: number, before: () => Promise<void>): Promise<unknown> {
  if (!(input instanceof GunzipTransform) || input.verified >= seen) return err
  await before()
  return checkFramingError(toError(err), seen, () => input.verified, dropFrom(input))
}
