import { createReadStream } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import pRetry from 'p-retry'
import { DEFAULT_GZIP_RETRY, retrySettings, type RetryOptions } from '../retry.js'
import { ErrorCodes, isLogdaemonError, LogdaemonError } from '../errors.js'
import { createGunzip } from '../files/gunzip.js'
import type { ArchiveFile } from '../files/journal-set.js'
import { READ_CHUNK_BYTES } from '../files/file-reader.js'

/** Bytes per read of a plain file: the project's read size (see file-reader.ts for the measurement). */
export const CHUNK_BYTES = READ_CHUNK_BYTES

export interface ArchiveReaderOptions {
  /** Offset in the (decompressed) journal bytes to start at. */
  offset: number
  /** How many bytes before `offset` to keep in `before`, for checking a saved state. Default 0. */
  before?: number
  /** How a `.gz` that is still being written is waited for. Default DEFAULT_GZIP_RETRY. */
  gzipRetry?: RetryOptions
  signal?: AbortSignal
}

/**
 * Reads one archived journal from an offset to its end, a chunk per
 * `read()`, so the caller's pace is the file's pace. A `.gz` archive is
 * inflated from its start and the bytes before `offset` are skipped
 * (offsets are offsets in the decompressed journal). When a `.gz` ends
 * early it may still be being written: it is reopened and read again to the
 * same point (p-retry, exponential backoff) before ERR_GZIP_TRUNCATED.
 */
export class ArchiveReader {
  readonly file: ArchiveFile
  /** Device and inode of the file (null for a gz stream opened by path only). */
  dev = 0
  ino = 0
  /** Offset of the next byte `read()` returns. */
  offset: number
  /** Up to `options.before` bytes just before the starting offset. */
  before: Buffer = Buffer.alloc(0)
  /** False when the journal ends before the requested start offset. */
  reachedOffset = true

  readonly #options: ArchiveReaderOptions
  #fh: FileHandle | null = null
  #gz: GzState | null = null
  #pending: Buffer | null = null
  #closed = false

  private constructor(file: ArchiveFile, options: ArchiveReaderOptions) {
    this.file = file
    this.#options = { ...options }
    this.offset = options.offset
  }

  /** Opens `file` positioned at `options.offset`. */
  static async open(file: ArchiveFile, options: ArchiveReaderOptions): Promise<ArchiveReader> {
    const reader = new ArchiveReader(file, options)
    try {
      if (file.compressed) await reader.#openGzip()
      else await reader.#openPlain()
    } catch (err) {
      await reader.close()
      throw err
    }
    return reader
  }

  /** The read of the chunk at #aheadAt, started before it was asked for. */
  #ahead: Promise<{ bytesRead: number; buffer: Buffer }> | null = null
  #aheadAt = -1

  /** The next chunk, or null at the end of the journal. */
  async read(): Promise<Buffer | null> {
    if (this.#closed) return null
    let chunk: Buffer | null
    if (this.#pending) {
      chunk = this.#pending
      this.#pending = null
    } else if (this.#fh) {
      const at = this.offset
      const ahead = this.#ahead && this.#aheadAt === at ? this.#ahead : null
      this.#ahead = null
      const { bytesRead, buffer } = await (ahead ?? this.#fh.read(Buffer.allocUnsafe(CHUNK_BYTES), 0, CHUNK_BYTES, at))
      chunk = bytesRead === 0 ? null : buffer.subarray(0, bytesRead)
      // Read ahead: the next chunk is read while the caller frames this one
      // (one chunk in flight at most). Only after a full chunk: a short one
      // is the end for now.
      if (bytesRead === CHUNK_BYTES && this.#fh) {
        this.#aheadAt = at + bytesRead
        this.#ahead = this.#fh.read(Buffer.allocUnsafe(CHUNK_BYTES), 0, CHUNK_BYTES, this.#aheadAt)
        // A read ahead that is never used must not be an unhandled rejection.
        this.#ahead.catch(() => {})
      }
    } else {
      chunk = await this.#withRetry(() => this.#nextInflated())
    }
    if (chunk) this.offset += chunk.length
    return chunk
  }

  async close(): Promise<void> {
    this.#closed = true
    // Let a read ahead finish before the handle closes.
    const ahead = this.#ahead
    this.#ahead = null
    await ahead?.catch(() => {})
    this.#gz?.close()
    this.#gz = null
    const fh = this.#fh
    this.#fh = null
    await fh?.close()
  }

  async #openPlain(): Promise<void> {
    const fh = (this.#fh = await open(this.file.path, 'r'))
    const st = await fh.stat()
    this.dev = st.dev
    this.ino = st.ino
    if (st.size < this.offset) {
      this.reachedOffset = false
      this.offset = st.size
    }
    const want = Math.min(this.#options.before ?? 0, this.offset)
    if (want > 0) {
      const buf = Buffer.alloc(want)
      const { bytesRead } = await fh.read(buf, 0, want, this.offset - want)
      this.before = buf.subarray(0, bytesRead)
    }
  }

  async #openGzip(): Promise<void> {
    const want = this.#options.before ?? 0
    const first = await this.#withRetry(() => this.#inflateTo(want))
    const st = await this.#statGzip()
    this.dev = st.dev
    this.ino = st.ino
    if (first === null && this.#gz && this.#gz.produced < this.offset) {
      this.reachedOffset = false
      this.offset = this.#gz.produced
    }
    this.#pending = first
  }

  async #statGzip(): Promise<{ dev: number; ino: number }> {
    const fh = await open(this.file.path, 'r')
    try {
      return await fh.stat()
    } finally {
      await fh.close()
    }
  }

  #startInflating(): void {
    this.#gz?.close()
    const src = createReadStream(this.file.path)
    const gunzip = createGunzip({ file: this.file.path })
    const state: GzState = { iter: gunzip[Symbol.asyncIterator](), close: () => {}, produced: 0, compressed: 0 }
    src.on('data', (c: Buffer | string) => {
      state.compressed += c.length
    })
    src.on('error', (err) => gunzip.destroy(err))
    src.pipe(gunzip)
    state.close = () => {
      src.destroy()
      gunzip.destroy()
    }
    this.#gz = state
  }

  /** Next inflated chunk of the current stream; an empty `.gz` counts as truncated (just created). */
  async #pull(): Promise<Buffer | null> {
    const gz = this.#gz as GzState
    const r = await gz.iter.next()
    if (r.done) {
      if (gz.compressed === 0) {
        throw new LogdaemonError(ErrorCodes.GZIP_TRUNCATED, `${this.file.path}: the gzip file is empty`, {
          file: this.file.path,
          journal: this.file.journal,
          offset: 0,
        })
      }
      return null
    }
    const c = r.value
    gz.produced += c.length
    return c
  }

  /** The next inflated chunk; after a truncation the stream is reopened and inflated again up to `offset`. */
  async #nextInflated(): Promise<Buffer | null> {
    return this.#gz ? this.#pull() : this.#inflateTo(0)
  }

  /**
   * Starts inflating from the file's beginning and skips to `offset`,
   * keeping the last `want` bytes before it in `before`. Returns the first
   * chunk at `offset`, or null when the journal ends first.
   */
  async #inflateTo(want: number): Promise<Buffer | null> {
    this.#startInflating()
    let before: Buffer = Buffer.alloc(0)
    for (;;) {
      const start = (this.#gz as GzState).produced
      const c = await this.#pull()
      const cut = this.offset - start
      if (c === null || cut < c.length) {
        if (want > 0) {
          if (c !== null && cut > 0) before = lastBytes(before, c.subarray(0, cut), want)
          this.before = Buffer.from(before)
        }
        return c === null ? null : cut > 0 ? c.subarray(cut) : c
      }
      if (want > 0) before = lastBytes(before, c, want)
    }
  }

  async #withRetry<T>(fn: () => Promise<T>): Promise<T> {
    const retry = retrySettings(this.#options.gzipRetry, DEFAULT_GZIP_RETRY)
    return pRetry(
      async () => {
        try {
          return await fn()
        } catch (err) {
          // The next attempt starts over from the file's beginning.
          this.#gz?.close()
          this.#gz = null
          throw err
        }
      },
      {
        ...retry,
        shouldRetry: ({ error }) => isLogdaemonError(error) && error.code === ErrorCodes.GZIP_TRUNCATED,
        ...(this.#options.signal ? { signal: this.#options.signal } : {}),
      },
    )
  }
}

/** An inflating read of a `.gz` from its start. */
interface GzState {
  iter: AsyncIterator<Buffer>
  close: () => void
  /** Decompressed bytes pulled so far. */
  produced: number
  /** Compressed bytes read so far. */
  compressed: number
}

/** The last `want` bytes of `prev` followed by `next`. */
export function lastBytes(prev: Buffer, next: Buffer, want: number): Buffer {
  if (next.length >= want) return next.subarray(next.length - want)
  const keep = Math.min(prev.length, want - next.length)
  return Buffer.concat([prev.subarray(prev.length - keep), next])
}
