import { setImmediate as turn } from 'node:timers/promises'
import type { TransferListItem } from 'node:worker_threads'
import { toError } from '../errors.js'
import type { WorkerPool } from './worker-pool.js'

/** When a task runs on this thread once a worker has started (see SharingRunner). */
export type SharingPolicy = 'eager' | 'when-idle'

/**
 * A worker pool with the thread that made it as one more worker. A task
 * runs on this thread, at once, while no worker has started yet; after
 * that, by `policy`:
 * - `eager` (the default): on this thread when every worker has its fill
 *   (the pool's depth), on a worker otherwise. For a caller with nothing
 *   else to do than wait for the results.
 * - `when-idle`: always to the pool, where it waits when every worker has
 *   its fill; the caller runs waiting tasks itself with {@link help} when it
 *   would otherwise wait for a result. For a caller with work of its own
 *   (a `.gz` run's main thread inflates): `eager`, it framed a chunk
 *   whenever its worker had its two, which it had most of the time, since
 *   this thread inflates a chunk in half the time a worker frames one; so
 *   it framed every other chunk, and its worker sat idle while it did (a
 *   third of the run on a 1 GiB `.gz`).
 *
 * Same tasks, same results (the caller takes them in order either way);
 * `size` counts this thread.
 *
 * Why: `logdaemon-cat`'s main thread mostly waits for its workers (on a
 * plain file, a CPU profile showed it idle ~90 % of the run) while each
 * worker costs a start-up of its own (~70 ms of CPU for raw, ~100 ms for
 * json, before its first task), and on a `.gz` the main thread inflates as
 * well, so 2 workers made 3 busy threads on 2 cores. With --threads N the
 * run now has N threads: N - 1 workers and this one, which frames while
 * the workers start and whenever they are behind.
 */
export class SharingRunner<In, Out> {
  readonly #pool: WorkerPool<In, Out>
  readonly #here: (task: In) => Out
  readonly #policy: SharingPolicy
  /** Tasks run on this thread so far. */
  ranHere = 0

  /**
   * With `when-idle`: runs the oldest task waiting in the pool (every
   * worker had its fill) on this thread, and settles it; false when none
   * waits. Then one turn of the event loop, so that the workers' replies
   * are read and they are given the next tasks. Call it, again and again,
   * while the result you need next is not there. Undefined with `eager`,
   * where no task waits in the pool.
   */
  readonly help: (() => Promise<boolean>) | undefined

  /** `here` runs a task on this thread, as a worker would (its context loaded and primed beforehand). */
  constructor(pool: WorkerPool<In, Out>, here: (task: In) => Out, policy: SharingPolicy = 'eager') {
    this.#pool = pool
    this.#here = here
    this.#policy = policy
    this.help = policy === 'when-idle' ? () => this.#help() : undefined
  }

  /** The workers and this thread. */
  get size(): number {
    return this.#pool.size + 1
  }

  /** Tasks posted to a worker at once. */
  get depth(): number {
    return this.#pool.depth
  }

  async run(task: In, transfer: readonly TransferListItem[] = []): Promise<Out> {
    // A worker's "started" and its replies come in on turns of the event loop, which a caller that
    // keeps this thread busy (inflating, framing here, writing synchronously to a file) does not
    // give: one turn first. Replies read, the pool posts the tasks that waited to the workers.
    if (!this.#pool.started || this.#policy === 'when-idle' || this.#pool.saturated) await turn()
    if (!this.#pool.started || (this.#policy === 'eager' && this.#pool.saturated)) {
      this.ranHere++
      return this.#here(task)
    }
    return this.#pool.run(task, transfer)
  }

  async #help(): Promise<boolean> {
    const job = this.#pool.takeQueued()
    if (job === null) return false
    this.ranHere++
    try {
      job.resolve(this.#here(job.task))
    } catch (err) {
      job.reject(toError(err))
    }
    await turn()
    return true
  }

  close(): Promise<void> {
    return this.#pool.close()
  }
}
