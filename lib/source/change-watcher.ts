import { watch, type FSWatcher } from 'node:fs'

export interface ChangeWatcherOptions {
  /** Directories to watch: the live journal's and the archives'. */
  dirs: readonly string[]
  /** Wake only for events on these file names (events without a name always wake). Default: every name. */
  isInteresting?: (name: string) => boolean
  /**
   * The safety net: `wait()` also resolves after this many ms without an
   * event (fs.watch can miss events on network file systems, or fail when
   * inotify watches run out). Default 1000.
   */
  pollMs?: number
  /**
   * Arms the poll timer: calls `wake` after `ms`, unless the returned
   * function cancels it first. Default: `setTimeout`. Tests pass their own to
   * say which of the event and the timer woke a waiter, without timing it.
   */
  schedule?: (wake: () => void, ms: number) => () => void
}

/** The real timer; it keeps the process alive while someone waits (see ChangeWatcher). */
function schedule(wake: () => void, ms: number): () => void {
  const timer = setTimeout(wake, ms)
  return () => clearTimeout(timer)
}

/**
 * Wakes a waiting reader when something may have changed in the journal
 * directories: fs.watch for low latency, a slow timer as the safety net.
 * Watching directories rather than the file keeps working across a rename
 * rotation, and also reports new archives.
 *
 * Nothing runs while nobody waits except the kernel's watch; the timer is
 * armed only inside `wait()`, and it keeps the process alive there: a
 * follower waiting for data is not finished.
 */
export class ChangeWatcher {
  readonly #pollMs: number
  readonly #isInteresting: (name: string) => boolean
  readonly #schedule: (wake: () => void, ms: number) => () => void
  readonly #watchers: FSWatcher[] = []
  /** An event came while nobody was waiting. */
  #dirty = false
  #wake: (() => void) | null = null
  #closed = false
  /** Events seen (for tests and the status page). */
  events = 0

  constructor(options: ChangeWatcherOptions) {
    this.#pollMs = options.pollMs ?? 1000
    this.#isInteresting = options.isInteresting ?? (() => true)
    this.#schedule = options.schedule ?? schedule
    for (const dir of new Set(options.dirs)) {
      try {
        const w = watch(dir, { persistent: false }, (_type, name) => this.#onEvent(name))
        // A watch that fails later (directory removed) leaves the poll timer in charge.
        w.on('error', () => w.close())
        this.#watchers.push(w)
      } catch {
        // The directory may not exist yet, or watches ran out: polling covers it.
      }
    }
  }

  /** How many directories are watched (the rest are polled only). */
  get watching(): number {
    return this.#watchers.length
  }

  /**
   * Resolves at the next interesting event, at once if one came since the
   * last call, or after `pollMs`, or when `signal` aborts.
   */
  wait(signal?: AbortSignal): Promise<void> {
    if (this.#dirty || this.#closed || signal?.aborted) {
      this.#dirty = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const done = (): void => {
        cancel()
        signal?.removeEventListener('abort', done)
        this.#wake = null
        this.#dirty = false
        resolve()
      }
      const cancel = this.#schedule(done, this.#pollMs)
      signal?.addEventListener('abort', done, { once: true })
      this.#wake = done
    })
  }

  /** Stops watching and releases a waiter. Idempotent. */
  close(): void {
    this.#closed = true
    for (const w of this.#watchers.splice(0)) w.close()
    this.#wake?.()
  }

  #onEvent(name: string | Buffer | null): void {
    if (name !== null && !this.#isInteresting(name.toString())) return
    this.events++
    if (this.#wake) this.#wake()
    else this.#dirty = true
  }
}
