import type { Readable, Writable } from 'node:stream'
import pino, { type Logger } from 'pino'
import pretty from 'pino-pretty'
import { hardenLogDestination, logDestinationOptions, openLogFile, registerLogFile } from '../daemon/daemon.js'
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
  /** Signals held since the bin's first line (see early-signals.ts): `run` takes them over, other commands re-raise them. */
  early?: EarlySignals
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

import { usageError } from './cli-errors.js'
import type { EarlySignals } from './early-signals.js'
export { exitCodeOf, isBrokenPipe, messageOf, usageError } from './cli-errors.js'

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
    const dest = hardenLogDestination(openLogFile(log.file), log.file)
    return registerLogFile(pino(options, dest), dest)
  }
  if (stderr.tty) {
    return pino(options, pretty({ destination: stderr.stream ?? 2, sync: true, colorize: stderr.stream === undefined, ignore: 'pid,hostname,name' }))
  }
  return pino(options, stderr.stream ?? hardenLogDestination(pino.destination(logDestinationOptions(2)), 'standard error'))
}
