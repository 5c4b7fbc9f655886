import type { Stats } from 'node:fs'
import { ErrorCodes, isErrnoException, LogdaemonError } from '../errors.js'
import { fileKind } from '../files/if-exists.js'

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

/**
 * ERR_JOURNAL_UNREADABLE for a journal path (the live journal, an archive)
 * that is not a regular file: a FIFO, a directory, a device. Read, a FIFO
 * waited for a writer for ever (the daemon deaf to SIGTERM) and a
 * directory failed with a bare EISDIR.
 */
export function notAJournalFile(path: string, info: Stats, journal: number | null = null): LogdaemonError {
  return new LogdaemonError(
    ErrorCodes.JOURNAL_UNREADABLE,
    `${path} is not a regular file but ${fileKind(info)}: a journal is a file p4d writes; check the server's journal settings and that nothing else was put at that path`,
    { file: path, journal },
  )
}

/**
 * ERR_JOURNAL_UNREADABLE for a journal path that no file can be at: a path
 * through a file (ENOTDIR), a symlink loop (ELOOP), a name too long
 * (ENAMETOOLONG); at the start, the server root too. A setting to fix, not
 * a rotation to wait out; before, the reader stopped with the bare error.
 */
export function unreachableJournal(err: NodeJS.ErrnoException, path: string): LogdaemonError | null {
  const why =
    err.code === 'ENOTDIR'
      ? 'a file where a directory should be, or a path through one'
      : err.code === 'ELOOP'
        ? 'a loop of symlinks'
        : err.code === 'ENAMETOOLONG'
          ? 'a name too long'
          : null
  if (why === null) return null
  return new LogdaemonError(
    ErrorCodes.JOURNAL_UNREADABLE,
    `${path} cannot be reached: ${why} (${err.code}): check the server's journal settings (server.journal, server.root, server.prefix)`,
    { file: path, cause: err },
  )
}
