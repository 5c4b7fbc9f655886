import { availableParallelism } from 'node:os'
import { type ResourceLimits, type TransferListItem, Worker } from 'node:worker_threads'
import { ErrorCodes, LogdaemonError } from '../errors.js'
import { detachEarly } from './detach-early.js'

/**
 * The most workers a pool starts, whatever it is asked for: each costs a V8
 * heap (~10 MB of RSS) and a start-up of ~30 ms, and framing reads the disk
 * or the page cache, which more than a few threads do not read faster.
 */
export const MAX_THREADS = 16

/** The default thread count: the cores, at most 4 (measured in docs/design.md). */
export function defaultThreads(): number {
  return Math.max(1, Math.min(availableParallelism(), 4))
}

/** How many workers a pool asked for `size` starts: at least 1, at most {@link MAX_THREADS}. */
export function poolSize(size: number): number {
  return Math.max(1, Math.min(Math.floor(size), MAX_THREADS))
}

/** A task's reply, as a worker posts it: a result, or the error it threw. */
export type WorkerReply<Out> = { id: number; ok: true; result: Out } | { id: number; ok: false; error: SerializedError }

/** What a worker script posts once, when it has loaded and primed, before any reply (see WorkerPool.started). */
export const WORKER_STARTED = { started: true } as const

/** An error as it crosses threads (a LogdaemonError keeps its code and position). */
export interface SerializedError {
  message: string
  code?: string
  offset?: number | null
  line?: number | null
}

interface Job<In, Out> {
  id: number
  task: In
  transfer: readonly TransferListItem[]
  resolve: (value: Out) => void
  reject: (err: Error) => void
}

interface Slot<In, Out> {
  worker: Worker
  /** Posted to this worker, oldest first: it runs them in that order. */
  jobs: Job<In, Out>[]
}

/**
 * Tasks posted to a worker at once: the next one waits in the worker's own
 * queue, so the worker starts it as soon as it posts a result, without
 * waiting for this thread to see that result and post again (on a busy
 * machine this thread may not run for milliseconds).
 */
export const WORKER_QUEUE_DEPTH = 2

/**
 * A fixed set of worker_threads running one script: `run(task)` resolves
 * with the worker's result. Each worker runs one task at a time, with up to
 * {@link WORKER_QUEUE_DEPTH} posted to it; tasks are posted in submission
 * order to the least loaded worker, and wait here when every worker has its
 * fill (callers bound how many: see {@link ordered}). A worker's tasks are
 * posted to it in submission order, so the oldest task not finished is
 * always running somewhere (tasks may wait on earlier ones: see
 * frame-range.ts's line counts). A worker that throws outside a task, exits, or fails to
 * start fails the pool: every pending and later task rejects with
 * ERR_WORKER_FAILED and the workers are terminated, so nothing hangs. Idle
 * workers are unref'd: an idle pool never keeps the process alive, a busy
 * one does (its caller is waiting for the result).
 *
 * Hand-written rather than piscina: this is ~150 lines, has no dependency,
 * and does the two things the cat pipeline needs that piscina does not
 * offer directly (ordered results with a bounded window; the whole run
 * failing on one worker's death instead of respawning it).
 */
export class WorkerPool<In, Out> {
  readonly #slots: Slot<In, Out>[] = []
  readonly #queue: Job<In, Out>[] = []
  #nextId = 0
  #failure: LogdaemonError | null = null
  #closed = false
  #started = false
  readonly #depth: number

  /**
   * `workerData` goes to every worker; `resourceLimits` bound each worker's
   * heap (see Node's Worker options); `depth` is how many tasks are posted
   * to a worker at once (default {@link WORKER_QUEUE_DEPTH}).
   */
  constructor(script: URL, size: number, workerData?: unknown, resourceLimits?: ResourceLimits, depth = WORKER_QUEUE_DEPTH) {
    const n = poolSize(size)
    this.#depth = Math.max(1, Math.floor(depth))
    raiseStdioListeners(n)
    // This thread transfers buffers to its workers (tasks, spares): detached now, before its own hot code is compiled.
    detachEarly()
    for (let i = 0; i < n; i++) {
      const worker = new Worker(script, { workerData, ...(resourceLimits ? { resourceLimits } : {}) })
      const slot: Slot<In, Out> = { worker, jobs: [] }
      worker.on('message', (reply: WorkerReply<Out> | typeof WORKER_STARTED) => {
        if ('started' in reply) this.#started = true
        else this.#reply(slot, reply)
      })
      worker.on('error', (err) => this.#fail(`a worker failed: ${err.message}`, err))
      worker.on('exit', (code) => {
        if (!this.#closed) this.#fail(`a worker exited (code ${code}) before the pool was closed`)
      })
      worker.unref()
      this.#slots.push(slot)
    }
  }

  /** How many workers run. */
  get size(): number {
    return this.#slots.length
  }

  /**
   * Whether a worker has started: posted {@link WORKER_STARTED} once it had
   * loaded and primed its script (~0.1 s of CPU; a task posted before waits
   * in its queue meanwhile). True too once the pool has failed or closed,
   * when `run` rejects at once. A script that never posts it leaves it false.
   */
  get started(): boolean {
    return this.#started || this.#failure !== null || this.#closed
  }

  /** How many tasks are posted to a worker at once. */
  get depth(): number {
    return this.#depth
  }

  /** Whether every worker has its fill of tasks (a task run now would wait in the queue here); false once failed or closed. */
  get saturated(): boolean {
    if (this.#failure !== null || this.#closed) return false
    return this.#queue.length > 0 || this.#slots.every((s) => s.jobs.length >= this.#depth)
  }

  /** Runs `task` on the next free worker; `transfer` lists ArrayBuffers moved (not copied) to it. */
  run(task: In, transfer: readonly TransferListItem[] = []): Promise<Out> {
    if (this.#failure) return Promise.reject(this.#failure)
    if (this.#closed) return Promise.reject(new LogdaemonError(ErrorCodes.WORKER_FAILED, 'the worker pool is closed'))
    return new Promise<Out>((resolve, reject) => {
      this.#queue.push({ id: this.#nextId++, task, transfer, resolve, reject })
      this.#dispatch()
    })
  }

  /**
   * Takes the oldest task still waiting here (every worker had its fill when
   * it came) off the queue, for the caller to run and settle itself with
   * `resolve` or `reject` (SharingRunner.help). Null when none waits.
   */
  takeQueued(): { readonly task: In; readonly resolve: (value: Out) => void; readonly reject: (err: Error) => void } | null {
    return this.#queue.shift() ?? null
  }

  /** Terminates the workers (idempotent); pending tasks reject. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#rejectAll(this.#failure ?? new LogdaemonError(ErrorCodes.WORKER_FAILED, 'the worker pool was closed'))
    await Promise.all(this.#slots.map((s) => s.worker.terminate()))
    raiseStdioListeners(-this.#slots.length)
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      let slot: Slot<In, Out> | null = null
      for (const s of this.#slots) if (s.jobs.length < this.#depth && (!slot || s.jobs.length < slot.jobs.length)) slot = s
      if (!slot) return
      const job = this.#queue.shift() as Job<In, Out>
      try {
        slot.worker.postMessage({ id: job.id, task: job.task }, job.transfer)
      } catch (err) {
        // A task that cannot be cloned is the caller's error, not the worker's.
        job.reject(err as Error)
        continue
      }
      slot.jobs.push(job)
      slot.worker.ref()
    }
  }

  #reply(slot: Slot<In, Out>, reply: WorkerReply<Out>): void {
    // A worker runs its tasks in order, but a script may answer them in any order.
    const i = slot.jobs.findIndex((j) => j.id === reply.id)
    if (i < 0) {
      this.#fail(`a worker answered task ${reply.id}, which it was not running`)
      return
    }
    const job = slot.jobs.splice(i, 1)[0] as Job<In, Out>
    if (slot.jobs.length === 0) slot.worker.unref()
    if (reply.ok) job.resolve(reply.result)
    else job.reject(deserializeError(reply.error))
    this.#dispatch()
  }

  #fail(message: string, cause?: unknown): void {
    if (this.#failure || this.#closed) return
    this.#failure = new LogdaemonError(ErrorCodes.WORKER_FAILED, message, cause === undefined ? {} : { cause })
    this.#rejectAll(this.#failure)
    void this.close()
  }

  #rejectAll(err: Error): void {
    for (const slot of this.#slots) for (const job of slot.jobs.splice(0)) job.reject(err)
    for (const job of this.#queue.splice(0)) job.reject(err)
  }
}

/**
 * Node pipes each worker's stdout and stderr into this process's, and each
 * pipe adds a listener of each kind ('close', 'error', …) to them, past
 * their limit without a warning (Node raises it for the pipe alone). The
 * next listener anybody adds then draws a MaxListenersExceededWarning: with
 * `--threads 16`, `logdaemon-cat`'s next write that waited for 'drain'
 * printed two on stderr. So a pool raises the limit by its workers while
 * they live, as Node does for its pipe.
 */
function raiseStdioListeners(by: number): void {
  for (const stream of [process.stdout, process.stderr]) {
    const max = stream.getMaxListeners()
    if (max > 0 && Number.isFinite(max)) stream.setMaxListeners(Math.max(1, max + by))
  }
}

/** An error thrown in a worker, as it is posted back. */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof LogdaemonError) return { message: err.message, code: err.code, offset: err.offset, line: err.line }
  if (err instanceof Error)
    return { message: err.message, ...(typeof (err as NodeJS.ErrnoException).code === 'string' ? { code: (err as NodeJS.ErrnoException).code } : {}) }
  return { message: String(err) }
}

function deserializeError(e: SerializedError): Error {
  const known = Object.values(ErrorCodes) as string[]
  if (e.code && known.includes(e.code)) {
    return new LogdaemonError(e.code as LogdaemonError['code'], e.message, { offset: e.offset ?? null, line: e.line ?? null })
  }
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {})
}

/**
 * Runs `tasks` through `run` with at most `limit` in flight and yields the
 * results in submission order: the next task is started only when a result
 * has been taken, so a slow consumer slows the producer (backpressure). On
 * an error, or when the consumer stops early, the results still in flight
 * are dropped (not awaited: closing the pool stops their work).
 */
export async function* ordered<T, R>(tasks: Iterable<T> | AsyncIterable<T>, run: (task: T) => Promise<R>, limit: number): AsyncGenerator<R> {
  const window: Promise<R>[] = []
  // A rejection is observed when its turn comes; until then it must not count as unhandled.
  const start = (task: T): void => {
    const p = run(task)
    p.catch(() => {})
    window.push(p)
  }
  for await (const task of tasks) {
    start(task)
    if (window.length >= Math.max(1, limit)) yield await (window.shift() as Promise<R>)
  }
  while (window.length) yield await (window.shift() as Promise<R>)
}
