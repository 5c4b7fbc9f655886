import type { JournalLayout } from '../files/journal-name.js'
import type { AdviceAs } from '../files/start-advice.js'
import type { SavedState } from '../files/state-file.js'
import type { FieldEncoding } from '../journal/entry.js'
import type { SkipReport } from '../journal/framer.js'
import type { JournalPosition } from '../position.js'
import type { GzipRetryOptions } from './gzip-pull.js'
import type { RotationMode } from './journal-cursor.js'
import type { StartPoint } from './start-point.js'

export type { RotationMode } from './journal-cursor.js'
export type { StartPoint } from './start-point.js'

/**
 * Options of {@link RotatingJournalSource}. `root`, `journal` and `prefix` are the server's layout.
 * The options in ms (`quietMs`, `pollMs`, `saveIntervalMs`, `graceMs`, `gzipRetry`'s) take 0 to
 * 2147483647 (2^31-1, about 24.8 days, the longest timer Node.js can set): the constructor throws a
 * RangeError for any other value (a longer timer would fire at once), it does not clamp it.
 */
export interface RotatingJournalSourceOptions extends JournalLayout {
  /**
   * Where to start when there is no saved state: journal N from its start
   * (the number of the checkpoint a replica was restored from), or `'end'`
   * for the end of the live journal's last whole record, like `tail -f`.
   * A saved state always wins. With neither: ERR_NO_START.
   */
  from?: number | 'end'
  /** The state file: resume from it, and save committed positions to it. */
  state?: string
  /** Emit `quiet` after this many ms at the live journal's end without new bytes, and again every as long. Default 2000. */
  quietMs?: number
  /** Safety-net poll while waiting for new bytes (fs.watch does the fast part), ms. Default 1000. */
  pollMs?: number
  /** Least time between two state writes, ms. Default 1000. */
  saveIntervalMs?: number
  /**
   * Save positions only at consistency points (default true): a restart then
   * replays at most one incomplete transaction. With false, `commit(entry)`
   * saves the entry's end whatever it is.
   */
  consistentOnly?: boolean
  /** How entries decode field bytes. Default utf8. */
  encoding?: FieldEncoding
  /** Largest record in bytes (see JournalFramer). */
  maxEntryBytes?: number
  /** Skip oversize records instead of failing with ERR_ENTRY_TOO_LARGE. */
  skipOversize?: boolean
  /** Skip malformed bytes (and a garbled last record of a rotated journal) instead of failing. */
  skipMalformed?: boolean
  /** How a `.gz` archive still being written is waited for. */
  gzipRetry?: GzipRetryOptions
  /** How long doubtful file states (shrunk without an archive, an empty new archive) may last, ms. Default 5000. */
  graceMs?: number
  /** Readable buffer in entries (in batches with `batch`). Default 16 (2 with `batch`). */
  highWaterMark?: number
  /**
   * Push the entries framed from each chunk read (at most 128 KiB of
   * records, or one larger record) as one array instead of one by one.
   * Same entries, order, flags and errors; a stream object costs more than
   * framing a record, so bulk consumers (the daemon's ListenerChain with
   * `batch: true`) read batches. highWaterMark then counts batches. A
   * `for await` over the source always reads batches (highWaterMark then
   * counts batches), and yields entries.
   */
  batch?: boolean
  /** Aborting ends the stream like `destroy()`: the committed position is saved, `for await` ends. */
  signal?: AbortSignal
  /**
   * How error messages name the settings they advise changing: `option`
   * (default) as logdaemon-cat's options (`--from N`, `--from end`,
   * `--root/--journal/--prefix`); `config` as the daemon's configuration
   * keys (`from: N`, `from: "end"`, `server.prefix`), which also names this
   * source's own `from`.
   */
  adviceAs?: AdviceAs
}

/** The `rotate` event: journal `from` ended and `to` follows. */
export interface RotateEvent {
  readonly from: number
  readonly to: number
  /**
   * The number the server gave the file read as journal `from`, when it is
   * not `from` (the live journal was renamed to journal.M: the start number,
   * `from: N`, was wrong). `to` is then M + 1: the renamed file is not read
   * again.
   */
  readonly archivedAs?: number
  readonly mode: RotationMode
  readonly at: Date
}

/** The `skip` event: a record skipped (skipMalformed, skipOversize), with its journal. */
export interface SourceSkipReport extends SkipReport {
  readonly journal: number
}

/** What the status page shows about the source. */
export interface SourceStatus {
  /** `starting` before the start point is known; `archives` while reading archived journals; `live` in the live journal. */
  readonly phase: 'starting' | 'archives' | 'live' | 'closed'
  readonly start: StartPoint | null
  /** End of the last entry handed out. */
  readonly position: JournalPosition | null
  /** Offset of the next byte to read. */
  readonly read: JournalPosition | null
  /** The live journal, when reading it: number, path, size last seen. */
  readonly live: { readonly journal: number; readonly path: string; readonly size: number } | null
  /** Newest position the consumer committed. */
  readonly committed: JournalPosition | null
  /** Newest position written to the state file. */
  readonly saved: JournalPosition | null
  readonly lastRotation: RotateEvent | null
  /** When the last new bytes were read. */
  readonly lastDataAt: Date | null
  readonly entries: number
}

/** The events of {@link RotatingJournalSource}, besides a Readable's. */
export interface RotatingJournalSourceEvents {
  /** The start point is known and checked (after `open()`). */
  start: (start: StartPoint) => void
  /** A journal ended and the next one follows (also when reaching the next archive). */
  rotate: (event: RotateEvent) => void
  /** `quietMs` passed at the live journal's end without new bytes; `hadData` is true on the first after activity. */
  quiet: (hadData: boolean) => void
  /** The state file was written. */
  state: (state: SavedState) => void
  skip: (report: SourceSkipReport) => void
}
