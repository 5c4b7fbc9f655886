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
import { closeSync, openSync, readSync, statSync } from 'node:fs'
import { Transform, type TransformCallback } from 'node:stream'
import { toError } from '../errors.js'
import { isGzip, type GzipDecoder } from './gunzip-decoder.js'
import { createGzipDecoder, WorkerGunzipDecoder } from './gunzip-worker.js'
import { OUT_CHUNK, selectFileInflater, selectInflater, type Inflater, type InflaterChoice, type InflaterName } from './inflater.js'

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
  let fd: number | null = null
  try {
    // stat first: opening a FIFO would wait for a writer, and reading it would take its bytes.
    if (!statSync(path).isFile()) return false
    fd = openSync(path, 'r')
    const head = Buffer.alloc(2)
    return readSync(fd, head, 0, 2, 0) === 2 && isGzip(head)
  } catch {
    return false
  } finally {
    if (fd !== null) closeSync(fd)
  }
}

/** What `gunzipFileChunks` returns. */
export interface InflatedChunks extends AsyncIterableIterator<Buffer> {
  readonly inflaterName: InflaterName
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
  let ready: Buffer | null = null
  let failure: Error | null = null
  let ended = false
  /** The consumer waits for a chunk, the end or an error. */
  let wakeReader: (() => void) | null = null
  /** The decoder waits for room. */
  let wakeWriter: (() => void) | null = null
  const wake = (): void => {
    const w = wakeReader
    wakeReader = null
    w?.()
  }
  const decoder = new WorkerGunzipDecoder(
    inflater.name,
    (chunk) => {
      ready = chunk
      wake()
      return new Promise<void>((resolve) => {
        wakeWriter = resolve
      })
    },
    {
      engine: inflater.threaded,
      file: options.file ?? path,
      path,
      batch: options.chunkBytes,
      whole: true,
      ...(options.onRead ? { onRead: options.onRead } : {}),
    },
  )
  decoder.end().then(
    () => {
      ended = true
      wake()
    },
    (err: unknown) => {
      failure = toError(err)
      wake()
    },
  )
  const stop = (): void => {
    ended = true
    ready = null
    decoder.destroy()
    const w = wakeWriter
    wakeWriter = null
    w?.()
  }
  const iterator: InflatedChunks = {
    inflaterName: decoder.inflaterName,
    recycle: (buf) => decoder.recycle(buf),
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
    this.#decoder.write(chunk).then(
      () => callback(),
      (err: unknown) => this.#fail(toError(err), callback),
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

  /** Holds `err` back until the output is read; the input after it is dropped. */
  #fail(err: Error, callback?: TransformCallback): void {
    this.#failed = err
    if (this.readableLength === 0) this.destroy(err)
    else callback?.()
  }
}
