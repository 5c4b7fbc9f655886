/**
 * gzip inflated on a worker thread, so that inflating and what reads its
 * output (framing, formatting) run on two cores.
 *
 * WorkerGunzipDecoder has GunzipDecoder's contract (GzipDecoder): the same
 * output, the same errors at the same offsets, `verified` in step with the
 * output handed on. The worker (inflate-worker.ts) runs a GunzipDecoder
 * with zlib-sync. The protocol:
 *
 * - main → worker: `input` (a copy of each chunk, transferred), `end`,
 *   `credit` (bytes of output the main thread has handed on) and `spare`
 *   (a batch's buffer the reader is done with, for the worker to fill again).
 * - worker → main, in order: `data` (a batch of output, transferred, with
 *   `verified` as of the end of the batch), `ack` after each input (with
 *   `open`), then `done` or `error` (after all the output before it).
 *
 * Bounds: at most IN_FLIGHT input chunks are unacknowledged (`write()`
 * waits), and the worker stops inflating while four batches of its output
 * wait on the main thread: output is handed to `emit` one piece after the
 * other, each waiting for `emit`'s promise (the reader is full), so a gzip
 * bomb inflates only as fast as it is read.
 *
 * A worker that fails (throws outside the decoder, exits, cannot start)
 * fails the stream with ERR_WORKER_FAILED after the output it sent. The
 * worker exits by itself after its end or its error (terminated if it
 * has not within EXIT_GRACE_MS), and is terminated on `destroy()`. It keeps
 * the process alive only while the main thread waits for it (input or the
 * end sent, output not waiting for the reader).
 */
import { existsSync } from 'node:fs'
import { Worker } from 'node:worker_threads'
import { ErrorCodes, LogdaemonError, type ErrorCode } from '../errors.js'
import { GunzipDecoder, isGzip, type GunzipDecoderOptions, type GzipDecoder } from './gunzip-decoder.js'
import { gzipError, OUT_CHUNK, type Emit, type Inflater, type InflaterName, type WorkerEngine } from './inflater.js'
import { detachEarly } from '../parallel/detach-early.js'

/** What the worker is started with. */
export interface WorkerInit {
  file: string | null
  /** The engine the worker inflates with. */
  engine: WorkerEngine
  /** A regular file the worker reads itself (no `input` messages then). */
  path: string | null
  /** Output batch size, bytes. */
  batch: number
  /** Output bytes sent and not credited back before the worker stops. */
  window: number
}

export type ToWorker = { type: 'input'; chunk: Uint8Array } | { type: 'end' } | { type: 'credit'; bytes: number } | { type: 'spare'; buf: ArrayBuffer }

/** An error as it crosses threads (a LogdaemonError keeps its code and position). */
export interface SerializedError {
  message: string
  code?: string
  file?: string | null
  offset?: number | null
}

export type FromWorker =
  | { type: 'data'; buf: ArrayBuffer; length: number; verified: number; read: number }
  | { type: 'ack'; verified: number; open: boolean }
  | { type: 'read'; bytes: number }
  | { type: 'done'; verified: number }
  | { type: 'error'; verified: number; error: SerializedError }

/** Output batch: 128 KiB (256 KiB batches raised the peak RSS of logdaemon-cat at 1 GiB by ~5 MB, for little less CPU). */
const BATCH = 128 * 1024
/** The worker's young generation, in MB. */
const YOUNG_GENERATION_MB = 4
/** How long a worker that sent `done` has to exit by itself before it is terminated. */
const EXIT_GRACE_MS = 2000
/** Input chunks written and not yet inflated. */
const IN_FLIGHT = 2

/**
 * The worker script, next to this module (in dist/ or an installed
 * package). Run from the TypeScript sources (the tests, under ts-node), the
 * compiled twin in dist/ when there is one: a worker that loads ts-node
 * takes seconds to start. The worker gets none of the process's node
 * options: it needs no loader, and some (`--input-type`, `--eval`) make a
 * worker fail to start.
 */
function workerScript(): URL {
  const here = import.meta.url
  if (here.endsWith('.ts')) {
    const built = new URL('../../dist/lib/files/inflate-worker.js', here)
    if (existsSync(built)) return built
  }
  return new URL('./inflate-worker.js', here)
}

const ID1 = 0x1f
const EMPTY = Buffer.alloc(0)

/** The decoder for `inflater`: on a worker thread when it is a threaded one. */
export function createGzipDecoder(inflater: Inflater, emit: Emit, options: WorkerGunzipDecoderOptions = {}): GzipDecoder {
  return inflater.threaded
    ? new WorkerGunzipDecoder(inflater.name, emit, { engine: inflater.threaded, ...options })
    : new GunzipDecoder(inflater, emit, options)
}

export interface WorkerGunzipDecoderOptions extends GunzipDecoderOptions {
  /** Called with an error that arrives while no `write`, `settle` or `end` waits for it. */
  onError?: (err: Error) => void
  /** The worker script (tests start a failing one). */
  script?: URL
  /** The engine the worker inflates with. Default zlib-sync. */
  engine?: WorkerEngine
  /**
   * A regular file that starts with the gzip magic, which the worker reads
   * itself: the calling thread reads and copies no input then (`write()`
   * is not to be called; `end()` waits for the worker's end).
   */
  path?: string
  /** With `path`: compressed bytes the worker has read, as it reads them (progress). */
  onRead?: (bytes: number) => void
  /**
   * Bytes of output per batch the worker sends (default 128 KiB); up to
   * four batches are in flight between the threads.
   */
  batch?: number
  /**
   * Hands each batch to `emit` whole, as a Buffer over all of an
   * ArrayBuffer of its own (the caller may transfer it to another thread),
   * instead of in pieces of at most 64 KiB.
   */
  whole?: boolean
}

interface Waiter {
  /** Whether the wait is over. */
  ready: () => boolean
  resolve: () => void
  reject: (err: Error) => void
}

/**
 * GunzipDecoder's framing and inflating on a worker thread (see above).
 * The magic bytes are judged here: input that is not gzip never starts a
 * worker.
 */
export class WorkerGunzipDecoder implements GzipDecoder {
  readonly inflaterName: InflaterName
  readonly #emit: Emit
  readonly #file: string | null
  readonly #notGzip: 'error' | 'pass'
  readonly #onError: ((err: Error) => void) | undefined
  readonly #script: URL
  readonly #engine: WorkerEngine
  readonly #path: string | null
  readonly #onRead: ((bytes: number) => void) | undefined
  readonly #batch: number
  readonly #whole: boolean
  #state: 'start' | 'worker' | 'plain' = 'start'
  #carry = EMPTY
  #produced = 0
  #worker: Worker | null = null
  /** Terminated (or never to be started again). */
  #stopped = false
  #inFlight = 0
  #ending = false
  #done = false
  /** `done` or `error` has come from the worker (maybe not handled yet): its exit is expected. */
  #finished = false
  #destroyed = false
  #verified = 0
  readonly #onVerified: (() => void) | undefined
  #open = true
  #failed: Error | null = null
  readonly #queue: FromWorker[] = []
  #pumping = false
  /** Output handed on and not yet credited back to the worker. */
  #uncredited = 0
  /** The pump waits for `emit`: the reader is full. */
  #blocked = false
  readonly #waiters = new Set<Waiter>()

  constructor(name: InflaterName, emit: Emit, options: WorkerGunzipDecoderOptions = {}) {
    this.inflaterName = name
    this.#emit = emit
    this.#file = options.file ?? null
    this.#notGzip = options.notGzip ?? 'error'
    this.#onError = options.onError
    this.#script = options.script ?? workerScript()
    this.#engine = options.engine ?? 'zlib-sync'
    this.#path = options.path ?? null
    this.#onRead = options.onRead
    this.#onVerified = options.onVerified
    this.#batch = Math.max(1, Math.floor(options.batch ?? BATCH))
    this.#whole = options.whole ?? false
    if (this.#path !== null) {
      this.#start()
      // The input is the worker's: it ends when the file does.
      this.#ending = true
      this.#refresh()
    }
  }

  /** Output in flight between the threads: four batches, so that the worker runs while this thread reads. */
  get #window(): number {
    return 4 * this.#batch
  }

  get verified(): number {
    return this.#state === 'plain' ? this.#produced : this.#verified
  }

  get open(): boolean {
    if (this.#state === 'start') return true
    return this.#state === 'worker' && !this.#done && this.#open
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.#failed) throw this.#failed
    if (this.#path !== null) throw new Error('the inflate worker reads its input from the file itself')
    if (this.#state === 'plain') {
      this.#produced += chunk.length
      await this.#emit(chunk)
      return
    }
    let input = chunk
    if (this.#state === 'start') {
      input = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk
      this.#carry = EMPTY
      if (input.length === 0) return
      if (input.length === 1 && input[0] === ID1) {
        this.#carry = Buffer.from(input)
        return
      }
      if (!isGzip(input)) {
        if (this.#notGzip === 'error') throw gzipError('corrupt', this.#file, 0, 'the input does not start with the gzip magic 1f 8b')
        this.#state = 'plain'
        this.#produced += input.length
        await this.#emit(input)
        return
      }
      this.#start()
    }
    if (input.length === 0) return
    // A copy the worker owns: the caller may reuse its buffer.
    const copy = new Uint8Array(input)
    this.#inFlight++
    this.#post({ type: 'input', chunk: copy }, [copy.buffer as ArrayBuffer])
    await this.#wait(() => this.#inFlight < IN_FLIGHT)
  }

  async settle(): Promise<void> {
    await this.#wait(() => this.#inFlight === 0)
  }

  async end(): Promise<void> {
    if (this.#failed) throw this.#failed
    if (this.#state === 'start') {
      const rest = this.#carry
      this.#carry = EMPTY
      if (rest.length === 0) return
      if (this.#notGzip === 'pass') {
        this.#state = 'plain'
        this.#produced += rest.length
        await this.#emit(rest)
        return
      }
      throw gzipError('truncated', this.#file, rest.length, 'the input ends inside the gzip header')
    }
    if (this.#state === 'plain') return
    if (!this.#ending) {
      this.#ending = true
      this.#post({ type: 'end' })
    }
    await this.#wait(() => this.#done)
  }

  /**
   * Gives a batch's buffer (with `whole`, a chunk's `buffer`) back to the
   * worker to fill again, once nothing refers to it any more: the worker
   * then allocates no new batches, and the memory of batches in flight
   * stays bounded whatever the reader's garbage collection does.
   */
  recycle(buf: ArrayBuffer): void {
    if (buf.byteLength === this.#batch) this.#post({ type: 'spare', buf }, [buf])
  }

  destroy(): void {
    this.#destroyed = true
    this.#stop()
    this.#queue.length = 0
  }

  #start(): void {
    this.#state = 'worker'
    const init: WorkerInit = { file: this.#file, engine: this.#engine, path: this.#path, batch: this.#batch, window: this.#window }
    let worker: Worker
    // This thread transfers spares to the worker: detached now, before the framer reading this input gets hot.
    detachEarly()
    try {
      // A small young generation: the worker allocates little besides its
      // output batches, and their memory goes when the young generation is collected.
      worker = new Worker(this.#script, { workerData: init, execArgv: [], resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB } })
    } catch (err) {
      this.#stopped = true
      this.#arrive({ type: 'error', verified: this.#verified, error: { message: `cannot start the inflate worker: ${String(err)}` } })
      return
    }
    this.#worker = worker
    worker.on('message', (message: FromWorker) => this.#arrive(message))
    worker.on('error', (err: Error) => this.#died(`the inflate worker failed: ${err.message}`))
    worker.on('exit', (code: number) => this.#died(`the inflate worker exited (code ${code}) before the end of the input`))
  }

  #post(message: ToWorker, transfer: ArrayBuffer[] = []): void {
    if (this.#stopped || !this.#worker) return
    this.#worker.postMessage(message, transfer)
    this.#refresh()
  }

  /** An unexpected end of the worker: an error after what it sent (nothing more comes from it). */
  #died(why: string): void {
    if (this.#stopped || this.#finished) return
    this.#stopped = true
    this.#arrive({ type: 'error', verified: this.#verified, error: { message: why, code: ErrorCodes.WORKER_FAILED, file: this.#file } })
  }

  #arrive(message: FromWorker): void {
    if (this.#destroyed) return
    if (message.type === 'done' || message.type === 'error') this.#finished = true
    this.#queue.push(message)
    if (!this.#pumping) void this.#pump()
  }

  /** Handles the worker's messages in order, waiting for `emit` between pieces of output. */
  async #pump(): Promise<void> {
    this.#pumping = true
    while (this.#queue.length > 0) {
      const message = this.#queue.shift() as FromWorker
      const verified = this.#verified
      if (message.type === 'data') {
        const out = Buffer.from(message.buf, 0, message.length)
        const piece = this.#whole ? out.length : OUT_CHUNK
        for (let at = 0; at < out.length; at += piece) {
          const wait = this.#emit(at === 0 && piece === out.length ? out : out.subarray(at, at + piece))
          if (!wait) continue
          this.#blocked = true
          this.#refresh()
          await wait
          this.#blocked = false
          if (this.#destroyed) {
            this.#pumping = false
            return
          }
        }
        this.#verified = message.verified
        if (message.read > 0) this.#onRead?.(message.read)
        // Credit in a few larger steps (a message costs the main thread): half
        // the window at a time, and all of it whenever the queue runs dry.
        this.#uncredited += message.length
        if (this.#uncredited >= this.#window / 2) this.#credit()
      } else if (message.type === 'read') {
        this.#onRead?.(message.bytes)
      } else if (message.type === 'ack') {
        this.#inFlight--
        this.#verified = message.verified
        this.#open = message.open
      } else if (message.type === 'done') {
        this.#verified = message.verified
        this.#done = true
        this.#stop(true)
      } else {
        this.#verified = message.verified
        this.#fail(message.error)
      }
      if (this.#verified > verified) this.#onVerified?.()
      this.#notify()
    }
    this.#credit()
    this.#pumping = false
    this.#refresh()
  }

  #credit(): void {
    if (this.#uncredited === 0) return
    this.#post({ type: 'credit', bytes: this.#uncredited })
    this.#uncredited = 0
  }

  #fail(serialized: SerializedError): void {
    // The worker sent its error and closes its port (or it is gone already).
    this.#stop(true)
    const err = new LogdaemonError((serialized.code as ErrorCode | undefined) ?? ErrorCodes.WORKER_FAILED, serialized.message, {
      file: serialized.file ?? this.#file,
      offset: serialized.offset ?? null,
    })
    this.#failed = err
    this.#queue.length = 0
    if (this.#waiters.size === 0) this.#onError?.(err)
  }

  #wait(ready: () => boolean): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed)
    if (ready()) return Promise.resolve()
    return new Promise<void>((resolve, reject) => {
      this.#waiters.add({ ready, resolve, reject })
    })
  }

  #notify(): void {
    for (const waiter of this.#waiters) {
      if (this.#failed) waiter.reject(this.#failed)
      else if (waiter.ready()) waiter.resolve()
      else continue
      this.#waiters.delete(waiter)
    }
  }

  /** The worker keeps the process alive only while the main thread waits for it. */
  #refresh(): void {
    const worker = this.#worker
    if (!worker || this.#stopped) return
    if ((this.#inFlight > 0 || this.#ending) && !this.#blocked) worker.ref()
    else worker.unref()
  }

  /**
   * Ends the worker. After its `done` or its error it closes its port and exits by
   * itself (`finished`): it is left to, unreferenced, so its exit is a
   * normal one (V8 writes a thread's coverage only then), and terminated
   * only if it has not gone within `EXIT_GRACE_MS`.
   */
  #stop(finished = false): void {
    if (this.#stopped && !this.#worker) return
    this.#stopped = true
    const worker = this.#worker
    this.#worker = null
    if (!worker) return
    if (!finished) {
      void worker.terminate()
      return
    }
    worker.unref()
    const timer = setTimeout(() => void worker.terminate(), EXIT_GRACE_MS)
    timer.unref()
    worker.once('exit', () => clearTimeout(timer))
  }
}
