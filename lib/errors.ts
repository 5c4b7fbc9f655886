/**
 * The one error class of logdaemon. Every error the project raises carries a
 * stable `code` (tests and callers match it, never the wording) and, where it
 * is known, where it happened: file, journal number, byte offset, line.
 */

export const ErrorCodes = {
  /** A record does not follow the journal format. */
  JOURNAL_MALFORMED: 'ERR_JOURNAL_MALFORMED',
  /** The input ended inside a record. */
  JOURNAL_INCOMPLETE: 'ERR_JOURNAL_INCOMPLETE',
  /** A record is larger than `maxEntryBytes`. */
  ENTRY_TOO_LARGE: 'ERR_ENTRY_TOO_LARGE',
  /** A numbered journal between the start and the live one is missing. */
  JOURNAL_GAP: 'ERR_JOURNAL_GAP',
  /**
   * The live journal shrank below the read offset (or its content changed
   * under the reader) and no archived copy of the journal was found to read
   * the rest from; or a file read once (logdaemon-cat, createJournalReader,
   * sql load) shrank below what had been read of it, or below its size at
   * open where that was to be read (the threaded paths).
   */
  JOURNAL_SHRUNK: 'ERR_JOURNAL_SHRUNK',
  /** The live journal was deleted (no name left) and no archive of it exists: not a rotation. */
  JOURNAL_DELETED: 'ERR_JOURNAL_DELETED',
  /**
   * The journals (or their directory) cannot be read when a source opens:
   * permission denied (EACCES, EPERM). Once running, a source waits such a
   * spell out at its position instead.
   */
  JOURNAL_UNREADABLE: 'ERR_JOURNAL_UNREADABLE',
  /** A journal number (start, state or rename) contradicts the files on disk. */
  JOURNAL_NUMBER: 'ERR_JOURNAL_NUMBER',
  /** A gzip file ends before its last member is complete. */
  GZIP_TRUNCATED: 'ERR_GZIP_TRUNCATED',
  /** A gzip file is not valid deflate data. */
  GZIP_CORRUPT: 'ERR_GZIP_CORRUPT',
  /** The saved state does not match the journal found on disk. */
  STATE_MISMATCH: 'ERR_STATE_MISMATCH',
  /** The state file cannot be read or parsed. */
  STATE_CORRUPT: 'ERR_STATE_CORRUPT',
  /** Writing the state file failed. */
  STATE_WRITE: 'ERR_STATE_WRITE',
  /** Another live process holds the lock of the state file (details: pid, host, command). */
  LOCKED: 'ERR_LOCKED',
  /** Neither a saved state nor a start point was given. */
  NO_START: 'ERR_NO_START',
  /** A position text is not `N/offset`. */
  BAD_POSITION: 'ERR_BAD_POSITION',
  /** The configuration is invalid. */
  CONFIG_INVALID: 'ERR_CONFIG_INVALID',
  /** A listener module cannot be loaded or exports no listener. */
  LISTENER_LOAD: 'ERR_LISTENER_LOAD',
  /** A listener failed and its retries ran out. */
  LISTENER_FAILED: 'ERR_LISTENER_FAILED',
  /** A listener that keeps journals by number (mirror, hot-backup) got an entry without a journal number. */
  JOURNAL_UNNUMBERED: 'ERR_JOURNAL_UNNUMBERED',
  /** The daemon was stopped at once (a second signal, `Daemon.kill()`): nothing after the last commit was committed. */
  KILLED: 'ERR_KILLED',
  /** The mirror listener would leave a hole: the next entry starts past the mirror's end. */
  MIRROR_GAP: 'ERR_MIRROR_GAP',
  /** A mirror file is shorter than its own committed length, or its state cannot be read. */
  MIRROR_MISMATCH: 'ERR_MIRROR_MISMATCH',
  /** ssh refused the standby's host key (unknown or changed): fix known_hosts, nothing is retried. */
  SSH_HOST_KEY: 'ERR_SSH_HOST_KEY',
  /** ssh could not authenticate to the standby with the configured key, non-interactively. */
  SSH_AUTH: 'ERR_SSH_AUTH',
  /** The ssh connection or the remote command failed or spoke out of protocol; hot-backup reconnects. */
  REMOTE_FAILED: 'ERR_REMOTE_FAILED',
  /** The standby lacks bytes before the ones hot-backup holds: they can no longer be sent. */
  REMOTE_GAP: 'ERR_REMOTE_GAP',
  /** The standby's journal.N holds bytes that are not journal N's (another server's, an older timeline's): nothing is written over them. */
  REMOTE_MISMATCH: 'ERR_REMOTE_MISMATCH',
  /** The configuration file does not exist or cannot be loaded. */
  CONFIG_NOT_FOUND: 'ERR_CONFIG_NOT_FOUND',
  /** A file would be overwritten without `--force`. */
  FILE_EXISTS: 'ERR_FILE_EXISTS',
  /** `logdaemon init` could not write the configuration file (its directory missing, permission denied, …). */
  CONFIG_WRITE: 'ERR_CONFIG_WRITE',
  /** The notify listener could not deliver a change (SMTP or webhook); the daemon retries. */
  NOTIFY_DELIVERY: 'ERR_NOTIFY_DELIVERY',
  /** The SQL replica's database failed (connection, statement, commit); the message names it by its masked URL. */
  SQL_FAILED: 'ERR_SQL_FAILED',
  /** The replica's position and the daemon's entries do not meet: applying would leave rows missing. */
  SQL_GAP: 'ERR_SQL_GAP',
  /** The replica's position changed under the listener: another writer uses the database. */
  SQL_CONFLICT: 'ERR_SQL_CONFLICT',
  /** `logdaemon sql load` was pointed at a database that already holds tables. */
  SQL_NOT_EMPTY: 'ERR_SQL_NOT_EMPTY',
  /**
   * A checkpoint given to `logdaemon sql load` is not whole: it holds no
   * record, or it starts with p4d's header (`@nx@ 0`, `@nx@ 2` for a dump)
   * and does not end with the matching trailer (cut, or still being written).
   */
  CHECKPOINT_INCOMPLETE: 'ERR_CHECKPOINT_INCOMPLETE',
  /**
   * A checkpoint given to `logdaemon sql load` has records of one table in
   * an older layout after records in a newer one that keys rows otherwise:
   * p4d writes one layout per table, and no key could hold both.
   */
  CHECKPOINT_LAYOUTS: 'ERR_CHECKPOINT_LAYOUTS',
  /** The NATS server cannot be reached, or refused the connection (authentication, TLS). */
  JETSTREAM_CONNECT: 'ERR_JETSTREAM_CONNECT',
  /** A publish to the stream was not acknowledged (timeout, lost connection, no stream leader); the listener republishes. */
  JETSTREAM_PUBLISH: 'ERR_JETSTREAM_PUBLISH',
  /** The stream or a message in it is not what logdaemon wrote there: other subjects, another server's journal, missing headers. */
  JETSTREAM_MISMATCH: 'ERR_JETSTREAM_MISMATCH',
  /** The next entry does not follow the stream's last message: publishing it would leave a hole. */
  JETSTREAM_GAP: 'ERR_JETSTREAM_GAP',
  /** Command-line usage error. */
  USAGE: 'ERR_USAGE',
  /** A graceful stop did not finish within `stopTimeoutMs` (a listener call that never settles). */
  STOP_TIMEOUT: 'ERR_STOP_TIMEOUT',
  /** The status server's address is in use by another process. */
  ADDRESS_IN_USE: 'ERR_ADDRESS_IN_USE',
  /** A worker thread crashed, exited or could not start: the run it served fails. */
  WORKER_FAILED: 'ERR_WORKER_FAILED',
} as const

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes]

/** Where an error happened. Every part is optional. */
export interface ErrorWhere {
  file?: string | null
  journal?: number | null
  offset?: number | null
  line?: number | null
}

export interface LogdaemonErrorOptions extends ErrorWhere {
  cause?: unknown
  /** Extra machine-readable details (missing journal numbers, …). */
  details?: Record<string, unknown>
  /**
   * Whether retrying the same call can succeed (default true). A listener
   * error with `retryable: false` (a mirror gap, a corrupt state file) fails
   * at once instead of going through the retries.
   */
  retryable?: boolean
}

export class LogdaemonError extends Error {
  readonly code: ErrorCode
  readonly file: string | null
  readonly journal: number | null
  readonly offset: number | null
  readonly line: number | null
  readonly details: Record<string, unknown>
  readonly retryable: boolean

  constructor(code: ErrorCode, message: string, options: LogdaemonErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'LogdaemonError'
    this.code = code
    this.file = options.file ?? null
    this.journal = options.journal ?? null
    this.offset = options.offset ?? null
    this.line = options.line ?? null
    this.details = options.details ?? {}
    this.retryable = options.retryable ?? true
  }

  /** `FILE: journal N, offset N, line L` (the parts that are known). */
  get where(): string {
    return formatWhere(this)
  }
}

/** Renders the known parts of a position as `FILE: journal N, offset O, line L`. */
export function formatWhere(where: ErrorWhere): string {
  const parts: string[] = []
  if (where.journal != null) parts.push(`journal ${where.journal}`)
  if (where.offset != null) parts.push(`offset ${where.offset}`)
  if (where.line != null) parts.push(`line ${where.line}`)
  const at = parts.join(', ')
  if (where.file != null) return at ? `${where.file}: ${at}` : where.file
  return at
}

export function isLogdaemonError(err: unknown): err is LogdaemonError {
  return err instanceof LogdaemonError
}

/** Narrows an unknown thrown value to an errno-style error. */
export function isErrnoException(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string'
}

/** Narrows an unknown thrown value to an Error, wrapping anything else. */
export function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}
