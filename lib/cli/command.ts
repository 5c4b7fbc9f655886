import type { Readable, Writable } from 'node:stream'
import pino, { type Logger } from 'pino'
import pretty from 'pino-pretty'
import { ErrorCodes, LogdaemonError, isErrnoException, isLogdaemonError } from '../errors.js'
import { registerLogFile } from '../daemon/daemon.js'
import type { OptionTable, ParsedValues, HelpText } from './options.js'

/** What a command reads and writes: the process's by default, fakes in tests. */
export interface CliIO {
  stdin?: Readable
  stdout: Writable
  stderr: Writable
  /** The environment (P4ROOT, LOGDAEMON_LOG_LEVEL, …). Default process.env. */
  env?: NodeJS.ProcessEnv
  /** Whether stderr is a terminal: logs are then pretty-printed, and logdaemon-cat shows progress. */
  stderrIsTTY?: boolean
  /**
   * Stops `run`, `demo` and `logdaemon-cat --follow` (first abort: graceful;
   * the daemon is killed if `kill` aborts too). Default: SIGTERM and SIGINT.
   */
  signal?: AbortSignal
  kill?: AbortSignal
  /** Ends the process at once (the built bin: process.exit), when `run` must not wait for listener calls that never settle. */
  exit?: (code: number) => void
}

/** One subcommand of `logdaemon`: its options, its help and what it does. */
export interface Command extends HelpText {
  /** One line for the list of commands. */
  brief: string
  options: OptionTable
  /** How many arguments the command takes after its name (default none). */
  maxArgs?: number
  /** Runs the command; resolves to the exit code (0 ok, 1 failure, 2 usage). */
  run(values: ParsedValues, io: CliIO, say: (msg: string) => void, args: readonly string[]): Promise<number>
}

/** A usage error (exit code 2). */
export function usageError(message: string): LogdaemonError {
  return new LogdaemonError(ErrorCodes.USAGE, message)
}

/** Exit code for an error: 2 for usage, 1 for everything else. */
export function exitCodeOf(err: unknown): number {
  return isLogdaemonError(err) && err.code === ErrorCodes.USAGE ? 2 : 1
}

/** One line for the operator: the error's own message, with the path for a system error. */
export function messageOf(err: unknown): string {
  if (isLogdaemonError(err)) return err.message
  if (isErrnoException(err)) return `${err.path ? `${err.path}: ` : ''}${err.message}`
  return err instanceof Error ? err.message : String(err)
}

/** Whether an error is the reader going away (`| head`): not a failure. */
export function isBrokenPipe(err: unknown): boolean {
  return isErrnoException(err) && (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED')
}

/** SIGTERM/SIGINT as two signals: the first stops gracefully, the second at once. */
/* c8 ignore start -- process signals: exercised by the tests that spawn the built bins */
export function processSignals(): { signal: AbortSignal; kill: AbortSignal; dispose: () => void } {
  const stop = new AbortController()
  const kill = new AbortController()
  const on = (): void => {
    if (stop.signal.aborted) kill.abort()
    else stop.abort()
  }
  process.on('SIGTERM', on)
  process.on('SIGINT', on)
  return { signal: stop.signal, kill: kill.signal, dispose: () => void process.off('SIGTERM', on).off('SIGINT', on) }
}
/* c8 ignore stop */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

/** The `--log-level` option of the commands that log. */
export const LOG_LEVEL_OPTION = {
  type: 'string',
  arg: 'LEVEL',
  help: 'log level, over $LOGDAEMON_LOG_LEVEL and the configuration',
  choices: LOG_LEVELS,
} as const

/** The log level asked for on the command line or in LOGDAEMON_LOG_LEVEL, if any (ERR_USAGE for a bad one). */
export function logLevelOf(values: ParsedValues, env: NodeJS.ProcessEnv): string | undefined {
  if (typeof values['log-level'] === 'string') return values['log-level']
  const fromEnv = env.LOGDAEMON_LOG_LEVEL
  if (fromEnv === undefined || fromEnv === '') return undefined
  if (!(LOG_LEVELS as readonly string[]).includes(fromEnv)) {
    throw usageError(`LOGDAEMON_LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')} (got ${JSON.stringify(fromEnv)})`)
  }
  return fromEnv
}

/**
 * The command-line logger: to `file` as JSON lines when one is given; else
 * to standard error, pretty-printed for a person when it is a terminal and
 * JSON lines for a log collector when it is not. Synchronous writes: logs
 * are rare, and none is lost at exit.
 */
export function createCliLogger(log: { level: string; file?: string }, stderr: { tty: boolean; stream?: Writable }): Logger {
  const options = { level: log.level, base: { name: 'logdaemon' } }
  if (log.file !== undefined) {
    // Remembered so that SIGHUP can reopen it after logrotate moved it (docs/operations.md).
    const dest = pino.destination({ dest: log.file, sync: true, mkdir: true })
    return registerLogFile(pino(options, dest), dest)
  }
  if (stderr.tty) {
    return pino(options, pretty({ destination: stderr.stream ?? 2, sync: true, colorize: stderr.stream === undefined, ignore: 'pid,hostname,name' }))
  }
  return pino(options, stderr.stream ?? pino.destination({ dest: 2, sync: true }))
}
