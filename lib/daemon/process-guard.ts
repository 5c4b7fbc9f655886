import { pathToFileURL } from 'node:url'
import type { Logger } from 'pino'

/** What `run` needs from the process: the two stop signals, and a way to give the process back. */
export interface ProcessGuard {
  /** Aborted by the first SIGTERM or SIGINT: stop gracefully. */
  readonly signal: AbortSignal
  /** Aborted by the second: stop at once. */
  readonly kill: AbortSignal
  /**
   * Removes the handlers and gives `process.exit` back. With the exit code
   * decided, a SIGTERM, SIGINT, SIGHUP or SIGUSR2 from then on ends the
   * process with it at once: the exit is under way, and the signal's
   * default (143, 130, 129, 140) would have turned a clean stop into an
   * unclean one.
   */
  dispose(exitCode?: number): void
}

export interface ProcessGuardOptions {
  logger: Logger
  /** SIGHUP: reopen the log file. Returns whether there was one to reopen; a throw (it cannot be opened) is logged, never fatal. */
  onHangup: () => boolean
  /** The process (tests pass an EventEmitter-like stand-in). Default `process`. */
  proc?: NodeJS.Process
  /**
   * Called once the guard listens: the signals that came before (the bin
   * holds them while it loads, see lib/cli/early-signals.ts), taken as if
   * they came now.
   */
  held?: () => readonly NodeJS.Signals[]
  /** The configuration file: an uncaught exception thrown from it is logged without its message (it may quote the file). */
  configFile?: string
}

/**
 * The daemon's hold on the process while `logdaemon run` runs:
 *
 * - SIGTERM and SIGINT: the first stops gracefully, the second at once;
 *   each is logged.
 * - SIGHUP: reopens the log file (`log.file`) after logrotate moved it;
 *   logged, never fatal (Node's default for SIGHUP is to die silently).
 * - SIGUSR1 and SIGUSR2: logged and ignored. Node's default for SIGUSR1 is
 *   to open its inspector on 127.0.0.1:9229, where any local user could
 *   connect and run code as the daemon's user; for SIGUSR2 it is to die
 *   silently, without the final commit. A listener on each takes them over.
 * - `process.exit()` called by anything else (a listener) is logged with
 *   the caller's stack before the process exits.
 * - An uncaught exception is logged (fatal) before the process exits 1.
 */
/** The signals that, once the exit code is decided, end the process with it (SIGUSR1 stays ignored: lib/cli/early-signals.ts). */
const LATE: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR2']

export function guardProcess(options: ProcessGuardOptions): ProcessGuard {
  const { logger } = options
  const proc = options.proc ?? process
  const stop = new AbortController()
  const kill = new AbortController()
  const onStop = (sig: NodeJS.Signals): void => {
    if (!stop.signal.aborted) {
      logger.info({ signal: sig }, `${sig}: stopping gracefully (finishing the entries in hand, then committing); a second signal stops at once`)
      stop.abort()
    } else if (!kill.signal.aborted) {
      logger.warn({ signal: sig }, `${sig} again: stopping at once, without the final commit`)
      kill.abort()
    }
  }
  const onHup = (): void => {
    let reopened: boolean
    try {
      reopened = options.onHangup()
    } catch (err) {
      // Never fatal: a log file that cannot be reopened (its directory gone, not writable) ended the daemon as an uncaught exception.
      const message = err instanceof Error ? err.message : String(err)
      logger.error(
        { signal: 'SIGHUP', err },
        `SIGHUP: the log file cannot be reopened (${message}); logging goes on to the file open before. Fix it, then send SIGHUP again`,
      )
      return
    }
    logger.info({ signal: 'SIGHUP' }, reopened ? 'SIGHUP: log file reopened' : 'SIGHUP: no log file to reopen (log.file is not set); ignored')
  }
  const onUser = (sig: NodeJS.Signals): void => {
    logger.warn({ signal: sig }, `${sig}: ignored (logdaemon opens no debugger on a signal; SIGTERM stops it)`)
  }
  const realExit = proc.exit
  const exit = function exitCalled(code?: number | string | null): never {
    const stack = new Error('process.exit called').stack?.split('\n').slice(2, 8).join('\n')
    logger.error(
      { exitCode: code ?? proc.exitCode ?? 0, stack },
      `process.exit(${code ?? ''}) was called while the daemon was running (by a listener?): exiting without the final commit; the next start resumes from the last one`,
    )
    return realExit.call(proc, code)
  }
  const configUrl = options.configFile ? pathToFileURL(options.configFile).href : null
  const onUncaught = (err: unknown, origin?: string): void => {
    const what = origin === 'unhandledRejection' ? 'unhandled rejection' : 'uncaught exception'
    const stack = err instanceof Error ? (err.stack ?? '') : ''
    if (!(err instanceof Error) || (configUrl !== null && stack.includes(configUrl))) {
      // From the configuration (a stray promise in it), or not an Error: its message or value may quote the file (secrets).
      const kind = err instanceof Error && /^[A-Z]\w*$/.test(err.name) ? err.name : typeof err
      const frames = stack
        .split('\n')
        .filter((line) => /^\s+at /.test(line))
        .map((line) => line.trim())
      logger.fatal(
        { kind, frames },
        `${what} (${kind}; its message is not shown: it may quote the configuration); exiting with code 1 without the final commit`,
      )
    } else logger.fatal({ err }, `${what}: ${err.message}; exiting with code 1 without the final commit`)
    realExit.call(proc, 1)
  }
  proc.on('SIGTERM', onStop)
  proc.on('SIGINT', onStop)
  proc.on('SIGHUP', onHup)
  proc.on('SIGUSR1', onUser)
  proc.on('SIGUSR2', onUser)
  proc.on('uncaughtException', onUncaught)
  proc.exit = exit
  for (const sig of options.held?.() ?? []) {
    logger.info({ signal: sig }, `${sig} came while logdaemon was starting`)
    if (sig === 'SIGTERM' || sig === 'SIGINT') onStop(sig)
    else if (sig === 'SIGHUP') onHup()
    else onUser(sig)
  }
  return {
    signal: stop.signal,
    kill: kill.signal,
    dispose: (exitCode) => {
      if (exitCode !== undefined) {
        const onLate = (): void => void realExit.call(proc, exitCode)
        for (const sig of LATE) proc.on(sig, onLate)
      }
      proc.off('SIGTERM', onStop)
      proc.off('SIGINT', onStop)
      proc.off('SIGHUP', onHup)
      proc.off('SIGUSR1', onUser)
      proc.off('SIGUSR2', onUser)
      proc.off('uncaughtException', onUncaught)
      if (proc.exit === exit) proc.exit = realExit
    },
  }
}
