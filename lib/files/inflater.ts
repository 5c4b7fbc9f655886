/**
 * The engines behind `createGunzip`, and which one is used.
 *
 * - node:zlib (`createInflateRaw`, with the gzip header and trailer read
 *   here) is always there. `node` drives it as a stream: it inflates in
 *   libuv's thread pool, in steps of NODE_CHUNK bytes of output.
 *   `node-sync` drives its native handle synchronously, as node:zlib's own
 *   `inflateRawSync` does (NodeSyncMember): no trip through the pool, twice
 *   zlib-sync's speed, and each call's output is bounded by the room it is
 *   given, whatever the compression ratio. `node-worker` runs node-sync
 *   and the framing between members on a worker thread (gunzip-worker.ts).
 * - zlib-sync (an optional native addon) inflates synchronously, but it
 *   stops at the end of the first gzip member without saying how much
 *   input it consumed, and allocates a new buffer for each call's output.
 *   `zlib-sync-worker` runs it on a worker thread.
 * - ISA-L (Intel's igzip, through the optional native/isal addon, built at
 *   install where libisal-dev is present) inflates synchronously about
 *   three times as fast as zlib (1.4 GB/s against 0.5 on the bench's
 *   checkpoint here) and computes the CRC-32 as it goes. `isal` runs it on
 *   the calling thread, `isal-worker` on a worker thread.
 *
 * All decode one gzip stream member by member for `GunzipDecoder`, which
 * does the framing between members (see gunzip-decoder.ts), and all raise
 * the same error codes. A member ends only once its trailer (CRC-32 and
 * size) has been checked, and output waits while the reader is full.
 *
 * `LOGDAEMON_INFLATER` (environment variable) forces the engine that 'auto'
 * picks: `node` (or `node:zlib`), `node-sync`, `node-worker`, `zlib-sync`
 * (on the calling thread), `zlib-sync-worker`, `isal` or `isal-worker`.
 * `auto` or unset: for a stream, node:zlib in the thread pool (it keeps
 * `--follow` and the library's readers under the memory bar); for a regular
 * `.gz` file that `logdaemon-cat` reads (`selectFileInflater`,
 * `gunzipFile`), isal-worker where the addon loads, else node-worker: a
 * worker reads the file itself, so that the main thread only frames and
 * writes (see docs/reliability-data.md for the measurements). node-sync
 * and node-worker fall back to the stream when this Node's node:zlib cannot
 * be driven synchronously. An explicit `inflater` option wins over it.
 */
import { createRequire } from 'node:module'
import { once } from 'node:events'
import zlib, { constants as zlibConstants, createInflateRaw, deflateRawSync, gzipSync, type InflateRaw } from 'node:zlib'
import { ErrorCodes, LogdaemonError, formatWhere, isErrnoException, toError } from '../errors.js'

export type InflaterChoice = 'auto' | 'zlib-sync' | 'zlib-sync-worker' | 'node' | 'node-sync' | 'node-worker' | 'isal' | 'isal-worker'
export type InflaterName = 'zlib-sync' | 'zlib-sync-worker' | 'node:zlib' | 'node:zlib-sync' | 'node:zlib-worker' | 'isal' | 'isal-worker'
/** The engines a worker thread runs (inflate-worker.ts). */
export type WorkerEngine = 'zlib-sync' | 'node-sync' | 'isal'

/** The environment variable that forces the inflater 'auto' picks. */
export const INFLATER_ENV = 'LOGDAEMON_INFLATER'

/** How far one `write` of a member got. */
export interface MemberProgress {
  /** Bytes of the input that belong to the member (all of it unless it ended). */
  used: number
  /** The member is complete; the bytes after `used` follow it. */
  ended: boolean
}

/** Decodes one gzip member (node:zlib: possibly several in a row). */
export interface MemberInflater {
  /** Feeds `input`, which starts at compressed offset `offset`. */
  write(input: Buffer, offset: number): MemberProgress | Promise<MemberProgress>
  /** The input ended at compressed `offset` while the member is open: throws ERR_GZIP_TRUNCATED. */
  end(offset: number): void
  destroy(): void
}

/**
 * Where a member inflater hands its output. A returned promise means the
 * reader is full: the inflater stops until it settles (backpressure; a gzip
 * bomb inflates only as fast as it is read).
 */
export type Emit = (chunk: Buffer) => void | Promise<void>

/**
 * Where the caller wants the output: a view of free memory the engine may
 * fill (ISA-L and node:zlib driven synchronously do, with `lend`), handing
 * what it filled to `emit` as a view of that same memory, from its start.
 * The inflate worker passes the free part of its batch: no copy there.
 * Each call's output is bounded by the view's length.
 */
export type OutputRoom = () => Uint8Array

/**
 * An engine: makes member inflaters that hand their output to `emit`.
 * A `threaded` one is meant to run on a worker thread, with the engine
 * named (createGzipDecoder does that); its members work on the calling
 * thread too. With `lend`, `emit` copies what it keeps: a chunk need only
 * stay valid until `emit` returns or its promise settles, so an engine may
 * reuse its output buffer.
 */
export interface Inflater {
  readonly name: InflaterName
  readonly threaded?: WorkerEngine
  member(file: string | null, emit: Emit, lend?: boolean, room?: OutputRoom): MemberInflater
}

/** RFC 1952 §2.3.1: ID1 ID2, then CM 8 (deflate), the only method defined. */
const MEMBER_START = [0x1f, 0x8b, 8] as const

/**
 * Input per zlib-sync call. zlib-sync grows one output buffer until a call's
 * input is used up; deflate expands at most 1032:1, so 16 KiB bounds that
 * buffer near 16.5 MiB. It is also the window searched for a member's
 * trailer. Measured on journal-like text with zlib-sync alone: 4 KiB pieces
 * are ~15% slower, 64 KiB ones hardly faster.
 */
const PIECE = 16 * 1024
/**
 * The output one zlib-sync call should stay near. Journal text inflates
 * about 4:1, so a 16 KiB piece gives ~64 KiB; data that inflates far more
 * (a gzip bomb: zeros inflate 1032:1) is then fed in smaller pieces, down
 * to MIN_PIECE (at most ~1 MiB out per call), so that one call never holds
 * more than a few MiB whatever the input.
 */
const OUT_TARGET = 256 * 1024
const MIN_PIECE = 1024
/** zlib-sync's output growth step, and the size of the pieces pushed. */
export const OUT_CHUNK = 64 * 1024
/**
 * node:zlib's output buffer: one step in the thread pool inflates up to
 * this much. Its default, 16 KiB, costs a round trip to the pool per
 * 16 KiB of output (the node:zlib path ran at 145 MB/s with it). Larger
 * steps cost the main thread less but raise the peak RSS (each step's
 * output is a new buffer, collected late): measured at 1 GiB with framing,
 * 16 KiB 3.5 s of main-thread CPU and 120 MB, 64 KiB 2.65-2.9 s and
 * 109-118 MB, 128 KiB 2.6-3.3 s and 101-120 MB, 256 KiB 3.0 s and 131 MB;
 * on a 2 GiB gzip bomb through logdaemon-cat, 16 KiB 114 MB, 64 KiB
 * 119-121 MB, 128 KiB 132-143 MB (docs/reliability-data.md).
 */
const NODE_CHUNK = 64 * 1024
/** windowBits 15 (32 KiB, deflate's largest window) + 16: expect a gzip wrapper. */
const GZIP_WINDOW_BITS = 31
/**
 * Longest gzip header node:zlib's path gathers: the extra field is at most
 * 64 KiB and real names and comments are short; this only bounds memory
 * on hostile input (zlib-sync has no limit).
 */
const MAX_HEADER = 1024 * 1024
/** Smallest gzip member: 10-byte header, 2 bytes of deflate, 8-byte trailer. */
const MIN_MEMBER = 20

/** ERR_GZIP_TRUNCATED or ERR_GZIP_CORRUPT at compressed `offset` of `file`. */
export function gzipError(kind: 'truncated' | 'corrupt', file: string | null, offset: number, why: string, cause?: unknown): LogdaemonError {
  const where = formatWhere({ file, offset })
  if (kind === 'truncated') {
    return new LogdaemonError(ErrorCodes.GZIP_TRUNCATED, `${where}: ${why}: the gzip file is incomplete; wait until it is fully copied, or fetch it again`, {
      file,
      offset,
      cause,
    })
  }
  return new LogdaemonError(ErrorCodes.GZIP_CORRUPT, `${where}: corrupt gzip data (${why}): restore the file from a good copy`, { file, offset, cause })
}

/**
 * What follows the end of a member at `buf[from]`, zero padding skipped:
 * a next member's header at `at`, a byte no member starts with at `at`, or
 * (open) only padding up to the end of `buf`, with the start of a header cut
 * by the end of `buf` from `at` on. Tells a trailer from look-alikes.
 */
export function afterMember(buf: Buffer, from: number): { kind: 'member' | 'garbage' | 'open'; at: number } {
  let at = from
  while (at < buf.length && buf[at] === 0) at++
  for (let i = 0; i < MEMBER_START.length; i++) {
    if (at + i === buf.length) return { kind: 'open', at }
    if (buf[at + i] !== MEMBER_START[i]) return { kind: 'garbage', at }
  }
  return { kind: 'member', at }
}

/** The part of zlib-sync's API used here (its typings are not needed to build: it is optional). */
interface ZlibSyncInflate {
  push(input: Buffer, flush: number): void
  readonly result: Buffer | string | null
  readonly err: number
  readonly msg: string | null
}
export interface ZlibSyncModule {
  Inflate: new (options: { windowBits: number; chunkSize: number }) => ZlibSyncInflate
  Z_SYNC_FLUSH: number
  Z_OK: number
  Z_STREAM_END: number
  Z_BUF_ERROR: number
}

/** zlib.crc32 came with Node 20.15. */
const crc32 = typeof zlib.crc32 === 'function' ? zlib.crc32 : null

const loaded = new Map<string, ZlibSyncModule | null>()

/**
 * zlib-sync, or null when it is missing or its native addon is broken. Loaded
 * lazily with `require` (so a failure is a value, not a crash at import), once
 * per specifier, and checked by inflating a tiny gzip.
 */
export function loadZlibSync(specifier = 'zlib-sync'): ZlibSyncModule | null {
  if (loaded.has(specifier)) return loaded.get(specifier) ?? null
  let mod: ZlibSyncModule | null = null
  try {
    const candidate = createRequire(import.meta.url)(specifier) as Partial<ZlibSyncModule>
    if (typeof candidate.Inflate === 'function' && typeof candidate.Z_SYNC_FLUSH === 'number') {
      const probe = new candidate.Inflate({ windowBits: GZIP_WINDOW_BITS, chunkSize: 1024 })
      probe.push(gzipSync('ok'), candidate.Z_SYNC_FLUSH)
      const out = probe.result
      if (probe.err === candidate.Z_STREAM_END && Buffer.isBuffer(out) && out.toString() === 'ok') {
        mod = candidate as ZlibSyncModule
      }
    }
  } catch {
    mod = null
  }
  loaded.set(specifier, mod)
  return mod
}

export interface SelectInflaterOptions {
  /** Where LOGDAEMON_INFLATER is read. Default process.env. */
  env?: NodeJS.ProcessEnv
  /** The module to load as zlib-sync (tests pass a missing one). */
  specifier?: string
  /** The module to load as the ISA-L addon (tests pass a missing one). */
  isalSpecifier?: string
}

/** The engine for `choice`: an explicit choice, else LOGDAEMON_INFLATER, else the fastest that loads. */
export function selectInflater(choice: InflaterChoice = 'auto', options: SelectInflaterOptions = {}): Inflater {
  const env = options.env ?? process.env
  let wanted: string = choice
  if (wanted === 'auto') wanted = env[INFLATER_ENV] || 'auto'
  // 'auto': node:zlib, which inflates in libuv's thread pool (see NODE_CHUNK
  // and docs/reliability-data.md for the measurements behind the choice).
  if (wanted === 'auto' || wanted === 'node' || wanted === 'node:zlib') return nodeInflater
  if (wanted === 'node-sync' || wanted === 'node:zlib-sync') return nodeSyncAvailable() ? nodeSyncInflater : nodeInflater
  if (wanted === 'node-worker' || wanted === 'node:zlib-worker') return nodeSyncAvailable() ? nodeWorkerInflater : nodeInflater
  if (wanted === 'isal' || wanted === 'isal-worker') {
    const isal = loadIsal(options.isalSpecifier)
    if (!isal) {
      throw new LogdaemonError(
        ErrorCodes.CONFIG_INVALID,
        `inflater ${wanted} was asked for but the ISA-L addon cannot be loaded: install libisal-dev and run npm install again, or use inflater auto or node`,
      )
    }
    return isalInflater(isal, wanted === 'isal-worker')
  }
  if (wanted !== 'zlib-sync' && wanted !== 'zlib-sync-worker') {
    throw new LogdaemonError(
      ErrorCodes.CONFIG_INVALID,
      `${INFLATER_ENV}=${wanted} is not an inflater: use node, node-sync, node-worker, zlib-sync, zlib-sync-worker, isal, isal-worker or auto`,
    )
  }
  const zs = loadZlibSync(options.specifier)
  if (!zs) {
    throw new LogdaemonError(
      ErrorCodes.CONFIG_INVALID,
      `inflater ${wanted} was asked for but zlib-sync cannot be loaded: install zlib-sync or use inflater auto or node`,
    )
  }
  return zlibSyncInflater(zs, wanted === 'zlib-sync-worker')
}

/**
 * The engine for a regular `.gz` file read from its path (`gunzipFile`):
 * 'auto' is node-worker there, node:zlib driven on a worker thread that
 * reads the file itself (node:zlib when it cannot be driven that way);
 * LOGDAEMON_INFLATER and an explicit choice win as for `selectInflater`.
 */
export function selectFileInflater(choice: InflaterChoice = 'auto', options: SelectInflaterOptions = {}): Inflater {
  const env = options.env ?? process.env
  const wanted = choice === 'auto' ? env[INFLATER_ENV] || 'auto' : choice
  if (wanted === 'auto') {
    const isal = loadIsal(options.isalSpecifier)
    if (isal) return isalInflater(isal, true)
    return nodeSyncAvailable() ? nodeWorkerInflater : nodeInflater
  }
  return selectInflater(choice, options)
}

/** The inflater 'auto' uses: for streams, and (`file`) for a `.gz` file `logdaemon-cat` reads. */
export function inflaterName(use: 'stream' | 'file' = 'stream'): InflaterName {
  return (use === 'file' ? selectFileInflater() : selectInflater()).name
}

const nodeInflater: Inflater = {
  name: 'node:zlib',
  member: (file, emit) => new NodeMember(file, emit),
}

const nodeSyncInflater: Inflater = {
  name: 'node:zlib-sync',
  member: (file, emit, lend, room) => new NodeSyncMember(file, emit, lend ?? false, room),
}

const nodeWorkerInflater: Inflater = { ...nodeSyncInflater, name: 'node:zlib-worker', threaded: 'node-sync' }

function zlibSyncInflater(zs: ZlibSyncModule, threaded: boolean): Inflater {
  const member = (file: string | null, emit: Emit) => new ZlibSyncMember(zs, file, emit)
  return threaded ? { name: 'zlib-sync-worker', threaded: 'zlib-sync', member } : { name: 'zlib-sync', member }
}

/**
 * One member through zlib-sync. zlib-sync reports the end of the member but
 * not where in the input it was, so the input goes in pieces of PIECE bytes
 * and the end is looked for in the piece that ended the member: inflate has
 * just checked the 8-byte trailer (CRC-32 and ISIZE = size mod 2^32 of the
 * output, RFC 1952 §2.3.1), so the end is a position in that piece right
 * after those 8 bytes, which are computed here too. Of the positions that
 * qualify (one, unless the trailer is all zeros: an empty member) the first
 * one followed by a next member, zero padding or the end of the data is
 * taken. Picking a wrong one would need those 8 bytes and then `1f 8b 08` to
 * occur by chance in the last 16 KiB of the deflate data.
 *
 * The CRC costs about 10% of the throughput; without `zlib.crc32` (Node
 * before 20.15) only ISIZE is compared.
 */
class ZlibSyncMember implements MemberInflater {
  readonly #zs: ZlibSyncModule
  readonly #inflate: ZlibSyncInflate
  readonly #file: string | null
  readonly #emit: Emit
  #start = -1
  /** Input per call: PIECE, smaller while the data inflates much more than journal text. */
  #piece = PIECE
  /** Uncompressed bytes so far, and their CRC-32. */
  #size = 0
  #crc = 0
  /** The last 7 bytes fed before the current piece: a trailer may start there. */
  #tail = Buffer.alloc(0)

  constructor(zs: ZlibSyncModule, file: string | null, emit: Emit) {
    this.#zs = zs
    this.#inflate = new zs.Inflate({ windowBits: GZIP_WINDOW_BITS, chunkSize: OUT_CHUNK })
    this.#file = file
    this.#emit = emit
  }

  async write(input: Buffer, offset: number): Promise<MemberProgress> {
    if (this.#start < 0) this.#start = offset
    const zs = this.#zs
    for (let pos = 0; pos < input.length; ) {
      const piece = input.subarray(pos, pos + this.#piece)
      this.#inflate.push(piece, zs.Z_SYNC_FLUSH)
      const err = this.#inflate.err
      if (err !== zs.Z_OK && err !== zs.Z_STREAM_END && err !== zs.Z_BUF_ERROR) {
        const why = `${this.#inflate.msg ?? `zlib error ${err}`} in the ${piece.length} bytes from here`
        throw gzipError('corrupt', this.#file, offset + pos, why)
      }
      const out = this.#inflate.result
      // (zlib's crc32 of an empty buffer with a NULL data pointer is 0, not the CRC so far.)
      const produced = Buffer.isBuffer(out) ? out.length : 0
      if (Buffer.isBuffer(out) && produced > 0) {
        this.#size += produced
        if (crc32) this.#crc = crc32(out, this.#crc)
      }
      // The member's end is checked before its last output goes out: a member
      // whose trailer does not match never ends (the error is raised first).
      const used = err === zs.Z_STREAM_END ? this.#memberEnd(input, pos, piece.length, offset) : -1
      if (Buffer.isBuffer(out) && produced > 0) {
        for (let i = 0; i < produced; i += OUT_CHUNK) {
          const wait = this.#emit(out.subarray(i, i + OUT_CHUNK))
          if (wait) await wait
        }
      }
      if (used >= 0) return { used, ended: true }
      this.#tail = Buffer.from(piece.length >= 7 ? piece.subarray(-7) : Buffer.concat([this.#tail, piece]).subarray(-7))
      pos += piece.length
      this.#piece = Math.max(MIN_PIECE, Math.min(PIECE, Math.floor((OUT_TARGET * piece.length) / Math.max(produced, 1))))
    }
    return { used: input.length, ended: false }
  }

  /** Where in `input` the member ended, the piece `input[pos, pos + length)` having ended it. */
  #memberEnd(input: Buffer, pos: number, length: number, offset: number): number {
    const window = Buffer.concat([this.#tail, input.subarray(pos, pos + length)])
    const isize = this.#size % 2 ** 32
    let first = -1
    for (let end = 1; end <= length; end++) {
      const at = this.#tail.length + end - 8
      if (at < 0 || offset + pos + end < this.#start + MIN_MEMBER) continue
      if (window.readUInt32LE(at + 4) !== isize || (crc32 && window.readUInt32LE(at) !== this.#crc)) continue
      if (afterMember(input, pos + end).kind !== 'garbage') return pos + end
      if (first < 0) first = pos + end
    }
    // Only garbage follows: the next member's inflater will say so.
    if (first >= 0) return first
    // Unreachable: inflate has just read a trailer that matches in this piece.
    throw gzipError('corrupt', this.#file, offset + pos, 'cannot find the end of a gzip member')
  }

  end(offset: number): void {
    throw gzipError('truncated', this.#file, offset, 'the input ends inside a gzip member')
  }

  destroy(): void {}
}

/**
 * Length of the gzip member header at the start of `buf` (RFC 1952 §2.3:
 * 10 bytes, then the optional extra field, name, comment and header CRC
 * its flags announce), or -1 when `buf` ends inside it. Throws
 * ERR_GZIP_CORRUPT for bytes that cannot start a member.
 */
export function gzipHeaderLength(buf: Buffer, file: string | null, offset: number): number {
  // Like zlib: the magic is judged once both its bytes are there (a single
  // stray byte is a cut header), the method once it is there.
  if (buf.length < 2) return -1
  if (buf[0] !== MEMBER_START[0] || buf[1] !== MEMBER_START[1]) throw gzipError('corrupt', file, offset, 'incorrect header check')
  if (buf.length >= 3 && buf[2] !== MEMBER_START[2]) throw gzipError('corrupt', file, offset + 2, 'unknown compression method')
  if (buf.length < 10) return -1
  const flags = buf[3] as number
  if (flags & 0xe0) throw gzipError('corrupt', file, offset + 3, 'reserved header flags set')
  let at = 10
  if (flags & 0x04) {
    if (buf.length < at + 2) return -1
    at += 2 + buf.readUInt16LE(at)
  }
  for (const flag of [0x08, 0x10]) {
    if (!(flags & flag)) continue
    const nul = buf.indexOf(0, at)
    if (nul < 0) return -1
    at = nul + 1
  }
  if (flags & 0x02) {
    if (buf.length < at + 2) return -1
    // FHCRC: the low 16 bits of the CRC-32 of the header before it (zlib checks it too).
    if (crc32 && buf.readUInt16LE(at) !== (crc32(buf.subarray(0, at)) & 0xffff)) {
      throw gzipError('corrupt', file, offset + at, 'header crc mismatch')
    }
    at += 2
  }
  return at <= buf.length ? at : -1
}

/**
 * A gzip member whose header and trailer are read here, around deflate
 * data inflated by node:zlib (the node:zlib engines). The trailer is
 * checked like zlib-sync's: CRC-32 and ISIZE (ISIZE only before Node
 * 20.15). node:zlib's own Gunzip goes on into whatever follows a member and
 * drops the member's last output when that is garbage: it is not used.
 */
abstract class RawMember implements MemberInflater {
  protected readonly file: string | null
  #stage: 'header' | 'body' | 'trailer' = 'header'
  /** Header or trailer bytes gathered so far. */
  #held = Buffer.alloc(0)
  /** Compressed offset where `#held` starts. */
  #heldAt = 0
  /** Output bytes so far, and their CRC-32. */
  #out = 0
  #crc = 0

  constructor(file: string | null) {
    this.file = file
  }

  /**
   * Inflates `input` (deflate data from compressed `offset` on), every byte
   * of output going through `produced` before it is handed on. Returns the
   * bytes of `input` used: fewer than all of it when the deflate data ended.
   */
  protected abstract body(input: Buffer, offset: number): number | Promise<number>

  /** Counts output bytes into the trailer's size and CRC-32. */
  protected produced(chunk: Buffer): void {
    this.#out += chunk.length
    if (crc32) this.#crc = crc32(chunk, this.#crc)
  }

  /** Counts `length` output bytes whose running CRC-32 the engine computed (`crc`: the member's so far). */
  protected producedWithCrc(length: number, crc: number): void {
    this.#out += length
    this.#crc = crc
  }

  /** Whether the trailer's CRC-32 is checked: zlib.crc32 is there, or the engine computes it. */
  protected get checksCrc(): boolean {
    return crc32 !== null
  }

  async write(input: Buffer, offset: number): Promise<MemberProgress> {
    let pos = 0
    if (this.#stage === 'header') {
      if (this.#held.length === 0) this.#heldAt = offset
      const before = this.#held.length
      const head = Buffer.concat([this.#held, input.subarray(0, MAX_HEADER)])
      const length = gzipHeaderLength(head, this.file, this.#heldAt)
      if (length < 0) {
        if (head.length > MAX_HEADER) throw gzipError('corrupt', this.file, this.#heldAt, 'gzip header longer than 1 MiB')
        this.#held = Buffer.from(head)
        return { used: input.length, ended: false }
      }
      this.#held = Buffer.alloc(0)
      this.#stage = 'body'
      pos = length - before
    }
    if (this.#stage === 'body' && pos < input.length) {
      const rest = input.subarray(pos)
      const used = await this.body(rest, offset + pos)
      pos += used
      if (used < rest.length) {
        this.#stage = 'trailer'
        this.#heldAt = offset + pos
      }
    }
    if (this.#stage === 'trailer' && pos < input.length) {
      const need = 8 - this.#held.length
      const take = input.subarray(pos, pos + need)
      this.#held = Buffer.concat([this.#held, take])
      pos += take.length
      if (this.#held.length === 8) {
        const isize = this.#out % 2 ** 32
        if (this.#held.readUInt32LE(4) !== isize || (this.checksCrc && this.#held.readUInt32LE(0) !== this.#crc)) {
          throw gzipError('corrupt', this.file, this.#heldAt, 'incorrect data check: the CRC-32 or size in the member trailer does not match its data')
        }
        this.destroy()
        return { used: pos, ended: true }
      }
    }
    return { used: input.length, ended: false }
  }

  end(offset: number): void {
    throw gzipError('truncated', this.file, offset, 'the input ends inside a gzip member')
  }

  abstract destroy(): void
}

/**
 * One member through node:zlib's stream (`createInflateRaw`, in libuv's
 * thread pool), which stops at the end of the deflate data and says, by
 * `bytesWritten`, where. Each write is awaited, so at most one input chunk
 * is inside at a time.
 */
class NodeMember extends RawMember {
  readonly #inner = createInflateRaw({ chunkSize: NODE_CHUNK })
  #failed: unknown = null
  #pending: ((err?: unknown) => void) | null = null

  constructor(file: string | null, emit: Emit) {
    super(file)
    // node:zlib stops inflating while its own output buffer is full: pausing
    // it while `emit` waits carries the reader's backpressure into zlib.
    this.#inner.on('data', (chunk: Buffer) => {
      this.produced(chunk)
      const wait = emitPieces(emit, chunk)
      if (!wait) return
      this.#inner.pause()
      wait.then(
        () => this.#inner.resume(),
        () => this.#inner.resume(),
      )
    })
    this.#inner.on('error', (err: unknown) => {
      this.#failed ??= err
      this.#pending?.(err)
    })
  }

  protected async body(input: Buffer, offset: number): Promise<number> {
    const at = this.#inner.bytesWritten
    await this.#settle((done) => this.#inner.write(input, done), offset)
    const used = this.#inner.bytesWritten - at
    // The deflate data ended: its output ends after all of it; wait for that.
    if (used < input.length && !this.#inner.readableEnded) await once(this.#inner, 'end')
    return used
  }

  destroy(): void {
    this.#inner.destroy()
  }

  /** Runs `start`, waiting for its callback or the stream's error (mapped to a gzip error). */
  #settle(start: (done: (err?: unknown) => void) => void, at: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (err?: unknown) => {
        if (this.#pending !== done) return
        this.#pending = null
        if (err) reject(this.#mapError(err, at))
        else resolve()
      }
      this.#pending = done
      if (this.#failed) done(this.#failed)
      else start(done)
    })
  }

  #mapError(err: unknown, at: number): Error {
    if (!isErrnoException(err) || !err.code?.startsWith('Z_')) return toError(err)
    return gzipError('corrupt', this.file, at, `${err.message}, here or after`, err)
  }
}

/**
 * The native handle inside a node:zlib stream, driven synchronously as
 * node:zlib's own `inflateRawSync` drives it: `writeSync` inflates from
 * `input[inOff, inOff + inLen)` into `out[outOff, outOff + outLen)` and
 * leaves what is left of both in `state` ([avail_out, avail_in]); an
 * inflate error calls `onerror`. Not a documented API: `syncHandle` checks
 * that it is there and works, else the engine falls back to the stream.
 */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void
  onerror: (message: string, errno: number, code?: string) => void
}
interface SyncInflate {
  stream: InflateRaw
  handle: ZlibHandle
  state: Uint32Array
}

/** A raw inflate with its native handle, or null when this Node's node:zlib does not look as expected. */
function syncHandle(create: () => InflateRaw = createInflateRaw): SyncInflate | null {
  const stream = create() as InflateRaw & { _handle?: unknown; _writeState?: unknown }
  const handle = stream._handle as Partial<ZlibHandle> | undefined
  const state = stream._writeState
  if (!handle || typeof handle.writeSync !== 'function' || !(state instanceof Uint32Array) || state.length !== 2) {
    stream.destroy()
    return null
  }
  return { stream, handle: handle as ZlibHandle, state }
}

let syncWorks: boolean | undefined

/**
 * Whether node:zlib can be driven synchronously here, checked once: a
 * small deflate stream must inflate exactly in 7-byte output steps (the
 * output runs out many times, as on real data), stopping at its end, and
 * bytes that are not deflate data must call `onerror`. `create` is for
 * tests (a stream that does not look like node:zlib's; not cached).
 */
export function nodeSyncAvailable(create?: () => InflateRaw): boolean {
  if (!create && syncWorks !== undefined) return syncWorks
  let works = false
  try {
    works =
      probeSync(create, deflateRawSync(Buffer.from('logdaemon '.repeat(100))), 'logdaemon '.repeat(100)) &&
      probeSync(create, Buffer.from([0xff, 0xff, 0xff]), null)
  } catch {
    works = false
  }
  if (!create) syncWorks = works
  return works
}

/** Inflates `deflated` through a native handle: whether it gives `text` and ends there (null: whether it fails). */
function probeSync(create: (() => InflateRaw) | undefined, deflated: Buffer, text: string | null): boolean {
  const z = syncHandle(create)
  if (!z) return false
  let failed = false
  z.handle.onerror = () => {
    failed = true
  }
  const out = Buffer.alloc(1024 + 16)
  let outAt = 0
  let inAt = 0
  try {
    while (!failed && outAt < out.length) {
      const room = Math.min(7, out.length - outAt)
      z.handle.writeSync(zlibConstants.Z_NO_FLUSH, deflated, inAt, deflated.length - inAt, out, outAt, room)
      const produced = room - (z.state[0] as number)
      inAt = deflated.length - (z.state[1] as number)
      outAt += produced
      if (produced < room) break
    }
  } finally {
    z.stream.destroy()
  }
  if (text === null) return failed
  return !failed && inAt === deflated.length && out.subarray(0, outAt).toString() === text
}

/** node:zlib's output steps on the calling thread: pieces of one slab, a new slab when this one is used up. */
const SLAB = 256 * 1024
/** A slab with less room than this left is replaced (its tail unused): no tiny pieces. */
const MIN_ROOM = 16 * 1024

/**
 * Where a synchronous engine writes each call's output: the caller's room
 * (OutputRoom), one buffer used again for every call (`lend`), or pieces of
 * slabs that are never written again. At most OUT_CHUNK bytes a call
 * outside the caller's room.
 */
class OutputSpace {
  readonly #lend: boolean
  readonly #room: OutputRoom | undefined
  #slab: Buffer
  #at = 0

  constructor(lend: boolean, room: OutputRoom | undefined) {
    this.#lend = lend
    this.#room = lend ? room : undefined
    this.#slab = this.#room ? Buffer.alloc(0) : Buffer.allocUnsafe(lend ? OUT_CHUNK : SLAB)
  }

  /** The memory the next call writes to, from its start. */
  next(): Uint8Array {
    if (this.#room) {
      const room = this.#room()
      // The caller hands out a full chunk before asking for more room: an empty one is a bug, not a reason to spin.
      if (room.length === 0) throw new Error('the output room is empty')
      return room
    }
    if (this.#slab.length - this.#at < MIN_ROOM) {
      if (this.#lend) this.#at = 0
      else {
        this.#slab = Buffer.allocUnsafe(SLAB)
        this.#at = 0
      }
    }
    return this.#slab.subarray(this.#at, this.#at + OUT_CHUNK)
  }

  /** The first `produced` bytes of `space` (from `next`), written: them, to emit. */
  taken(space: Uint8Array, produced: number): Buffer {
    if (!this.#room) this.#at = this.#lend ? 0 : this.#at + produced
    return Buffer.from(space.buffer, space.byteOffset, produced)
  }
}

/**
 * One member through node:zlib driven synchronously (see ZlibHandle): no
 * trip through libuv's thread pool, no stream, and the output per call is
 * bounded by the room given (see OutputSpace), whatever the compression
 * ratio, so a gzip bomb needs no smaller input pieces.
 */
class NodeSyncMember extends RawMember {
  readonly #z: SyncInflate
  readonly #emit: Emit
  readonly #space: OutputSpace
  #error: string | null = null
  /** Destroyed: the native handle is closed and must not be written again (that would abort the process). */
  #closed = false

  constructor(file: string | null, emit: Emit, lend: boolean, room?: OutputRoom) {
    super(file)
    const z = syncHandle()
    // nodeSyncAvailable() was true: the handle is there.
    if (!z) throw new LogdaemonError(ErrorCodes.CONFIG_INVALID, 'node:zlib cannot be driven synchronously here')
    this.#z = z
    z.handle.onerror = (message, errno) => {
      this.#error ??= `${message || `zlib error ${errno}`}`
    }
    this.#emit = emit
    this.#space = new OutputSpace(lend, room)
  }

  protected async body(input: Buffer, offset: number): Promise<number> {
    const { handle, state } = this.#z
    let pos = 0
    for (;;) {
      // Destroyed while `emit` waited: nothing more is inflated.
      if (this.#closed) return input.length
      const space = this.#space.next()
      const room = space.length
      handle.writeSync(zlibConstants.Z_NO_FLUSH, input, pos, input.length - pos, space, 0, room)
      if (this.#error) throw gzipError('corrupt', this.file, offset + pos, `${this.#error}, here or after`)
      const left = state[0] as number
      const used = input.length - pos - (state[1] as number)
      const produced = room - left
      pos += used
      if (produced > 0) {
        const chunk = this.#space.taken(space, produced)
        this.produced(chunk)
        const wait = this.#emit(chunk)
        if (wait) await wait
      }
      // The output filled the room: there may be more, from input already taken.
      if (left === 0) continue
      // Room left and input left: the deflate data ended.
      return pos
    }
  }

  destroy(): void {
    this.#closed = true
    this.#z.stream.destroy()
  }
}

/**
 * Hands `chunk` to `emit` in pieces of at most OUT_CHUNK, one after the
 * other: a promise (the reader is full) when one asked to wait, settling
 * once the last piece has been taken.
 */
function emitPieces(emit: Emit, chunk: Buffer): Promise<void> | undefined {
  for (let i = 0; i < chunk.length; i += OUT_CHUNK) {
    const wait = emit(chunk.subarray(i, i + OUT_CHUNK))
    if (!wait) continue
    const rest = chunk.subarray(i + OUT_CHUNK)
    return rest.length === 0 ? wait : wait.then(() => emitPieces(emit, rest))
  }
  return undefined
}

/** The part of the ISA-L addon's API used here (native/isal/src/isal_inflate.c says what each does). */
interface IsalRawInflate {
  inflate(input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number, state: Uint32Array): number
  close(): void
}
export interface IsalModule {
  RawInflate: new () => IsalRawInflate
}

/** ISA-L's error codes (igzip_lib.h), as zlib words them. */
const ISAL_ERRORS: Record<number, string> = {
  [-1]: 'invalid block type',
  [-2]: 'invalid code',
  [-3]: 'invalid distance too far back',
}

const isalLoaded = new Map<string, IsalModule | null>()

/**
 * The ISA-L addon (native/isal: built at install where libisal-dev is
 * present), or null when it is missing or broken. Loaded lazily, once per
 * specifier, and checked by inflating a small deflate stream in 7-byte
 * output steps and by failing on bytes that are not deflate data.
 */
export function loadIsal(specifier = 'logdaemon-isal'): IsalModule | null {
  if (isalLoaded.has(specifier)) return isalLoaded.get(specifier) ?? null
  let mod: IsalModule | null = null
  try {
    const candidate = createRequire(import.meta.url)(specifier) as Partial<IsalModule>
    if (typeof candidate.RawInflate === 'function' && probeIsal(candidate as IsalModule)) mod = candidate as IsalModule
  } catch {
    mod = null
  }
  isalLoaded.set(specifier, mod)
  return mod
}

function probeIsal(isal: IsalModule): boolean {
  const text = 'logdaemon '.repeat(100)
  const deflated = Buffer.concat([deflateRawSync(Buffer.from(text)), Buffer.from('after')])
  const z = new isal.RawInflate()
  const state = new Uint32Array(4)
  const out = Buffer.alloc(1024 + 16)
  let outAt = 0
  let inAt = 0
  try {
    for (;;) {
      const room = Math.min(7, out.length - outAt)
      if (z.inflate(deflated, inAt, deflated.length - inAt, out, outAt, room, state) !== 0) return false
      inAt = deflated.length - (state[1] as number)
      outAt += room - (state[0] as number)
      if (state[2] === 1 || outAt === out.length) break
    }
    if (state[2] !== 1 || inAt !== deflated.length - 5 || out.subarray(0, outAt).toString() !== text) return false
    if (state[3] !== (crc32 ? crc32(text) : state[3])) return false
    const bad = new isal.RawInflate()
    const failed = bad.inflate(Buffer.from([0xff, 0xff, 0xff]), 0, 3, out, 0, out.length, state) < 0
    bad.close()
    return failed
  } finally {
    z.close()
  }
}

function isalInflater(isal: IsalModule, threaded: boolean): Inflater {
  const member = (file: string | null, emit: Emit, lend?: boolean, room?: OutputRoom) => new IsalMember(isal, file, emit, lend ?? false, room)
  return threaded ? { name: 'isal-worker', threaded: 'isal', member } : { name: 'isal', member }
}

/**
 * One member through Intel ISA-L (the optional native/isal addon):
 * deflate decoded about three times as fast as zlib, with the CRC-32 of the
 * output computed as it goes (checked against the trailer here, as for
 * node:zlib). ISA-L keeps its own copy of the window, so the output buffer
 * may be reused (`lend`, as NodeSyncMember); each call's output is bounded
 * by the room given, whatever the compression ratio.
 */
class IsalMember extends RawMember {
  readonly #z: IsalRawInflate
  readonly #emit: Emit
  readonly #space: OutputSpace
  readonly #state = new Uint32Array(4)
  #closed = false

  constructor(isal: IsalModule, file: string | null, emit: Emit, lend: boolean, room?: OutputRoom) {
    super(file)
    this.#z = new isal.RawInflate()
    this.#emit = emit
    this.#space = new OutputSpace(lend, room)
  }

  protected override get checksCrc(): boolean {
    return true
  }

  protected async body(input: Buffer, offset: number): Promise<number> {
    const state = this.#state
    let pos = 0
    for (;;) {
      if (this.#closed) return input.length
      const space = this.#space.next()
      const room = space.length
      const code = this.#z.inflate(input, pos, input.length - pos, space, 0, room, state)
      if (code < 0) {
        const why = ISAL_ERRORS[code] ?? `ISA-L error ${code}`
        throw gzipError('corrupt', this.file, offset + pos, `${why}, here or after`)
      }
      const left = state[0] as number
      const used = input.length - pos - (state[1] as number)
      const produced = room - left
      const ended = state[2] === 1
      pos += used
      if (produced > 0) {
        this.producedWithCrc(produced, state[3] as number)
        const wait = this.#emit(this.#space.taken(space, produced))
        if (wait) await wait
      }
      if (ended) return pos
      // The output filled the room: there may be more, from input already taken.
      if (left === 0) continue
      // Room left: all of the input is taken, and the deflate data goes on.
      return pos
    }
  }

  destroy(): void {
    if (this.#closed) return
    this.#closed = true
    this.#z.close()
  }
}
