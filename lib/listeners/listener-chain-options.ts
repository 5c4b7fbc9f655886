import type { JournalEntry } from '../journal/entry.js'
import type { JournalPosition } from '../position.js'
import type { Listener, ListenerLogger } from './listener.js'
import type { ListenerObserver, RetryOptions } from './listener-writable.js'

/** A listener with its own retry settings. */
export interface ListenerSpec {
  listener: Listener
  retry?: RetryOptions
}

/** What the chain reports (the StatusTracker has these methods). */
export interface ChainObserver extends ListenerObserver {
  entryRead?(entry: JournalEntry): void
  committed?(position: JournalPosition): void
  quiet?(isQuiet: boolean): void
}

export interface ListenerChainOptions {
  listeners: readonly (Listener | ListenerSpec)[]
  /**
   * Persists a position (the source's `commit`): every listener has finished
   * every entry before it and synced. Called one at a time, in order.
   */
  commit?: (position: JournalPosition, entry: JournalEntry) => void | Promise<void>
  /** Which entries may be committed after: consistency points (default) or any entry. */
  commitAt?: 'consistent' | 'entry'
  /**
   * Where the bytes read so far are known good: no `sync()` or commit is
   * ever made past it (a `.gz` archive's member is good once its CRC has
   * been checked, at its end). Default: the `commitBarrier` of a
   * RotatingJournalSource piped into the chain, else none.
   */
  barrier?: () => JournalPosition

  /** Least time between two sync-and-commit rounds, in ms. Default 1000. */
  commitIntervalMs?: number
  /** After this long without an entry, listeners get `noData` and pending work is committed. Default 5000; 0 turns it off. */
  quietMs?: number
  /** Retry settings for listeners without their own. */
  retry?: RetryOptions
  /** Entries buffered in the chain and in each listener's Writable. Default 128 (DEFAULT_CHAIN_HIGH_WATER_MARK). */
  highWaterMark?: number
  start?: JournalPosition | null
  logger?: ListenerLogger
  observer?: ChainObserver
}
