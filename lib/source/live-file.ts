import { open, stat, type FileHandle } from 'node:fs/promises'
import { isErrnoException } from '../errors.js'
import { CHUNK_BYTES } from './archive-reader.js'

/** Reads smaller than this are copied out of the read buffer (a copy is cheaper than a new 128 KiB buffer). */
const COPY_BELOW = 16 * 1024

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

  private constructor(path: string, fh: FileHandle, st: { dev: number; ino: number; size: number }) {
    this.path = path
    this.#fh = fh
    this.dev = st.dev
    this.ino = st.ino
    this.size = st.size
  }

  /** Opens the file, or returns null when it does not exist (between a rename and the new file). */
  static async open(path: string): Promise<LiveFile | null> {
    let fh: FileHandle
    try {
      fh = await open(path, 'r')
    } catch (err) {
      if (isErrnoException(err) && err.code === 'ENOENT') return null
      throw err
    }
    try {
      return new LiveFile(path, fh, await fh.stat())
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
    const buf = length === CHUNK_BYTES ? (this.#scratch ?? Buffer.allocUnsafe(length)) : Buffer.allocUnsafe(length)
    const { bytesRead } = await this.#fh.read(buf, 0, length, offset)
    if (offset + bytesRead > this.size) this.size = offset + bytesRead
    if (length !== CHUNK_BYTES) return buf.subarray(0, bytesRead)
    if (bytesRead < COPY_BELOW) {
      this.#scratch = buf
      return Buffer.from(buf.subarray(0, bytesRead))
    }
    this.#scratch = null
    return buf.subarray(0, bytesRead)
  }

  /** The file's current size (through the descriptor). */
  async stat(): Promise<number> {
    this.size = (await this.#fh.stat()).size
    return this.size
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
