import { readSync } from 'node:fs'
import { stat, type FileHandle } from 'node:fs/promises'
import { isErrnoException } from '../errors.js'
import { openIfExists } from '../files/if-exists.js'
import { notAJournalFile, unreachableJournal } from './unreadable.js'
import { STATE_TAIL_BYTES } from '../files/state-file.js'
import { CHUNK_BYTES, READ_AHEAD_CHUNKS } from './archive-reader.js'

/** Reads smaller than this are copied out of the read buffer (a copy is cheaper than a new 128 KiB buffer). */
const COPY_BELOW = 16 * 1024

/** The read buffer: a chunk plus the largest window before the offset that `readAfter` checks. */
const SCRATCH_BYTES = CHUNK_BYTES + STATE_TAIL_BYTES

/** A file's identity: the same (dev, ino) is the same file, whatever its name. */
export interface FileId {
  readonly dev: number
  readonly ino: number
}

/**
 * The live journal, held open by descriptor. Reading goes through the
 * descriptor, so after a rename rotation it still reads the old inode to
 * its end while the path already names the new journal. The checks the
 * follower needs are here: whether the path still names this inode, and
 * the current size (a size below the read offset means truncation).
 */
export class LiveFile {
  readonly path: string
  readonly dev: number
  readonly ino: number
  /** Size at the last `stat()` or read. */
  size: number
  readonly #fh: FileHandle
  #closed = false
  /** The read buffer, kept while reads are small. */
  #scratch: Buffer | null = null
  /** The checked read of the chunks after the last full chunk or block, in flight or done (see `readAfter`). */
  #ahead: { offset: number; before: Buffer; read: Promise<Buffer[] | null> } | null = null
  /** The chunks read ahead not handed out yet: `chunks[next]` is at `offset`, after `before`. */
  #block: { offset: number; before: Buffer; chunks: readonly Buffer[]; next: number } | null = null

  private constructor(path: string, fh: FileHandle, st: { dev: number; ino: number; size: number }) {
    this.path = path
    this.#fh = fh
    this.dev = st.dev
    this.ino = st.ino
    this.size = st.size
  }

  /** Opens the file, or returns null when it does not exist (between a rename and the new file). */
  static async open(path: string): Promise<LiveFile | null> {
    const fh = await openIfExists(path).catch((err: unknown) => {
      throw (isErrnoException(err) && unreachableJournal(err, path)) || err
    })
    if (fh === null) return null
    try {
      const info = await fh.stat()
      if (!info.isFile()) throw notAJournalFile(path, info)
      return new LiveFile(path, fh, info)
    } catch (err) {
      await fh.close()
      throw err
    }
  }

  /**
   * Up to `length` bytes at `offset`; empty at the end of the file. A
   * follower mostly reads a few bytes at a time: those are copied out and
   * the read buffer is used again; a large read hands its buffer over.
   */
  async read(offset: number, length = CHUNK_BYTES): Promise<Buffer> {
    if (length !== CHUNK_BYTES) {
      const buf = Buffer.allocUnsafe(length)
      const { bytesRead } = await this.#fh.read(buf, 0, length, offset)
      this.#grown(offset + bytesRead)
      return buf.subarray(0, bytesRead)
    }
    return (await this.#chunk(offset, 0, CHUNK_BYTES)) as Buffer // null only when a window is compared
  }

  /**
   * The bytes after `offset`, but only when the bytes just before it are
   * still `before` (the ones read last): null when they are not, or when the
   * file no longer reaches the offset. The window and the new bytes come
   * from one read, and the window is read once more after it, so a rewrite
   * that lands before or during the read (writing from the start of the file
   * up, as every copy does) is seen: no byte of other content after the
   * offset is ever handed out as if it followed what was read.
   *
   * After a full chunk, the chunks after it are read ahead (a block of
   * READ_AHEAD_CHUNKS, checked the same way: its window is the end of that
   * chunk) while the caller works, and handed out one at a time; the next
   * block is read while one is handed out. A block's chunk is used only for
   * its offset, after the window the block was read for or the chunk before
   * it, when the caller asks in order; anything else reads the file. Bytes
   * read ahead were the file's continuation when they were read; a rewrite
   * that comes after them is seen by the read that follows them, as it would
   * be had the caller been faster.
   */
  async readAfter(offset: number, before: Buffer): Promise<Buffer | null> {
    let block = this.#block
    this.#block = null
    if (!block || block.offset !== offset || !block.before.equals(before)) {
      const ahead = this.#ahead
      this.#ahead = null
      if (!ahead || ahead.offset !== offset || !ahead.before.equals(before)) {
        // Not the read wanted (the caller looked elsewhere): let it finish, one read at a time.
        if (ahead) await ahead.read.catch(() => {})
        const bytes = await this.#checkedRead(offset, before, CHUNK_BYTES)
        if (bytes !== null && bytes.length === CHUNK_BYTES) this.#readAhead(offset + CHUNK_BYTES, bytes)
        return bytes
      }
      const chunks = await ahead.read
      if (chunks === null || chunks.length === 0) return chunks === null ? null : Buffer.alloc(0)
      block = { offset, before, chunks, next: 0 }
      const last = chunks[chunks.length - 1] as Buffer
      if (chunks.length === READ_AHEAD_CHUNKS && last.length === CHUNK_BYTES) this.#readAhead(offset + READ_AHEAD_CHUNKS * CHUNK_BYTES, last)
    }
    const chunk = block.chunks[block.next++] as Buffer
    if (block.next < block.chunks.length) {
      this.#block = { offset: offset + chunk.length, before: chunk.subarray(chunk.length - STATE_TAIL_BYTES), chunks: block.chunks, next: block.next }
    }
    return chunk
  }

  /** Starts the checked read of READ_AHEAD_CHUNKS chunks at `offset`, whose window is the end of `prev`. */
  #readAhead(offset: number, prev: Buffer): void {
    if (this.#closed) return
    const before = Buffer.from(prev.subarray(prev.length - STATE_TAIL_BYTES))
    const read = this.#checkedReadAhead(offset, before)
    // A read ahead that is never used must not be an unhandled rejection.
    read.catch(() => {})
    this.#ahead = { offset, before, read }
  }

  /**
   * The checked read of a block (see `readAfter`): the window and
   * READ_AHEAD_CHUNKS chunks in one read (`readv`), each chunk its own
   * buffer (a chunk's entries keep only their chunk alive), then the window
   * again. Null when a window differs; no chunk at the end of the file.
   */
  async #checkedReadAhead(offset: number, before: Buffer): Promise<Buffer[] | null> {
    const k = before.length
    const window = Buffer.allocUnsafe(k)
    const buffers = [window]
    for (let i = 0; i < READ_AHEAD_CHUNKS; i++) buffers.push(Buffer.allocUnsafe(CHUNK_BYTES))
    const { bytesRead } = await this.#fh.readv(buffers, offset - k)
    this.#grown(offset - k + bytesRead)
    if (bytesRead < k || !window.equals(before)) return null
    const chunks: Buffer[] = []
    for (let i = 1, left = bytesRead - k; left > 0; i++) {
      const n = Math.min(left, CHUNK_BYTES)
      const buf = buffers[i] as Buffer
      chunks.push(n < COPY_BELOW ? Buffer.from(buf.subarray(0, n)) : buf.subarray(0, n))
      left -= n
    }
    if (chunks.length === 0) return chunks
    return this.#windowStill(offset, before) ? chunks : null
  }

  /** One checked read of up to `length` bytes (see `readAfter`); a chunk goes into the shared read buffer. */
  async #checkedRead(offset: number, before: Buffer, length: number): Promise<Buffer | null> {
    const k = before.length
    const bytes = await this.#chunk(offset - k, k, length, before)
    if (k === 0 || bytes === null || bytes.length === 0) return bytes
    return this.#windowStill(offset, before) ? bytes : null
  }

  /**
   * The second read of a checked read: whether the `before.length` bytes
   * before `offset` are still `before`, now that the bytes after them have
   * been read. It is a synchronous read on purpose: a few hundred bytes the
   * read before has just brought into the page cache, a few microseconds.
   * Through the thread pool it was a second round trip per block that the
   * read ahead could not hide: its completion runs only once the consumer
   * has taken every entry framed before it (a `for await` hands them out in
   * microtasks), so the consumer waited for it every block: 760 times for
   * 200 MB, 120-140 ms of a 1.4 s catch-up on a busy 2-core machine. False
   * once the file is closed (its descriptor number may already name another
   * file).
   */
  #windowStill(offset: number, before: Buffer): boolean {
    const k = before.length
    if (this.#closed) return false
    const again = Buffer.allocUnsafe(k)
    return readSync(this.#fh.fd, again, 0, k, offset - k) === k && again.equals(before)
  }

  /**
   * One read of `skip + length` bytes at `at`; the first `skip` bytes are
   * the window before the offset, compared with `before` when given (null
   * when they differ or are missing), and not returned. A chunk is read into
   * the shared read buffer; a read ahead, which may overlap another read,
   * into its own.
   */
  async #chunk(at: number, skip: number, length: number, before?: Buffer): Promise<Buffer | null> {
    const reuse = length === CHUNK_BYTES
    const buf = reuse ? (this.#scratch ?? Buffer.allocUnsafe(SCRATCH_BYTES)) : Buffer.allocUnsafe(skip + length)
    const { bytesRead } = await this.#fh.read(buf, 0, skip + length, at)
    this.#grown(at + bytesRead)
    if (before && (bytesRead < skip || buf.compare(before, 0, skip, 0, skip) !== 0)) {
      if (reuse) this.#scratch = buf
      return null
    }
    const n = bytesRead - skip
    if (n < COPY_BELOW) {
      if (reuse) this.#scratch = buf
      return Buffer.from(buf.subarray(skip, bytesRead))
    }
    if (reuse) this.#scratch = null
    return buf.subarray(skip, bytesRead)
  }

  #grown(end: number): void {
    if (end > this.size) this.size = end
  }

  /** The file's current size (through the descriptor). */
  async stat(): Promise<number> {
    this.size = (await this.#fh.stat()).size
    return this.size
  }

  /** When the file was last written (through the descriptor), in ns since the epoch, as the filesystem keeps it. */
  async modified(): Promise<bigint> {
    return (await this.#fh.stat({ bigint: true })).mtimeNs
  }

  /** How many names the file has (0: deleted, still readable through the descriptor). */
  async links(): Promise<number> {
    return (await this.#fh.stat()).nlink
  }

  /** Whether the path now names another file, or none (a rename rotation). */
  async replaced(): Promise<boolean> {
    const id = await identityOf(this.path)
    return id === null || id.dev !== this.dev || id.ino !== this.ino
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    // Let a read ahead finish before the descriptor closes.
    const ahead = this.#ahead
    this.#ahead = null
    this.#block = null
    await ahead?.read.catch(() => {})
    await this.#fh.close()
  }
}

/** The identity of the file at `path`, or null when there is none. */
export async function identityOf(path: string): Promise<FileId | null> {
  try {
    const st = await stat(path)
    return { dev: st.dev, ino: st.ino }
  } catch (err) {
    if (isErrnoException(err) && (err.code === 'ENOENT' || err.code === 'ENOTDIR')) return null
    throw err
  }
}
