/** The shape of `/status.json`, rendered by StatusTracker#snapshot. */

/** The last error seen, as the status page shows it. */
export interface StatusError {
  readonly message: string
  /** The error's stable code (`ERR_…`), or null for errors without one. */
  readonly code: string | null
  /** The listener it came from, or null for the daemon's own errors. */
  readonly listener: string | null
  readonly at: string
}

/** One listener's counters. */
export interface ListenerStatus {
  readonly name: string
  /** Entries the listener has finished (`listen` resolved). */
  readonly handled: number
  /** Entries its `isHandled` declined. */
  readonly skipped: number
  /** Failed attempts that were retried. */
  readonly retries: number
  /** Failures after which retries ran out. */
  readonly errors: number
  readonly lastError: StatusError | null
  /** When it last handled or skipped an entry (ISO time), or null. */
  readonly lastActivity: string | null
  /** How far its destination has durably taken the journal (`N/offset`), from the listener's optional `acknowledged()`; null when it has none or does not know yet. */
  readonly acknowledged: string | null
  /** True from a failed attempt until the listener next succeeds. */
  readonly retrying: boolean
}

/** The health states, worst first: see docs/operations.md. */
export type HealthState = 'Failed' | 'Retrying' | 'Behind' | 'Reading' | 'Caught up'

/** Catching up: where the reader is in the journals between its start and the live one. */
export interface CatchUp {
  /** The journal being read is the k-th of n, counting from the start journal (1-based). */
  readonly journal: number
  readonly journals: number
  /** Bytes read since start over bytes read plus bytes left, 0–100 (one decimal). */
  readonly percent: number
  /** Bytes left divided by the read rate of the last 10 seconds; null while the rate is 0. */
  readonly secondsLeft: number | null
}

/** One point of the entries-per-second chart. */
export interface HistoryPoint {
  /** Start of the interval (ISO time). */
  readonly at: string
  /** Entries read in the interval. */
  readonly entries: number
  /** Entries per second over the part of the interval the daemon was running. */
  readonly perSecond: number
}

/** What `/status.json` serves. Times are ISO 8601 strings; positions are `N/offset` text. */
export interface StatusSnapshot {
  /** The logdaemon version. */
  readonly version: string
  /** The server root, or null before `started`. */
  readonly root: string | null
  /** When this snapshot was taken (the server's clock: compare other times with it, not the browser's). */
  readonly now: string
  readonly startedAt: string
  readonly uptimeSeconds: number
  /** End of the last entry read (`N/offset`), or null before the first. */
  readonly position: string | null
  /** The last committed position (`N/offset`), or null before the first commit. */
  readonly committed: string | null
  readonly liveJournal: {
    /** The live journal's number (the next checkpoint's), or null when unknown. */
    readonly number: number | null
    readonly path: string | null
    /** Its size in bytes, or null when unknown. */
    readonly size: number | null
  }
  /**
   * Bytes on disk after the read position (the end of the last entry read),
   * to the end of the live journal, archives included, measured when the
   * status is read. A `.gz` archive counts its decompressed size from the
   * gzip trailer (see lagBytesEstimated). Null before the first measurement.
   */
  readonly lagBytes: number | null
  /** True when lagBytes counts a `.gz` archive by its ISIZE trailer (exact for single-member archives under 4 GiB). */
  readonly lagBytesEstimated: boolean
  /** Bytes on disk after the committed position: what a restart would read again or for the first time. */
  readonly uncommittedBytes: number | null
  /**
   * Age in seconds of the oldest byte not yet read or not yet committed (the
   * byte at the committed position), 0 when everything on disk is committed.
   * A lower bound: the time the byte was first seen on disk (or, for an
   * archive read before that, the archive's modification time). Null before
   * the first measurement.
   */
  readonly lagSeconds: number | null
  /** Worst state that applies: Failed, Retrying, Behind, Reading, Caught up. */
  readonly health: HealthState
  /** Why the health is what it is, in words. */
  readonly healthReason: string
  /** Progress while not caught up; null when caught up or unknown. */
  readonly catchUp: CatchUp | null
  readonly entriesTotal: number
  /** Entries per second over the last 10 complete seconds. */
  readonly entriesPerSecond: number
  /** Entries per second, oldest first, one point per `resolutionSeconds`, complete intervals only. */
  readonly history: {
    readonly resolutionSeconds: number
    readonly points: readonly HistoryPoint[]
  }
  readonly listeners: readonly ListenerStatus[]
  /** Retries over all listeners. */
  readonly retries: number
  /** Errors over all listeners and the daemon. */
  readonly errors: number
  readonly lastError: StatusError | null
  /** When the last entry was read (ISO time), or null. */
  readonly lastActivity: string | null
  readonly lastRotation: { readonly at: string; readonly from: number; readonly to: number; readonly mode: string } | null
  /** True while the journal has been quiet for the quiet period. */
  readonly quiet: boolean
}
