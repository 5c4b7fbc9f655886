#!/usr/bin/env node
import type { Writable } from 'node:stream'
import { parseOptions, renderHelp, type OptionTable } from '../lib/cli/options.js'
import { checkConfig } from '../lib/cli/check.js'
import { loadConfig } from '../lib/daemon/config.js'
import { createLogger, Daemon } from '../lib/daemon/daemon.js'
import { runDemo } from '../lib/cli/demo.js'
import { DEFAULT_CONFIG_FILE, initConfig } from '../lib/cli/init.js'
import { ErrorCodes, isErrnoException, isLogdaemonError, toError } from '../lib/errors.js'
import { VERSION } from '../lib/version.js'
import { isMain } from '../lib/cli/is-main.js'
import { sqlMain } from '../lib/cli/sql.js'

const NAME = 'logdaemon'

export const COMMANDS: Readonly<Record<string, string>> = {
  init: 'write a commented starting configuration from P4ROOT, P4JOURNAL, P4PORT, P4USER',
  check: 'validate the configuration and print the journal chain it would read, without reading it',
  run: 'run the daemon until SIGTERM or SIGINT (then finish, commit, close, exit 0)',
  demo: 'a simulated server, the daemon with mirror and print listeners, and the status page',
  sql: 'sql load --url URL CHECKPOINT: load a checkpoint into an SQL replica (logdaemon sql --help)',
}

export const OPTIONS: OptionTable = {
  config: { type: 'string', short: 'c', arg: 'FILE', help: `the configuration (init writes it; check and run read it; .mjs, .js or .json)`, default: DEFAULT_CONFIG_FILE },
  root: { type: 'string', arg: 'DIR', help: 'init: the server root, instead of $P4ROOT' },
  prefix: { type: 'string', arg: 'PREFIX', help: "init: the server's journal prefix (journalPrefix), if it has one" },
  force: { type: 'boolean', help: 'init: replace an existing configuration' },
  port: { type: 'string', arg: 'N', help: 'demo: status page port (default 4780, or a free one when taken)' },
  keep: { type: 'boolean', help: 'demo: keep the temporary server root and mirror' },
  version: { type: 'boolean', short: 'V', help: 'print the version' },
  help: { type: 'boolean', short: 'h', help: 'show this help' },
}

const USAGE = `${NAME} <${Object.keys(COMMANDS).join('|')}> [options]`
const SUMMARY = `Streams a Perforce server's journal to listeners.\n\nCommands:\n${Object.entries(COMMANDS)
  .map(([c, h]) => `  ${c.padEnd(7)}${h}`)
  .join('\n')}`

export interface MainIO {
  stdout: Writable
  stderr: Writable
  env?: NodeJS.ProcessEnv
  /**
   * Stops `run` and `demo` (first abort: graceful; the daemon is killed if
   * `kill` aborts too). Default: SIGTERM and SIGINT.
   */
  signal?: AbortSignal
  kill?: AbortSignal
}

class UsageError extends Error {}

/** Exit code for an error: 2 for usage, 1 for everything else. */
function codeOf(err: unknown): number {
  return err instanceof UsageError || (isLogdaemonError(err) && err.code === ErrorCodes.USAGE) ? 2 : 1
}

/** SIGTERM/SIGINT as two signals: the first stops gracefully, the second at once. */
/* c8 ignore start -- process signals: exercised by the tests that spawn the built bin (test/daemon/*.ts) */
function processSignals(): { signal: AbortSignal; kill: AbortSignal; dispose: () => void } {
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

/** Runs `logdaemon` and returns its exit code: 0 ok, 1 runtime, data or configuration error, 2 usage. */
export async function main(argv: readonly string[], io: MainIO): Promise<number> {
  const say = (msg: string): void => void io.stderr.write(`${NAME}: ${msg}\n`)
  if (argv[0] === 'sql') return sqlMain(argv.slice(1), io)
  let parsed
  try {
    parsed = parseOptions(argv, OPTIONS)
  } catch (err) {
    say(`${toError(err).message}\nTry '${NAME} --help'.`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help) {
    io.stdout.write(renderHelp(USAGE, SUMMARY, OPTIONS))
    return 0
  }
  if (values.version) {
    io.stdout.write(`${NAME} ${VERSION}\n`)
    return 0
  }
  const [command, ...rest] = positionals
  if (!command || !Object.hasOwn(COMMANDS, command) || rest.length) {
    say(`${!command ? 'a command is required' : rest.length ? `unexpected argument ${JSON.stringify(rest[0])}` : `unknown command ${JSON.stringify(command)}`}\nTry '${NAME} --help'.`)
    return 2
  }
  const configFile = String(values.config)
  try {
    switch (command) {
      case 'init': {
        const { file, info } = await initConfig({
          file: configFile,
          env: io.env ?? process.env,
          force: values.force === true,
          ...(typeof values.root === 'string' ? { root: values.root } : {}),
          ...(typeof values.prefix === 'string' ? { prefix: values.prefix } : {}),
        })
        io.stdout.write(`wrote ${file} for the server root ${info.root} (from: ${info.from}).\nEdit it, then: ${NAME} check -c ${configFile}\n`)
        return 0
      }
      case 'check': {
        const report = await checkConfig(configFile)
        io.stdout.write(report.text)
        return report.problems.length ? 1 : 0
      }
      case 'run':
        return await run(configFile, io, say)
      case 'demo':
        return await demo(values.port, values.keep === true, io)
    }
  } catch (err) {
    say(isLogdaemonError(err) ? err.message : isErrnoException(err) ? `${err.path ? `${err.path}: ` : ''}${err.message}` : String(err))
    return codeOf(err)
  }
  /* c8 ignore next -- every command returns above */
  return 2
}

async function run(configFile: string, io: MainIO, say: (msg: string) => void): Promise<number> {
  const config = await loadConfig(configFile)
  const logger = createLogger(config.log)
  const signals = io.signal ? null : processSignals()
  const stop = io.signal ?? signals!.signal
  const kill = io.kill ?? signals?.kill
  const daemon = new Daemon(config, { logger, signal: stop })
  kill?.addEventListener('abort', () => daemon.kill(), { once: true })
  try {
    await daemon.start()
    await daemon.done
    return 0
  } catch (err) {
    say(toError(err).message)
    return 1
  } finally {
    signals?.dispose()
  }
}

async function demo(portText: unknown, keep: boolean, io: MainIO): Promise<number> {
  let port: number | undefined
  if (typeof portText === 'string') {
    port = Number(portText)
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be a port number (got ${JSON.stringify(portText)})`)
  }
  const signals = io.signal ? null : processSignals()
  try {
    const summary = await runDemo({ stdout: io.stdout, stderr: io.stderr, signal: io.signal ?? signals!.signal, keep, ...(port !== undefined ? { port } : {}) })
    return summary.mirrorIdentical ? 0 : 1
  } finally {
    signals?.dispose()
  }
}

/* c8 ignore start -- runs only as the built bin, which the spawn tests cover */
if (isMain(import.meta.url)) {
  // A closed stdout must not crash the process: a print listener on it sees the error and fails
  // (the daemon then stops with ERR_LISTENER_FAILED and exit code 1).
  process.stdout.on('error', () => {})
  process.exitCode = await main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr })
}
/* c8 ignore stop */
