import type { FileHandle } from 'node:fs/promises'
import { READ_CHUNK_BYTES } from '../files/file-reader.js'
import { openForReading } from '../files/if-exists.js'
import type { ArchiveFile } from '../files/journal-set.js'
import { GzipPull, type GzipRetryOptions } from './gzip-pull.js'
import { notAJournalFile } from './unreadable.js'

export type { GzipRetryOptions } from './gzip-pull.js'

/** Bytes per read of a plain file: the project's read size (see file-reader.ts for the measurement). */
export const CHUNK_BYTES = READ_CHUNK_BYTES

/**
 * Chunks read at once (one `readv`, a buffer each) ahead of a reader
 * catching up, a plain archive or the live journal, and handed out one at a
 * time: 2 (256 KiB). A read is a trip to the thread pool whatever its size
 * (a checked read of the live journal two), and one per chunk left
 * for-await-source waiting for reads about a third of its time on a busy
 * 2-core machine. One block in flight and one being handed out: 512 KiB at
 * most. Each chunk has its own buffer: one buffer for the block, kept alive
 * by any of its entries, raised the peak RSS by 13 MB at 100 MB; and 4
 * chunks a block raised for-await-source's from 70 to 90 MB (short records,
 * 100 MB: V8 grew its young generation) for little more speed. Measured
 * again (2026-12-04, daemon-noop-listener, interleaved runs, medians): 4
 * chunks took default 200 MB from 455 to 419 ms and short 200 MB from 522
 * to 464 ms, and default 1 GiB from 2.2-2.4 s to 1.7-1.8 s, but that run's
 * peak RSS went from 82-83 to 103-104 MB (V8's new space 32 MB instead of
 * 16), near the 120 MB bar; 8 chunks: 396 ms and 105 MB at 200 MB.
 * Two or three blocks of 2 in flight instead of one (2026-12-07) did the
 * same: 5-10 % faster at 200 MB, 98-108 MB instead of 85 at 1 GiB
 * (docs/benchmarks.md, "more reads in flight").
 */
export const READ_AHEAD_CHUNKS = 2

export interface ArchiveReaderOptions {
  /** Offset in the (decompressed) journal bytes to start at. */
  offset: number
  /** How many bytes before `offset` to keep in `before`, for checking a saved state. Default 0. */
  before?: number
  /** How a `.gz` that is still being written is waited for. Default DEFAULT_GZIP_RETRY. */
  gzipRetry?: GzipRetryOptions
  signal?: AbortSignal
}

/**
 * Reads one archived journal from an offset to its end, a chunk per
 * `read()`, so the caller's pace is the file's pace. A `.gz` archive is
 * inflated from its start and the bytes before `offset` are skipped
 * (offsets are offsets in the decompressed journal); see GzipPull for how
 * a `.gz` still being written is waited for, and for corrupt data.
 *
 * `verified` says up to where the bytes read are known good: the end of
 * the last gzip member whose CRC was checked (everything, for a plain file).
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
  #gz: GzipPull | null = null
  #pending: Buffer | null = null
  #closed = false
  /** Where this reader started: the bytes before it were not read here. */
  readonly #startOffset: number

  private constructor(file: ArchiveFile, options: ArchiveReaderOptions) {
    this.file = file
    this.#options = { ...options }
    this.offset = options.offset
    this.#startOffset = options.offset
  }

  /**
   * Offset in the journal up to which the bytes this reader returned are
   * verified: a plain file's are (MAX_SAFE_INTEGER); a `.gz`'s up to the end
   * of its last member whose CRC-32 and size were checked.
   */
  get verified(): number {
    return this.#gz ? Math.max(this.#startOffset, this.#gz.verified) : Number.MAX_SAFE_INTEGER
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

  /** The read of a block at #aheadAt (READ_AHEAD_CHUNKS chunks, one `readv`), started before it was asked for. */
  #ahead: Promise<{ bytesRead: number; buffers: Buffer[] }> | null = null
  #aheadAt = -1
  /** The chunks of the block read ahead not handed out yet. */
  #block: Buffer[] = []

  /** The next chunk (CHUNK_BYTES at most), or null at the end of the journal. */
  async read(): Promise<Buffer | null> {
    if (this.#closed) return null
    let chunk: Buffer | null
    if (this.#pending) {
      chunk = this.#pending
      this.#pending = null
    } else if (this.#gz) {
      chunk = await this.#gz.next()
    } else if (this.#block.length > 0) {
      chunk = this.#block.shift() as Buffer
    } else if (this.#fh) {
      chunk = await this.#readPlain()
    } else {
      chunk = null
    }
    if (chunk) this.offset += chunk.length
    return chunk
  }

  /**
   * The next chunk of a plain file. After a full read the next block is
   * read ahead while the caller frames this one (one read in flight at
   * most); a short read is the end for now.
   */
  async #readPlain(): Promise<Buffer | null> {
    const fh = this.#fh as FileHandle
    const at = this.offset
    const ahead = this.#ahead && this.#aheadAt === at ? this.#ahead : null
    this.#ahead = null
    const { bytesRead, buffers } = await (ahead ?? fh.readv([Buffer.allocUnsafe(CHUNK_BYTES)], at))
    if (bytesRead === buffers.length * CHUNK_BYTES && this.#fh) {
      this.#aheadAt = at + bytesRead
      const block: Buffer[] = []
      for (let i = 0; i < READ_AHEAD_CHUNKS; i++) block.push(Buffer.allocUnsafe(CHUNK_BYTES))
      this.#ahead = this.#fh.readv(block, this.#aheadAt)
      // A read ahead that is never used must not be an unhandled rejection.
      this.#ahead.catch(() => {})
    }
    for (let i = 0, left = bytesRead; left > 0; i++) {
      const n = Math.min(left, CHUNK_BYTES)
      this.#block.push((buffers[i] as Buffer).subarray(0, n))
      left -= n
    }
    return this.#block.shift() ?? null
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#block = []
    // Let a read ahead finish before the handle closes.
    const ahead = this.#ahead
    this.#ahead = null
    await ahead?.catch(() => {})
    await this.#gz?.close()
    const fh = this.#fh
    this.#fh = null
    await fh?.close()
  }

  async #openPlain(): Promise<void> {
    const fh = (this.#fh = await openForReading(this.file.path))
    const st = await fh.stat()
    if (!st.isFile()) throw notAJournalFile(this.file.path, st, this.file.journal)
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
    const fh = (this.#fh = await openForReading(this.file.path))
    const st = await fh.stat()
    if (!st.isFile()) throw notAJournalFile(this.file.path, st, this.file.journal)
    this.dev = st.dev
    this.ino = st.ino
    this.#gz = new GzipPull(fh, this.file.path, this.#options.gzipRetry, this.#options.signal)
    // Skip to the offset, keeping the bytes before it.
    const want = this.#options.before ?? 0
    let before: Buffer = Buffer.alloc(0)
    let produced = 0
    for (;;) {
      const c = await this.#gz.next()
      const cut = this.offset - produced
      if (c === null || cut < c.length) {
        if (want > 0) {
          if (c !== null && cut > 0) before = lastBytes(before, c.subarray(0, cut), want)
          this.before = Buffer.from(before)
        }
        if (c === null && produced < this.offset) {
          this.reachedOffset = false
          this.offset = produced
        }
        this.#pending = c === null ? null : cut > 0 ? c.subarray(cut) : c
        return
      }
      produced += c.length
      if (want > 0) before = lastBytes(before, c, want)
    }
  }
}

/** The last `want` bytes of `prev` followed by `next`. */
export function lastBytes(prev: Buffer, next: Buffer, want: number): Buffer {
  if (next.length >= want) return next.subarray(next.length - want)
  const keep = Math.min(prev.length, want - next.length)
  return Buffer.concat([prev.subarray(prev.length - keep), next])
}
