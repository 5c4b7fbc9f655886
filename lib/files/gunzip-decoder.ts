import { gzipError, type Emit, type Inflater, type InflaterName, type MemberInflater, type OutputRoom } from './inflater.js'

export interface GunzipDecoderOptions {
  /** The file, named in errors. */
  file?: string | null
  /** Input that does not start with the gzip magic: an ERR_GZIP_CORRUPT error (default) or passed through. */
  notGzip?: 'error' | 'pass'
  /** `emit` copies what it keeps: the inflater may reuse its output buffer (see Inflater). */
  lend?: boolean
  /** Where an engine that can writes its output (see OutputRoom); with `lend`. */
  room?: OutputRoom
  /** Called when `verified` moves on (a member's trailer checked), which may come with no output of its own. */
  onVerified?: () => void
}

/** gzip's magic bytes ID1 ID2 (RFC 1952 §2.3.1). */
const ID1 = 0x1f
const ID2 = 0x8b

/** Whether bytes start with the gzip magic `1f 8b`. */
export function isGzip(firstBytes: Buffer): boolean {
  return firstBytes.length >= 2 && firstBytes[0] === ID1 && firstBytes[1] === ID2
}

const EMPTY = Buffer.alloc(0)

/**
 * What GunzipTransform and GzipPull drive: GunzipDecoder on the calling
 * thread, or WorkerGunzipDecoder (gunzip-worker.ts) on a worker thread.
 */
export interface GzipDecoder {
  /** The engine inflating this stream. */
  readonly inflaterName: InflaterName
  /** Output bytes of members whose trailer has been checked, and that have been handed to `emit`. */
  readonly verified: number
  /** Whether the input so far (as of the last `settle()`) stops inside a gzip member: false when `end()` would succeed. */
  readonly open: boolean
  /** Takes one chunk of compressed input (not kept after it resolves); resolves when there is room for more. */
  write(chunk: Buffer): Promise<void>
  /** Resolves once everything written has been inflated and handed to `emit`: `open` is then up to date. */
  settle(): Promise<void>
  /** The input ended: resolves once all output has been handed on; fails with ERR_GZIP_TRUNCATED when it ends inside a member. */
  end(): Promise<void>
  destroy(): void
}

/**
 * The gzip framing, without a stream around it: the magic at the start,
 * then members, each followed by zero padding or the next member; anything
 * else after a member is a corrupt next member. `write()` takes one chunk
 * of compressed input and resolves when all of it has been inflated and
 * handed to `emit` (which may make it wait: backpressure).
 *
 * `verified` counts the output bytes of members whose end has been checked
 * (CRC-32 and size, RFC 1952 §2.3.1): the bytes after it may still turn out
 * to be corrupt. GunzipTransform and ArchiveReader are built on it.
 */
export class GunzipDecoder implements GzipDecoder {
  readonly #inflater: Inflater
  readonly #file: string | null
  readonly #notGzip: 'error' | 'pass'
  readonly #lend: boolean
  readonly #room: OutputRoom | undefined
  readonly #emit: Emit
  readonly #onVerified: (() => void) | undefined
  #state: 'start' | 'members' | 'plain' = 'start'
  #member: MemberInflater | null = null
  /** Compressed offset of the first byte not taken yet (where `#carry` starts). */
  #offset = 0
  /** The first byte, when it is 1f and the second has not come yet. */
  #carry = EMPTY
  #produced = 0
  #verified = 0
  readonly #count: Emit = (chunk) => {
    this.#produced += chunk.length
    return this.#emit(chunk)
  }

  constructor(inflater: Inflater, emit: Emit, options: GunzipDecoderOptions = {}) {
    this.#inflater = inflater
    this.#emit = emit
    this.#file = options.file ?? null
    this.#notGzip = options.notGzip ?? 'error'
    this.#lend = options.lend ?? false
    this.#room = options.room
    this.#onVerified = options.onVerified
  }

  /** The engine inflating this stream. */
  get inflaterName(): InflaterName {
    return this.#inflater.name
  }

  /** Output bytes of members whose trailer has been checked (all of them for input that is not gzip). */
  get verified(): number {
    return this.#state === 'plain' ? this.#produced : this.#verified
  }

  /**
   * Whether the input so far stops inside a gzip member (or its header, or
   * before any byte), so that more input is needed: false when `end()`
   * would succeed.
   */
  get open(): boolean {
    return this.#member !== null || this.#carry.length > 0 || this.#state === 'start'
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.#state === 'plain') {
      await this.#count(chunk)
      return
    }
    const buf = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk
    const base = this.#offset
    this.#carry = EMPTY
    let pos = 0
    while (pos < buf.length) {
      if (this.#member) {
        const progress = await this.#member.write(buf.subarray(pos), base + pos)
        pos += progress.used
        if (progress.ended) {
          this.#member.destroy()
          this.#member = null
          this.#verified = this.#produced
          this.#onVerified?.()
        }
      } else if (this.#state === 'start') {
        if (buf.length === 1 && buf[0] === ID1) {
          this.#carry = Buffer.from(buf)
          break
        }
        if (!isGzip(buf)) {
          if (this.#notGzip === 'error') throw gzipError('corrupt', this.#file, base, 'the input does not start with the gzip magic 1f 8b')
          this.#state = 'plain'
          this.#offset = base + buf.length
          await this.#count(buf)
          return
        }
        this.#startMember()
      } else {
        // Between members: zero padding, then whatever is not zero is the
        // next member, for the inflater to check (as gzip and node:zlib do).
        while (pos < buf.length && buf[pos] === 0) pos++
        if (pos < buf.length) this.#startMember()
      }
    }
    this.#offset = base + buf.length - this.#carry.length
  }

  /** Nothing to wait for: `write()` resolves once its chunk has been inflated and handed on. */
  settle(): Promise<void> {
    return Promise.resolve()
  }

  /** The input ended: fails with ERR_GZIP_TRUNCATED when it ends inside a member. */
  async end(): Promise<void> {
    // Throws: a member ends only at its checked trailer, in write().
    if (this.#member) await this.#member.end(this.#offset)
    if (this.#carry.length === 0) return
    if (this.#notGzip === 'pass' && this.#state === 'start') {
      this.#state = 'plain'
      const rest = this.#carry
      this.#carry = EMPTY
      await this.#count(rest)
      return
    }
    const end = this.#offset + this.#carry.length
    throw gzipError('truncated', this.#file, end, 'the input ends inside the gzip header')
  }

  destroy(): void {
    this.#member?.destroy()
    this.#member = null
  }

  #startMember(): void {
    this.#state = 'members'
    this.#member = this.#inflater.member(this.#file, this.#count, this.#lend, this.#room)
  }
}
