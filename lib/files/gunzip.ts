/**
 * gzip input. `createGunzip` inflates a whole gzip stream: every member of
 * concatenated gzip files (`cat a.gz b.gz`), zero padding tolerated after a
 * member. `maybeGunzip` inflates gzip and passes anything else through
 * unchanged, telling them apart by the magic bytes, not by the file name.
 *
 * The framing between members is here; the members are inflated by zlib-sync
 * or node:zlib (inflater.ts, which also reads LOGDAEMON_INFLATER).
 */
import { Transform, type TransformCallback } from 'node:stream'
import { toError } from '../errors.js'
import {
  gzipError,
  selectInflater,
  type Inflater,
  type InflaterChoice,
  type InflaterName,
  type MemberInflater,
} from './inflater.js'

export { inflaterName, type InflaterChoice, type InflaterName } from './inflater.js'

export interface GunzipOptions {
  /** The file, named in errors. */
  file?: string
  /** Default 'auto': zlib-sync when it loads, else node:zlib; LOGDAEMON_INFLATER overrides 'auto'. */
  inflater?: InflaterChoice
}

export interface GunzipTransformOptions {
  /** The file, named in errors. */
  file?: string | null
  /** Input that does not start with the gzip magic: an ERR_GZIP_CORRUPT error (default) or passed through. */
  notGzip?: 'error' | 'pass'
}

/** gzip's magic bytes ID1 ID2 (RFC 1952 §2.3.1). */
const ID1 = 0x1f
const ID2 = 0x8b

/** Whether bytes start with the gzip magic `1f 8b`. */
export function isGzip(firstBytes: Buffer): boolean {
  return firstBytes.length >= 2 && firstBytes[0] === ID1 && firstBytes[1] === ID2
}

/** A Transform that inflates a gzip stream (bytes in, bytes out). */
export function createGunzip(options: GunzipOptions = {}): GunzipTransform {
  return new GunzipTransform(selectInflater(options.inflater), { file: options.file ?? null })
}

/** A Transform that inflates gzip input and passes any other input through unchanged. */
export function maybeGunzip(options: GunzipOptions = {}): GunzipTransform {
  return new GunzipTransform(selectInflater(options.inflater), { file: options.file ?? null, notGzip: 'pass' })
}

const EMPTY = Buffer.alloc(0)

/**
 * The gzip framing: the magic at the start, then members, each followed by
 * zero padding or the next member; anything else after a member is a corrupt
 * next member. Input is taken one chunk at a time; the output of one chunk is
 * pushed in pieces of at most 64 KiB.
 */
export class GunzipTransform extends Transform {
  readonly #inflater: Inflater
  readonly #file: string | null
  readonly #notGzip: 'error' | 'pass'
  #state: 'start' | 'members' | 'plain' = 'start'
  #member: MemberInflater | null = null
  /** Compressed offset of the first byte not taken yet (where `#carry` starts). */
  #offset = 0
  /** The first byte, when it is 1f and the second has not come yet. */
  #carry = EMPTY
  readonly #emit = (chunk: Buffer): void => {
    this.push(chunk)
  }

  constructor(inflater: Inflater, options: GunzipTransformOptions = {}) {
    super()
    this.#inflater = inflater
    this.#file = options.file ?? null
    this.#notGzip = options.notGzip ?? 'error'
  }

  /** The engine inflating this stream. */
  get inflaterName(): InflaterName {
    return this.#inflater.name
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#state === 'plain') return callback(null, chunk)
    this.#take(chunk).then(
      () => callback(),
      (err: unknown) => callback(toError(err)),
    )
  }

  override _flush(callback: TransformCallback): void {
    this.#finish().then(
      () => callback(),
      (err: unknown) => callback(toError(err)),
    )
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    this.#member?.destroy()
    this.#member = null
    callback(err)
  }

  async #take(chunk: Buffer): Promise<void> {
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
        }
      } else if (this.#state === 'start') {
        if (buf.length === 1 && buf[0] === ID1) {
          this.#carry = Buffer.from(buf)
          break
        }
        if (!isGzip(buf)) {
          if (this.#notGzip === 'error') throw gzipError('corrupt', this.#file, base, 'the input does not start with the gzip magic 1f 8b')
          this.#state = 'plain'
          this.push(buf)
          break
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

  #startMember(): void {
    this.#state = 'members'
    this.#member = this.#inflater.member(this.#file, this.#emit)
  }

  async #finish(): Promise<void> {
    if (this.#member) {
      await this.#member.end(this.#offset)
      this.#member.destroy()
      this.#member = null
      return
    }
    if (this.#carry.length === 0) return
    if (this.#notGzip === 'pass') {
      this.push(this.#carry)
      return
    }
    const end = this.#offset + this.#carry.length
    throw gzipError('truncated', this.#file, end, 'the input ends inside the gzip header')
  }
}
