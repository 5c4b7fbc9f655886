import type { TransferListItem } from 'node:worker_threads'
import type { WorkerPool } from './worker-pool.js'

/**
 * A worker pool with the thread that made it as one more worker: a task runs
 * on this thread, at once, while no worker has started yet or when every
 * worker has its fill (WORKER_QUEUE_DEPTH), and goes to the pool otherwise.
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
  /** Tasks run on this thread so far. */
  ranHere = 0

  /** `here` runs a task on this thread, as a worker would (its context loaded and primed beforehand). */
  constructor(pool: WorkerPool<In, Out>, here: (task: In) => Out) {
    this.#pool = pool
    this.#here = here
  }

  /** The workers and this thread. */
  get size(): number {
    return this.#pool.size + 1
  }

  async run(task: In, transfer: readonly TransferListItem[] = []): Promise<Out> {
    // A worker's "started" comes in on a turn of the event loop, which a caller that writes
    // synchronously (stdout to a file) would never give before its next task: one here.
    if (!this.#pool.started) await new Promise(setImmediate)
    // A worker's replies come in on turns of the event loop too: a caller that keeps this thread busy
    // (inflating, framing here) would see its workers full long after they finished. One turn first.
    if (this.#pool.started && this.#pool.saturated) await new Promise(setImmediate)
    if (!this.#pool.started || this.#pool.saturated) {
      this.ranHere++
      return this.#here(task)
    }
    return this.#pool.run(task, transfer)
  }

  close(): Promise<void> {
    return this.#pool.close()
  }
}
