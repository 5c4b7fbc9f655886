import { close, open, read } from 'node:fs'
import { Readable } from 'node:stream'
import { READ_CHUNK_BYTES } from './read-chunk.js'

export interface FileReaderOptions {
  /** Bytes per read. Default {@link READ_CHUNK_BYTES}. */
  chunkBytes?: number
  /** Where to start reading. Default 0. */
  start?: number
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
  readonly #chunkBytes: number
  #position: number
  #fd: number | null = null
  #reading = false
  /** A chunk read ahead, waiting for the consumer to want it. */
  #ready: Buffer | null = null
  #eof = false
  #wanted = false
  /** Closing waits for a read in flight: its fd number must not be reused under it. */
  #afterRead: (() => void) | null = null

  constructor(path: string, options: FileReaderOptions = {}) {
    const chunkBytes = options.chunkBytes ?? READ_CHUNK_BYTES
    super({ highWaterMark: chunkBytes })
    this.#path = path
    this.#chunkBytes = chunkBytes
    this.#position = options.start ?? 0
  }

  override _construct(callback: (error?: Error | null) => void): void {
    open(this.#path, 'r', (err, fd) => {
      if (err) {
        callback(err)
        return
      }
      this.#fd = fd
      callback()
    })
  }

  override _read(): void {
    this.#wanted = true
    if (this.#ready) {
      const chunk = this.#ready
      this.#ready = null
      this.#deliver(chunk)
    } else if (this.#eof) {
      this.push(null)
    } else if (!this.#reading) {
      this.#readNext()
    }
  }

  #readNext(): void {
    if (this.#fd === null || this.destroyed || this.#reading) return
    this.#reading = true
    const buf = Buffer.allocUnsafeSlow(this.#chunkBytes)
    read(this.#fd, buf, 0, buf.length, this.#position, (err, bytes) => {
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
      this.#position += bytes
      if (bytes === 0) {
        this.#eof = true
        if (this.#wanted) this.push(null)
        return
      }
      const chunk = bytes < buf.length ? buf.subarray(0, bytes) : buf
      if (this.#wanted) this.#deliver(chunk)
      else this.#ready = chunk
    })
  }

  /** Starts the next read, then hands `chunk` over: the read runs while the consumer works. */
  #deliver(chunk: Buffer): void {
    if (!this.#eof) this.#readNext()
    this.#wanted = false
    if (this.push(chunk)) this.#wanted = true
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    const fd = this.#fd
    this.#ready = null
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
