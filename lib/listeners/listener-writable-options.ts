import type { JournalEntry } from '../journal/entry.js'
import type { JournalPosition } from '../position.js'
import type { ListenerLogger } from './listener.js'
import type { RetryOptions } from '../retry.js'

/** What a listener's Writable reports as it goes (the StatusTracker has these methods). */
export interface ListenerObserver {
  listenerHandled?(name: string, entry: JournalEntry): void
  listenerSkipped?(name: string): void
  listenerRetry?(name: string, err: Error): void
  listenerError?(name: string, err: Error): void
}

export interface ListenerWritableOptions {
  retry?: RetryOptions
  /** Entries buffered before `write()` returns false. Default 16 (Node's object-mode default). */
  highWaterMark?: number
  /** Where the daemon resumes from, passed to `open()`. */
  start?: JournalPosition | null
  logger?: ListenerLogger
  /** Aborting it stops retries and is passed on to the listener. */
  signal?: AbortSignal
  observer?: ListenerObserver
  /**
   * At the end of the input, call `sync()` with the end of the last entry
   * before `close()`. Default true; the chain turns it off because it syncs
   * at consistency points itself.
   */
  syncOnEnd?: boolean
}
