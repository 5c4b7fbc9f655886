import { ErrorCodes, LogdaemonError, isErrnoException, isLogdaemonError } from '../errors.js'

/*
 * The error helpers every command uses, apart from command.ts (which loads
 * the logger and the daemon): logdaemon-cat imports only these, and starts
 * a quarter of a second sooner for it (measured with --version).
 */

/** A usage error (exit code 2). */
export function usageError(message: string): LogdaemonError {
  return new LogdaemonError(ErrorCodes.USAGE, message)
}

/** Exit code for an error: 2 for usage, 1 for everything else. */
export function exitCodeOf(err: unknown): number {
  return isLogdaemonError(err) && err.code === ErrorCodes.USAGE ? 2 : 1
}

/**
 * One line for the operator: the error's own message, then its stable code
 * in brackets (`[ERR_JOURNAL_MALFORMED]`, what a script matches on; not for
 * a usage error, whose line says to try --help), with the path for a
 * system error (whose message starts with its code, `ENOENT: …`).
 */
export function messageOf(err: unknown): string {
  if (isLogdaemonError(err)) return err.code === ErrorCodes.USAGE ? err.message : `${err.message} [${err.code}]`
  if (isErrnoException(err)) return `${err.path ? `${err.path}: ` : ''}${err.message}`
  return err instanceof Error ? err.message : String(err)
}

/** Whether an error is the reader going away (`| head`): not a failure. */
export function isBrokenPipe(err: unknown): boolean {
  return isErrnoException(err) && (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED')
}
