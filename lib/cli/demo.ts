import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import pino, { type Logger } from 'pino'
import { ErrorCodes, isErrnoException, isLogdaemonError } from '../errors.js'
import { comparePositions } from '../position.js'
import { MirrorListener } from '../listeners/builtin/mirror/mirror.js'
import { PrintListener } from '../listeners/builtin/print/print.js'
import { SimulatedP4d } from '../sim/simulated-p4d.js'
import { parseConfig, DEFAULT_STATUS_PORT } from '../daemon/config.js'
import { Daemon, journalFileMode } from '../daemon/daemon.js'
import { createCliLogger, logLevelOf, LOG_LEVEL_OPTION, processSignals, usageError, type Command } from './command.js'

export interface DemoOptions {
  stdout: Writable
  stderr: Writable
  /** Stops the demo (Ctrl-C). */
  signal: AbortSignal
  /** Status page port. Default 4780, or any free port when that one is taken. */
  port?: number
  /** Pause between transactions, ms. Default 500. */
  intervalMs?: number
  /** Rotation period, ms. Default 20000. */
  rotateEveryMs?: number
  /** Keep the temporary server root at the end. */
  keep?: boolean
  seed?: number
  /** The daemon's logger. Default: warnings and errors as JSON on standard error. */
  logger?: Logger
}

/** What the demo did, for its last lines and for tests. */
export interface DemoSummary {
  dir: string
  statusUrl: string | null
  transactions: number
  rotations: number
  /** Whether every mirrored journal equals what the simulated server wrote. */
  mirrorIdentical: boolean
}

/**
 * `logdaemon demo`: a temporary server root, a simulated p4d writing
 * transactions and rotating every ~20 s (rename, then gzip), and the
 * daemon on it with the mirror listener, a print listener (submitted
 * changes as NDJSON on standard output) and the status page. Runs until
 * `signal`; then stops the server, lets the daemon catch up and stop, and
 * checks the mirror against what the server wrote.
 */
export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const say = (line: string): void => void options.stderr.write(`logdaemon demo: ${line}\n`)
  const dir = await mkdtemp(join(tmpdir(), 'logdaemon-demo-'))
  const root = join(dir, 'root')
  const sim = new SimulatedP4d({ root, seed: options.seed ?? Date.now() % 100_000, rotateMode: 'rename-gzip' })
  await sim.restart() // p4d writes a restart note when it starts: the live journal exists before the daemon looks
  // As `run` makes it: the mirror's journals take the live journal's mode.
  const fileMode = await journalFileMode({ root })
  const mirror = new MirrorListener({ dir: join(dir, 'mirror'), fsync: true, fileMode })
  const print = new PrintListener({ format: 'json', output: options.stdout, table: ['db.change'], op: [], encoding: 'utf8' }, 'print')
  const logger = options.logger ?? pino({ level: 'warn', base: { name: 'logdaemon' } }, pino.destination({ dest: 2, sync: true }))
  const start = async (port: number): Promise<Daemon> => {
    const config = await parseConfig(
      {
        server: { root },
        from: sim.currentJournal,
        state: 'logdaemon.state.json',
        quietMs: 2000,
        status: { port },
        listeners: [{ type: 'mirror', options: { dir: 'mirror' } }, { type: 'print' }],
      },
      { baseDir: dir },
    )
    const daemon = new Daemon(config, { logger, listeners: [mirror, print] })
    await daemon.start()
    return daemon
  }
  let daemon: Daemon
  try {
    try {
      daemon = await start(options.port ?? DEFAULT_STATUS_PORT)
    } catch (err) {
      // The default port taken (the status server says so with ERR_ADDRESS_IN_USE): any free one, as --help says.
      const inUse = (isLogdaemonError(err) && err.code === ErrorCodes.ADDRESS_IN_USE) || (isErrnoException(err) && err.code === 'EADDRINUSE')
      if (options.port !== undefined || !inUse) throw err
      daemon = await start(0)
    }
  } catch (err) {
    // Nothing to look at: the files of a demo that did not start go too.
    await sim.close().catch(() => {})
    await rm(dir, { recursive: true, force: true })
    throw err
  }
  say(
    `server root ${root} (a simulated p4d: a transaction every ${options.intervalMs ?? 500} ms, rotation every ${Math.round((options.rotateEveryMs ?? 20_000) / 1000)} s)`,
  )
  say(`mirror in ${join(dir, 'mirror')}; submitted changes (db.change records) follow as NDJSON`)
  say(`status page: ${daemon.statusUrl}`)
  say('Ctrl-C stops everything')

  const stopSim = new AbortController()
  options.signal.addEventListener('abort', () => stopSim.abort(), { once: true })
  if (options.signal.aborted) stopSim.abort()
  daemon.done.catch(() => stopSim.abort())
  const run = await sim.run({
    intervalMs: options.intervalMs ?? 500,
    rotateEveryMs: options.rotateEveryMs ?? 20_000,
    signal: stopSim.signal,
    restartNote: false,
    // Passed on purpose: SimulatedP4d.run() evaluates the append inside `onAppend?.(…)`, so without a callback it appends nothing.
    onAppend: () => {},
    onRotate: (r) => say(`the server rotated journal ${r.journal} (${r.mode}); the daemon follows`),
  })
  await sim.close()
  // Let the daemon read to the end of what the server wrote (a few seconds at most), then stop it.
  const end = { journal: sim.currentJournal, offset: sim.liveSize }
  for (let i = 0; i < 100 && !isFailed(daemon); i++) {
    const committed = daemon.chain?.committed
    if (committed && comparePositions(committed, end) >= 0) break
    await sleep(50)
  }
  await daemon.stop()
  let failed: Error | null = null
  await daemon.done.catch((err: Error) => (failed = err))
  let identical = failed === null
  for (const n of sim.journals) {
    const got = await readFile(mirror.fileOf(n)).catch(() => Buffer.alloc(0))
    if (!got.equals(sim.journalBytes(n))) identical = false
  }
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`
  say(
    `stopped: ${plural(run.transactions, 'transaction')}, ${plural(run.rotations, 'rotation')}; mirror byte-identical to the journals: ${identical ? 'yes' : 'no'}`,
  )
  if (options.keep) say(`kept ${dir}`)
  else await rm(dir, { recursive: true, force: true })
  if (failed) throw failed
  return { dir, statusUrl: daemon.statusUrl, transactions: run.transactions, rotations: run.rotations, mirrorIdentical: identical }
}

function isFailed(daemon: Daemon): boolean {
  return daemon.chain?.destroyed === true
}

/** `logdaemon demo`. */
export const demoCommand: Command = {
  brief: 'a simulated server, the daemon with mirror and print listeners, and the status page',
  usage: 'logdaemon demo [--port N] [--keep] [--log-level LEVEL]',
  summary:
    'Starts a simulated Perforce server in a temporary directory, runs the daemon on it with a mirror\n' +
    'and a print listener (the db.change records, as JSON on standard output) and serves the status\n' +
    'page. Ctrl-C stops it; the exit code is 0 when the mirror is byte-identical to the journals.',
  options: {
    port: { type: 'string', arg: 'N', help: `status page port (default ${DEFAULT_STATUS_PORT}, or a free one when taken)` },
    keep: { type: 'boolean', help: 'keep the temporary server root and mirror' },
    'log-level': LOG_LEVEL_OPTION,
  },
  examples: [
    ['logdaemon demo', 'watch the status page at http://127.0.0.1:4780/'],
    ['logdaemon demo --port 0 --keep', 'any free port; keep the files to look at afterwards'],
  ],
  async run(values, io) {
    let port: number | undefined
    if (typeof values.port === 'string') {
      port = Number(values.port)
      if (values.port.trim() === '' || !Number.isInteger(port) || port < 0 || port > 65535) {
        throw usageError(`--port must be a port number (got ${JSON.stringify(values.port)})`)
      }
    }
    const level = logLevelOf(values, io.env ?? process.env) ?? 'warn'
    const logger = createCliLogger({ level }, { tty: io.stderrIsTTY === true, ...(io.stderr !== process.stderr ? { stream: io.stderr } : {}) })
    const signals = io.signal ? null : processSignals()
    try {
      const summary = await runDemo({
        stdout: io.stdout,
        stderr: io.stderr,
        signal: io.signal ?? signals!.signal,
        keep: values.keep === true,
        logger,
        ...(port !== undefined ? { port } : {}),
      })
      return summary.mirrorIdentical ? 0 : 1
    } finally {
      signals?.dispose()
    }
  },
}
