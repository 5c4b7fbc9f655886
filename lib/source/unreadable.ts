import { ErrorCodes, isErrnoException, LogdaemonError } from '../errors.js'

/** A journal or its directory that this process may not read now: permission denied (its mode or owner changed). */
export function isUnreadable(err: unknown): err is NodeJS.ErrnoException {
  return isErrnoException(err) && (err.code === 'EACCES' || err.code === 'EPERM')
}

/**
 * ERR_JOURNAL_UNREADABLE for such a failure when a source opens, naming
 * the path and the user: at the start it is a setup to fix (the daemon
 * stopped with a bare `EACCES … scandir`), where a running source waits a
 * spell of it out (JournalCursor.next).
 */
export function unreadableAtStart(err: NodeJS.ErrnoException, uid: number | null = process.getuid?.() ?? null): LogdaemonError {
  const path = err.path ?? 'the journals'
  const user = uid === null ? '' : ` (uid ${uid})`
  return new LogdaemonError(
    ErrorCodes.JOURNAL_UNREADABLE,
    `cannot read ${path} (${err.code}: permission denied): the journals must be readable, and their directory readable and ` +
      `searchable (r-x), by the user this runs as${user}`,
    { file: path, cause: err },
  )
}
