import type { FileHandle } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { ErrorCodes, LogdaemonError, toError } from '../errors.js'
import type { GzipDecoder } from '../files/gunzip-decoder.js'
import { createGzipDecoder } from '../files/gunzip-worker.js'
import { selectInflater } from '../files/inflater.js'
import { READ_CHUNK_BYTES } from '../files/file-reader.js'

/** How a `.gz` that ends inside a member (still being written?) is waited for. */
export interface GzipRetryOptions {
  /** How often its size is looked at, ms. Default 200. */
  pollMs?: number
  /**
   * How long its size must stay the same before it counts as cut for good
   * (ERR_GZIP_TRUNCATED), ms. Default 3000. 0: at once. A file that keeps
   * growing (gzip still writing it) is waited for however long it takes.
   */
  stableMs?: number
}

/**
 * Compressed bytes read per step. A step inflates to at most ~1032 times
 * this (deflate's limit), but the output is handed over in pieces of 64 KiB
 * and inflating waits while QUEUE_BYTES are unread, so memory stays bounded
 * whatever the ratio.
 */
const STEP_BYTES = 64 * 1024
/** Inflated bytes waiting for the reader before inflating pauses: two read chunks. */
const QUEUE_BYTES = 2 * READ_CHUNK_BYTES

/**
 * A `.gz` file inflated on demand, from its start: `next()` returns the
 * next piece of output. Inflating runs ahead of the reader by at most
 * QUEUE_BYTES, and pauses otherwise (a gzip bomb costs time, not memory).
 *
 * At the end of the file inside a member, the file may still be being
 * written: the size is polled, and reading goes on where it stopped while
 * it grows; only a size that stays the same for `stableMs` makes it
 * ERR_GZIP_TRUNCATED. Corrupt data is ERR_GZIP_CORRUPT at once. Either
 * error comes after every byte inflated before it (as `gzip -dc`).
 *
 * `verified`: output bytes of members whose trailer (CRC-32, size) was
 * checked. Nothing after it may be trusted yet.
 */
export class GzipPull {
  readonly #fh: FileHandle
  readonly #path: string
  readonly #options: GzipRetryOptions
  readonly #signal: AbortSignal | undefined
  readonly #decoder: GzipDecoder
  readonly #queue: Buffer[] = []
  #queued = 0
  #error: Error | null = null
  #done = false
  #closed = false
  /** Wakes the reader (output, end or error) and the inflater (room in the queue). */
  #wakeReader: (() => void) | null = null
  #wakeWriter: (() => void) | null = null
  /** A read or stat of the file in flight: the handle must not close under it. */
  #io: Promise<unknown> | null = null

  constructor(fh: FileHandle, path: string, options: GzipRetryOptions = {}, signal?: AbortSignal) {
    this.#fh = fh
    this.#path = path
    this.#options = { ...options }
    this.#signal = signal
    // A worker's error can come while nothing is written: it ends the run too.
    this.#decoder = createGzipDecoder(selectInflater(), (chunk) => this.#emit(chunk), { file: path, onError: this.#fail })
    this.#run().catch(this.#fail)
  }

  /** Output bytes of members whose trailer was checked. */
  get verified(): number {
    return this.#decoder.verified
  }

  /** The next piece of output, or null at the end; rejects once the output before the error has been taken. */
  async next(): Promise<Buffer | null> {
    for (;;) {
      const chunk = this.#queue.shift()
      if (chunk) {
        this.#queued -= chunk.length
        const wake = this.#wakeWriter
        this.#wakeWriter = null
        wake?.()
        return chunk
      }
      if (this.#error) throw this.#error
      if (this.#done || this.#closed) return null
      await new Promise<void>((resolve) => {
        this.#wakeReader = resolve
      })
    }
  }

  /** Stops inflating; resolves when no read of the file is in flight (the caller closes it). */
  async close(): Promise<void> {
    this.#closed = true
    this.#wake()
    this.#decoder.destroy()
    await this.#io?.catch(() => {})
  }

  /**
   * Takes a piece of output; a promise when the queue is full. Once closed,
   * the promise never settles: the inflater stops there and is collected.
   */
  #emit(chunk: Buffer): Promise<void> | undefined {
    if (this.#closed) return new Promise<void>(() => {})
    this.#queue.push(chunk)
    this.#queued += chunk.length
    const wake = this.#wakeReader
    this.#wakeReader = null
    wake?.()
    if (this.#queued < QUEUE_BYTES) return undefined
    return new Promise<void>((resolve) => {
      this.#wakeWriter = resolve
    }).then(() => (this.#closed ? new Promise<void>(() => {}) : undefined))
  }

  readonly #fail = (err: unknown): void => {
    this.#error ??= toError(err)
    this.#wake()
  }

  #wake(): void {
    const r = this.#wakeReader
    const w = this.#wakeWriter
    this.#wakeReader = this.#wakeWriter = null
    r?.()
    w?.()
  }

  async #run(): Promise<void> {
    let pos = 0
    let size = -1
    let stableSince = 0
    const buf = Buffer.allocUnsafe(STEP_BYTES)
    while (!this.#closed) {
      const { bytesRead } = await this.#file(this.#fh.read(buf, 0, STEP_BYTES, pos))
      if (this.#closed) return
      if (bytesRead > 0) {
        pos += bytesRead
        // The decoder keeps no reference to the input after write(): the buffer is reused.
        await this.#decoder.write(buf.subarray(0, bytesRead))
        continue
      }
      await this.#decoder.settle()
      if (!this.#decoder.open) break
      // The end of the file inside a member: still being written, or cut.
      // The monotonic clock: a wall clock stepped forward (NTP, a VM restored) took a .gz still being written for cut.
      const now = performance.now()
      const current = (await this.#file(this.#fh.stat())).size
      if (current !== size) {
        size = current
        stableSince = now
      }
      if (current > pos) continue
      if (now - stableSince >= (this.#options.stableMs ?? 3000)) break
      await sleep(this.#options.pollMs ?? 200, undefined, this.#signal ? { signal: this.#signal } : {})
    }
    if (this.#closed) return
    if (pos === 0) {
      throw new LogdaemonError(ErrorCodes.GZIP_TRUNCATED, `${this.#path}: the gzip file is empty (still being created?)`, {
        file: this.#path,
        offset: 0,
      })
    }
    await this.#decoder.end()
    this.#done = true
    this.#wake()
  }

  #file<T>(op: Promise<T>): Promise<T> {
    this.#io = op
    return op
  }
}
