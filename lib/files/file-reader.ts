import { close, fstat, open, read } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { Readable } from 'node:stream'
import { ErrorCodes, formatWhere, LogdaemonError } from '../errors.js'

/**
 * How many bytes logdaemon reads from a journal file at a time (with the
 * next read already in flight: FileReader, ArchiveReader). Measured with
 * `npm run bench` on 1 GiB (docs/benchmarks.md): framing ran 1.8x split2
 * with 64 KiB reads, 2.1x with 128 KiB and 2.25x with 256 KiB, but from
 * 128 KiB up the buffers are past glibc's mmap threshold and the peak RSS
 * of decoding every field rose from 69 MB to 128 MB (128 KiB) and 138 MB
 * (256 KiB); 128 KiB is the compromise, pinned in test/files/file-reader.ts.
 * Measured again (2026-12-06, 200 MB, 5-6 interleaved runs, medians): 256
 * KiB took daemon-noop-listener from 384 to 303 ms, for-await-reader (short
 * records) from 392 to 334 ms and framing from 300 to 273 ms, but the peak
 * RSS of framing-decode from 65 to 126 MB already at 200 MB (192 KiB: 125
 * MB; two 128 KiB buffers per read: 125 MB, and no faster). A buffer
 * decoded for longer outlives two scavenges and is promoted, and promoted
 * buffers are freed only by a full GC, which V8 starts after 64 MB of them.
 */
export const READ_CHUNK_BYTES = 128 * 1024

/**
 * Bytes per read once a file turns out to be gzip (its first two bytes are
 * the gzip magic), unless `chunkBytes` is given. A read of journal text
 * inflates to 4-7 times its size, so a 128 KiB read is ~0.5-1 MB of
 * inflating and framing: with the next read ahead and one waiting in
 * gunzip's input, each read buffer then lived ~15 ms, longer than V8's
 * young generation keeps it (a scavenge every ~10 ms while framing), so
 * most were promoted to the old generation, where a buffer is freed only
 * by a full GC, which V8 starts only after 64 MB of such memory. The peak
 * RSS of gunzip and framing then grew with the input: 76 MB at 200 MB,
 * 124 MB at 1 GiB. With 32 KiB reads (as much output per read as a plain
 * file's 128 KiB) the buffers die young: 73 MB at 1 GiB, flat beyond
 * (docs/reliability-data.md).
 */
export const GZIP_READ_CHUNK_BYTES = 32 * 1024

/** RFC 1952 §2.3.1: the first two bytes of a gzip member. */
const GZIP_MAGIC = [0x1f, 0x8b] as const

export interface FileReaderOptions {
  /**
   * Bytes per read. Default {@link READ_CHUNK_BYTES}, then
   * {@link GZIP_READ_CHUNK_BYTES} once the file starts with the gzip magic.
   */
  chunkBytes?: number
  /** Where to start reading. Default 0. */
  start?: number
  /**
   * Where to stop: bytes from here on are not read (a file that grows past
   * it ends here), and a file that ends before it was cut (ERR_JOURNAL_SHRUNK),
   * whatever its size at open. Default: the end of the file.
   */
  end?: number
  /**
   * Read the file as it was when opened: stop at its size then (a regular
   * file; `end` when given wins). `logdaemon-cat` reads a file so on every
   * path: its range-parallel path reads up to the size at open, and a file
   * that grew meanwhile must give the same output whatever the thread count.
   */
  snapshot?: boolean
  /** The journal number, only to say where an error happened. */
  journal?: number | null
}

/**
 * A file as a byte stream that keeps the next read in flight while the
 * consumer works on the current chunk. `fs.createReadStream` asks for the
 * next chunk only after the consumer has taken the last one, so a fast
 * consumer waits a thread-pool round trip per chunk; here the read of chunk
 * k+1 starts before chunk k is pushed. The bound: one chunk read ahead
 * beyond the readable buffer (highWaterMark: one chunk).
 */
export class FileReader extends Readable {
  readonly #path: string
  #chunkBytes: number
  /** Reads shrink to GZIP_READ_CHUNK_BYTES when the first one starts with the gzip magic (no `chunkBytes` given). */
  #sniff: boolean
  #position: number
  readonly #start: number
  #end: number
  readonly #snapshot: boolean
  readonly #journal: number | null
  /** The file's size when it was opened (0 when not a regular file). */
  #sizeAtOpen = 0
  /**
   * Reads name their offset (pread): a regular file or a block device. A
   * FIFO, a character device or a socket cannot seek (ESPIPE): read on from
   * where it is, once the file opened as one turns out to be one.
   */
  #positioned = true
  /** The file shrank: the error, held until the chunks read before it have been taken. */
  #failure: Error | null = null
  #fd: number | null = null
  #reading = false
  /** Chunks read, waiting for the consumer to want them: at most one, read ahead. */
  #ready: Buffer[] = []
  #eof = false
  #wanted = false
  /** Closing waits for a read in flight: its fd number must not be reused under it. */
  #afterRead: (() => void) | null = null

  constructor(path: string, options: FileReaderOptions = {}) {
    const chunkBytes = options.chunkBytes ?? READ_CHUNK_BYTES
    // One chunk waits in the readable buffer either way: a push of a chunk at
    // least as long as the highWaterMark fills it (a gzip file's smaller reads too).
    super({ highWaterMark: options.chunkBytes === undefined ? Math.min(chunkBytes, GZIP_READ_CHUNK_BYTES) : chunkBytes })
    this.#path = path
    this.#chunkBytes = chunkBytes
    this.#sniff = options.chunkBytes === undefined
    this.#position = options.start ?? 0
    this.#start = this.#position
    this.#end = options.end ?? Number.POSITIVE_INFINITY
    this.#snapshot = options.snapshot === true && options.end === undefined
    this.#journal = options.journal ?? null
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.#path, 'r', (err, fd) => {
      if (err) {
        callback(err)
        return
      }
      this.#fd = fd
      // Its size now, to tell a file cut under the reader from one that ended (see #atEnd).
      fstat(fd, (statErr, stats) => {
        if (!statErr && stats.isFile()) {
          this.#sizeAtOpen = stats.size
          if (this.#snapshot && stats.size > 0) this.#end = stats.size
        }
        if (!statErr && (stats.isFIFO() || stats.isCharacterDevice() || stats.isSocket()) && this.#position === 0) this.#positioned = false
        callback()
      })
    })
  }

  override _read(): void {
    this.#wanted = true
    const chunk = this.#ready.shift()
    if (chunk) {
      this.#deliver(chunk)
    } else if (this.#eof) {
      if (!this.#failure) this.push(null)
    } else if (!this.#reading) {
      this.#readNext()
    }
  }

  #readNext(): void {
    if (this.#fd === null || this.destroyed || this.#reading) return
    const left = this.#end - this.#position
    if (left <= 0) {
      this.#atEnd()
      return
    }
    this.#reading = true
    const buf = Buffer.allocUnsafeSlow(this.#chunkBytes)
    read(this.#fd, buf, 0, Math.min(buf.length, left), this.#positioned ? this.#position : null, (err, bytes) => {
      this.#reading = false
      if (this.#afterRead) {
        this.#afterRead()
        return
      }
      if (err) {
        this.destroy(err)
        return
      }
      if (this.destroyed) return
      if (this.#sniff) {
        this.#sniff = false
        if (bytes >= 2 && buf[0] === GZIP_MAGIC[0] && buf[1] === GZIP_MAGIC[1]) this.#chunkBytes = GZIP_READ_CHUNK_BYTES
      }
      this.#position += bytes
      if (bytes === 0) {
        this.#atEnd()
        return
      }
      const chunk = bytes < buf.length ? buf.subarray(0, bytes) : buf
      this.#ready.push(chunk)
      if (this.#wanted) this.#deliver(this.#ready.shift() as Buffer)
    })
  }

  /**
   * A read found nothing more: the end, unless the file is now shorter than
   * what was read from it or than it was when opened. Then it was cut under
   * the reader (a live journal rotated by copy and truncate, say), and what
   * was read is not the whole file as it stood: ERR_JOURNAL_SHRUNK, not a
   * clean end that a cut between two records would look like. The check is
   * one `fstat`, while the descriptor stays open (a close waits for it as
   * for a read).
   */
  #atEnd(): void {
    const fd = this.#fd as number
    this.#reading = true
    fstat(fd, (err, stats) => {
      this.#reading = false
      if (this.#afterRead) {
        this.#afterRead()
        return
      }
      if (this.destroyed) return
      // A file whose size said 0 at open is left alone: /proc and some FUSE files say 0 and hold bytes all the same.
      const expected = Number.isFinite(this.#end) ? this.#end : Math.max(this.#position, this.#sizeAtOpen)
      if (!err && stats.isFile() && this.#sizeAtOpen > 0 && stats.size < expected && expected > this.#start) {
        const failure = shrunkError(this.#path, this.#journal, this.#position, stats.size, Number.isFinite(this.#end) ? this.#end : this.#sizeAtOpen)
        // The chunk read before the cut is good: it is taken first (see read()).
        if (this.readableLength === 0) this.destroy(failure)
        else {
          this.#failure = failure
          this.#eof = true
        }
        return
      }
      this.#eof = true
      if (this.#wanted) this.push(null)
    })
  }

  /**
   * Taking the last chunk read before the file shrank releases the error
   * held for it: pipes, `for await` and `read()` all take chunks here.
   */
  override read(size?: number): ReturnType<Readable['read']> {
    const chunk: unknown = super.read(size)
    const failure = this.#failure
    if (failure && this.readableLength === 0) {
      this.#failure = null
      process.nextTick(() => this.destroy(failure))
    }
    return chunk
  }

  /** Starts the next read, then hands `chunk` over: the read runs while the consumer works. */
  #deliver(chunk: Buffer): void {
    if (!this.#eof && this.#ready.length === 0) this.#readNext()
    this.#wanted = this.push(chunk)
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const fd = this.#fd
    this.#ready = []
    if (fd === null) {
      callback(err)
      return
    }
    const closeFd = () => {
      this.#fd = null
      close(fd, (closeErr) => callback(err ?? closeErr))
    }
    if (this.#reading) this.#afterRead = closeFd
    else closeFd()
  }
}

/**
 * The file from `start` to `end` in the chunks a FileReader of `chunkBytes`
 * reads, aligned the same way, so an error that says how much of a record it
 * saw says what the serial path says (the parallel paths hand the rest of a
 * file to the serial framer with it).
 */
export async function* readAligned(
  handle: FileHandle,
  start: number,
  end: number,
  chunkBytes: number,
  where: { file: string | null; journal: number | null } = { file: null, journal: null },
): AsyncGenerator<Buffer> {
  for (let pos = start; pos < end; ) {
    const want = Math.min(chunkBytes - (pos % chunkBytes), end - pos)
    const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(want), 0, want, pos)
    // `end` is the size the caller found at open: the file shrank since (see FileReader).
    if (bytesRead === 0) throw shrunkError(where.file, where.journal, pos, (await handle.stat()).size, end)
    yield buffer.subarray(0, bytesRead)
    pos += bytesRead
  }
}

/** ERR_JOURNAL_SHRUNK for a file read once: at `offset` (as far as reading had got) it had only `size` bytes left. */
export function shrunkError(file: string | null, journal: number | null, offset: number, size: number, atOpen?: number): LogdaemonError {
  const was = atOpen === undefined ? '' : ` (${atOpen} when it was opened)`
  return new LogdaemonError(ErrorCodes.JOURNAL_SHRUNK, `${formatWhere({ file, journal, offset })}: the file shrank to ${size} bytes${was} while it was read`, {
    file,
    journal,
    offset,
    details: { size, ...(atOpen === undefined ? {} : { atOpen }) },
  })
}
