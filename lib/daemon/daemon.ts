import { closeSync, mkdirSync, openSync, statSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { stat } from 'node:fs/promises'
import type { Readable } from 'node:stream'
import { finished } from 'node:stream/promises'
import pino, { type Logger } from 'pino'
import { ErrorCodes, LogdaemonError, isErrnoException, isLogdaemonError, toError } from '../errors.js'
import { heldFifoWriter } from '../files/file-output.js'
import { journalGapError } from '../files/journal-set.js'
import { liveJournalPath } from '../files/journal-name.js'
import { formatPosition, type JournalPosition } from '../position.js'
import { PRIVATE_FILE_MODE } from '../files/atomic-write.js'
import { isBuiltinListenerType, loadBuiltin, type BuiltinContext } from '../listeners/builtin/index.js'
import type { Listener } from '../listeners/listener.js'
import { ListenerChain, type ListenerSpec } from '../listeners/listener-chain.js'
import { isStopping } from '../listeners/listener-call.js'
import { loadListener, withName } from '../listeners/load-listener.js'
import type { DaemonConfig, ListenerConfig } from './config.js'
import { RotatingJournalSource } from '../source/rotating-journal-source.js'
import type { JetStreamStateAhead } from '../source/jetstream/jetstream-journal-source.js'
import { createSource, describeSource, type DaemonSource, type DaemonStart } from './daemon-source.js'
import { consumerStatePath } from './source-config.js'
import { StatusServer } from '../status/status-server.js'
import { StatusTracker } from '../status/status-tracker.js'
import { journalSizes } from '../files/journal-sizes.js'
import { CallWatch, describePending } from './call-watch.js'

/** Resolves once a stream has emitted `close` (whether or not it failed). */
function closed(stream: Readable): Promise<void> {
  if (stream.closed) return Promise.resolve()
  return new Promise((resolve) => stream.once('close', () => resolve()))
}

/**
 * How often the journals on disk are measured for the status page, ms. The
 * timer is also the daemon's heartbeat: it keeps the process alive while
 * the daemon runs, even when a listener waits on a promise that holds no
 * handle (without it Node would end with exit code 13, "unsettled
 * top-level await", and no message).
 */
const MEASURE_EVERY_MS = 1000

export interface DaemonOptions {
  /** The logger. Default: pino at `config.log.level`, to `config.log.file` or standard error. */
  logger?: Logger
  /** Aborting it stops the daemon as `stop()` does. */
  signal?: AbortSignal
  /** Listeners to use instead of creating them from the configuration (tests, embedding). */
  listeners?: readonly Listener[]
  /**
   * One-shot catch-up (`logdaemon run --until-caught-up`): stop gracefully,
   * committing everything read, once the live journal is reached and has been
   * quiet for `quietMs`. `done` then resolves and `caughtUp` is true.
   */
  untilCaughtUp?: boolean
}

/** The file destinations of the loggers createLogger (and the CLI's logger) made, for reopenLogFile. */
const logFiles = new WeakMap<Logger, { reopen(): void; file?: string }>()

/**
 * Log lines a destination that cannot write (a full disk, an I/O error)
 * keeps at most, in bytes; past it new lines are dropped until it writes
 * again. Logs are rare: this is minutes of them.
 */
export const LOG_BUFFER_MAX_BYTES = 1024 * 1024

/** What a pino destination (SonicBoom) offers that hardenLogDestination needs. */
interface LogDestination {
  on(event: 'error', listener: (err: Error) => void): unknown
}

/**
 * A log destination whose write fails (ENOSPC on the log's disk, EIO)
 * never ends the daemon: without a listener, SonicBoom emits the error as
 * an unhandled 'error' event, which threw out of whatever called the
 * logger (a commit, a signal handler) and ended the process with Node's
 * stack trace, no `exiting with code` line and no final commit (a probe:
 * the log's disk filled, the daemon died, and its restart died at its
 * first line). The lines are kept (up to LOG_BUFFER_MAX_BYTES) and written
 * once the destination takes them again. The first failure of each kind
 * is said on standard error (`report`) when the log is a file, since the
 * log cannot say it.
 */
export function hardenLogDestination<D extends LogDestination>(
  dest: D,
  what: string,
  report: (line: string) => void = what === 'standard error' ? () => {} : defaultReport,
): D {
  let reported: string | null = null
  dest.on('error', (err: Error) => {
    const code = (err as NodeJS.ErrnoException).code ?? err.message
    if (reported === code) return
    reported = code
    report(`logdaemon: cannot write the log (${what}): ${err.message}; the daemon goes on, log lines wait (up to 1 MiB) until it can`)
  })
  return dest
}

function defaultReport(line: string): void {
  try {
    // Not process.stderr: a failed write there is an 'error' event of its own, unhandled.
    writeSync(2, `${line}\n`)
  } catch {
    // Standard error is gone too: nothing can say it.
  }
}

/** The options of a pino file (or descriptor) destination: synchronous writes (logs are rare; none is lost at exit), bounded. */
export function logDestinationOptions(dest: string | number): { dest: string | number; sync: true; mkdir: boolean; maxLength: number } {
  return { dest, sync: true, mkdir: typeof dest === 'string', maxLength: LOG_BUFFER_MAX_BYTES }
}

/** Remembers that `logger` writes to the file destination `dest`, so that reopenLogFile (SIGHUP) can reopen it. */
export function registerLogFile(logger: Logger, dest: { reopen(): void; file?: string | null }): Logger {
  logFiles.set(logger, { reopen: () => dest.reopen(), ...(typeof dest.file === 'string' ? { file: dest.file } : {}) })
  return logger
}

/**
 * What keeps `log.file` from being opened for the log, or null: a
 * directory, or a path that cannot be looked at. The directory is made when
 * missing, as the log's opening does. A FIFO is not opened here: closing a
 * writer that looked would end the file for its reader (`logdaemon check`
 * runs this before `run`); `openLogFile` looks as it opens.
 */
export function logFileProblem(file: string): string | null {
  try {
    return statSync(file).isDirectory() ? 'is a directory' : null
  } catch (err) {
    return isErrnoException(err) && err.code === 'ENOENT' ? null : `cannot be looked at (${toError(err).message})`
  }
}

/**
 * The pino destination of `log.file`: ERR_CONFIG_INVALID naming the key
 * when it cannot be opened (a directory, a FIFO that nothing reads, no
 * write permission), where run stopped with the bare system error. A FIFO
 * is opened for writing without waiting first: the log is opened
 * synchronously, and a FIFO that nothing read held the main thread in
 * `open()` for ever, deaf to SIGTERM (a probe). That writer is held until
 * the log's own is open, so that the reader sees no end of file between.
 */
export function openLogFile(file: string): ReturnType<typeof pino.destination> {
  const refused = (why: string): LogdaemonError =>
    new LogdaemonError(ErrorCodes.CONFIG_INVALID, `log.file: ${file} ${why}`, { file, details: { key: 'log.file' } })
  const problem = logFileProblem(file)
  if (problem) throw refused(problem)
  let held: number | null
  try {
    held = heldFifoWriter(file)
  } catch (err) {
    throw refused(
      isErrnoException(err) && err.code === 'ENXIO' ? 'is a FIFO that nothing reads: start its reader first' : `cannot be opened (${toError(err).message})`,
    )
  }
  try {
    return pino.destination(logDestinationOptions(file))
  } catch (err) {
    throw refused(`cannot be opened for writing (${toError(err).message})`)
  } finally {
    if (held !== null) closeSync(held)
  }
}

/** Makes the logger the configuration asks for: pino, synchronous writes (logs are rare; none is lost at exit). */
export function createLogger(log: DaemonConfig['log']): Logger {
  const dest = hardenLogDestination(log.file ? openLogFile(log.file) : pino.destination(logDestinationOptions(2)), log.file ?? 'standard error')
  const logger = pino({ level: log.level, base: { name: 'logdaemon' } }, dest)
  if (log.file) registerLogFile(logger, dest)
  return logger
}

/**
 * Reopens the log file of a logger createLogger made (SIGHUP after
 * logrotate); false when it logs to standard error. Throws the system's
 * error when the file cannot be opened (its directory gone or not
 * writable, a full disk): the logger goes on writing to the file it had
 * open.
 */
export function reopenLogFile(logger: Logger): boolean {
  const dest = logFiles.get(logger)
  if (!dest) return false
  // Opened here first: a failed SonicBoom reopen leaves a listener behind that closes the old descriptor a second time
  // at the next reopen that succeeds (EBADF, or another file's descriptor if its number was taken meanwhile).
  if (dest.file !== undefined) {
    mkdirSync(dirname(dest.file), { recursive: true })
    closeSync(openSync(dest.file, 'a'))
  }
  dest.reopen()
  return true
}

/**
 * The mode files holding journal content are created with: the live
 * journal's permission bits (read and write only), else 0600 (also on a
 * host that reads a JetStream stream and has no journal).
 */
export async function journalFileMode(server: DaemonConfig['server']): Promise<number> {
  if (!server) return PRIVATE_FILE_MODE
  try {
    return (await stat(liveJournalPath(server))).mode & 0o666
  } catch {
    return PRIVATE_FILE_MODE
  }
}

/** Creates the listeners a configuration names, built-in or custom. */
export async function createListeners(config: DaemonConfig): Promise<ListenerSpec[]> {
  const specs: ListenerSpec[] = []
  const journalMode = await journalFileMode(config.server)
  try {
    for (const l of config.listeners) {
      const listener = await createListener(l, config.baseDir, journalMode, config.server, config.state)
      specs.push({ listener, ...(l.retry ? { retry: l.retry } : {}) })
    }
  } catch (err) {
    // Release what the listeners made so far hold (connections, files).
    await closeAll(specs)
    throw err
  }
  return specs
}

/** Closes listeners made (errors ignored: they are being let go). */
async function closeAll(specs: readonly { listener: Listener }[]): Promise<void> {
  // A close() that throws at once is ignored like one that rejects: the error being reported is the start's.
  await Promise.all(specs.map(async (s) => s.listener.close()).map((closing) => closing.catch(() => {})))
}

/** What a step of Daemon.start gives when the stop came first. */
const STOPPED: unique symbol = Symbol('stopped')

async function createListener(l: ListenerConfig, baseDir: string, journalMode: number, server: DaemonConfig['server'], statePath: string): Promise<Listener> {
  if (l.type === 'module') {
    if (l.module === undefined) throw new LogdaemonError(ErrorCodes.CONFIG_INVALID, `listener "${l.name}" has type module but no module`)
    return loadListener(l.module, { name: l.name, options: l.options, baseDir })
  }
  if (!isBuiltinListenerType(l.type)) {
    throw new LogdaemonError(ErrorCodes.CONFIG_INVALID, `listener "${l.name}": unknown type ${JSON.stringify(l.type)}`)
  }
  const mod = await loadBuiltin(l.type)
  const create = mod.create as (options: unknown, context: BuiltinContext) => Listener | Promise<Listener>
  return withName(await create(l.options, { name: l.name, baseDir, journalMode, ...(server ? { server } : {}), statePath }), l.name)
}

/** A gap error says "set `from: N`" to the daemon's operator: `run` takes no --from. */
function inDaemonWords(err: unknown): unknown {
  if (!isLogdaemonError(err) || err.code !== ErrorCodes.JOURNAL_GAP) return err
  const d = err.details as { missing?: number[]; from?: number; live?: number } | undefined
  if (!d?.missing || d.from === undefined || d.live === undefined) return err
  return journalGapError(d.missing, d.from, d.live, 'config')
}

/**
 * The daemon: the rotating source, the listener chain, the status tracker
 * and server, wired together. `start()` resolves once reading has begun
 * (the start point is checked and the status server listens); `done`
 * settles when the daemon has stopped: resolved after `stop()`, rejected
 * with the error that stopped it otherwise.
 *
 * `stop()` is the graceful stop of SIGTERM: stop reading, let listeners
 * finish the entries they have, sync, commit, save the state, close. A
 * listener whose call is being retried (or that has not opened yet) is not
 * waited for: its retries end at once (ListenerWritable.stopRetrying), a
 * warning names it, and nothing after the last commit is committed; the
 * stop still resolves (exit 0).
 */
export class Daemon {
  readonly config: DaemonConfig
  readonly tracker: StatusTracker
  readonly logger: Logger
  readonly #options: DaemonOptions
  #source: DaemonSource | null = null
  #chain: ListenerChain | null = null
  #server: StatusServer | null = null
  #sizeTimer: NodeJS.Timeout | null = null
  #stopping: Promise<void> | null = null
  #failure: Error | null = null
  #settled = false
  #stopTimer: NodeJS.Timeout | null = null
  /** What the stop is waiting for now (for the message of a stop that times out). */
  #stopPhase: 'listeners' | 'state' | 'source' | 'status' | null = null
  /** Set once a stop cancelled the listeners' retries: their calls ended that way are not failures. */
  #retriesCancelled = false
  readonly #calls = new CallWatch()
  /** True once `untilCaughtUp` saw the live journal reached and quiet. */
  caughtUp = false
  #settle!: { resolve: () => void; reject: (err: Error) => void }
  /** Settles when the daemon has stopped. */
  readonly done: Promise<void>
  /** The status page's URL once listening, or null. */
  statusUrl: string | null = null
  /** Where reading started (null: an empty stream). */
  startPoint: DaemonStart = null

  constructor(config: DaemonConfig, options: DaemonOptions = {}) {
    this.config = config
    this.#options = { ...options }
    this.logger = options.logger ?? createLogger(config.log)
    this.tracker = new StatusTracker({ health: config.health })
    this.done = new Promise<void>((resolve, reject) => (this.#settle = { resolve, reject }))
    this.done.catch(() => {}) // the caller awaits it; never an unhandled rejection
  }

  get source(): DaemonSource | null {
    return this.#source
  }

  get chain(): ListenerChain | null {
    return this.#chain
  }

  /** Starts reading. Rejects (and leaves nothing running) when the start point, a listener or the status server fails. */
  async start(): Promise<void> {
    const c = this.config
    const log = this.logger
    const created = this.#options.listeners
      ? this.#options.listeners.map((listener) => ({ listener }))
      : await this.#unlessStopped(createListeners(c), 'creating the listeners', (made) => closeAll(made))
    if (created === STOPPED) return
    // Watched, so that a stop that times out can say which call it waited on.
    const specs = created.map((s) => ({ ...s, listener: this.#calls.wrap(s.listener) }))
    const source = createSource(c)
    this.#source = source
    // A jetstream source waits for its stream and retries failed pulls: say so.
    source.on('retry', (r: { err: Error; retriesLeft: number }) =>
      log.warn({ err: r.err.message, retriesLeft: r.retriesLeft }, 'reading the stream failed; retrying'),
    )
    source.on('stateAhead', (a: JetStreamStateAhead) =>
      log.warn(
        {
          saved: formatPosition(a.saved),
          savedAt: a.savedAt,
          acknowledged: a.acknowledged,
          streamCreated: a.streamCreated,
          savedStreamCreated: a.savedStreamCreated,
        },
        `the state file ${consumerStatePath(c.state, c.source as { stream: string; durable: string })} says the listeners committed through ${formatPosition(a.saved)}, past what durable consumer ` +
          `${c.source?.durable} acknowledged (${a.acknowledged === 0 ? 'nothing: a new consumer' : `through stream message ${a.acknowledged}`}` +
          `${a.savedStreamCreated !== null && a.savedStreamCreated !== a.streamCreated ? `; the stream was made again at ${a.streamCreated}` : ''}` +
          `${a.streamEnd !== null ? `; the stream's last record ends at ${formatPosition(a.streamEnd)}, before it: no record up to ${formatPosition(a.saved)} is handed out` : ''}` +
          `${a.streamStart !== null ? `; the stream's first record starts at ${formatPosition(a.streamStart)}, after it: the records between are in no stream, and this reader (filtered) cannot tell whether it needed some; if so, rebuild its listeners from a checkpoint` : ''}): ` +
          'reading goes on from there, and the first record must start there',
      ),
    )
    source.on('skipping', (s: { messages: number; at: JournalPosition; through: JournalPosition }) =>
      log.info(
        { messages: s.messages, at: formatPosition(s.at), through: formatPosition(s.through) },
        `skipping the records committed before: ${s.messages} messages read, at ${formatPosition(s.at)}, up to ${formatPosition(s.through)}`,
      ),
    )
    source.on('skipped', (s: { messages: number; through: JournalPosition }) =>
      log.info(
        { messages: s.messages, through: formatPosition(s.through) },
        `${s.messages} messages through ${formatPosition(s.through)} were committed before: not handed out again`,
      ),
    )
    try {
      const opened = await this.#unlessStopped<DaemonStart>(source.open(), 'opening the journal', () => {})
      if (opened === STOPPED) {
        source.destroy()
        await closed(source)
        await closeAll(specs)
        return
      }
      this.startPoint = opened
    } catch (err) {
      source.destroy()
      await closed(source)
      await closeAll(specs)
      throw inDaemonWords(err)
    }
    const start = this.startPoint
    if (start) log.info({ start: formatPosition(start), how: start.how, line: start.line }, `reading from ${formatPosition(start)} (${start.how})`)
    else log.info({ start: null }, 'the stream is empty: reading its first record when it comes')
    this.tracker.started({ ...describeSource(c), ...(start ? { start } : {}) })
    // Resumed from the state file: that position is committed (a restart resumes there) until a newer one is.
    if (start?.how === 'state') this.tracker.committed(start)
    for (const s of specs) {
      const l = s.listener
      this.tracker.addListener(l.name, l.acknowledged ? () => l.acknowledged!() : undefined)
    }
    const server = c.server
    if (server) this.tracker.setProbe((from) => journalSizes(server, from))

    // Resumed at a consistency point saved after an `@ex@`: the journal has markers (a notify listener with a new
    // delivery file must not take a quiet pause in the half transaction after it for the end of an import).
    const afterMarker = start !== null && start.how === 'state' && 'consistent' in start && start.consistent === true && start.offset > 0
    const chain = new ListenerChain({
      listeners: specs,
      commit: (p) => source.commit(p),
      // A filtered stream may hold no consistency point: commit after any record.
      ...(c.source?.filter !== undefined ? { commitAt: 'entry' as const } : {}),
      ...(afterMarker ? { startsAfterMarker: true } : {}),
      ...(start && 'previous' in start && start.previous ? { previousEnd: { journal: start.previous.journal, offset: start.previous.end } } : {}),
      // Nothing is synced past bytes not known good (a .gz member before its CRC is checked); a stream's records are all whole.
      ...(source instanceof RotatingJournalSource ? { barrier: () => source.commitBarrier } : {}),
      // The file source pushes batches (createSource); a stream's records come one by one.
      batch: source instanceof RotatingJournalSource,
      commitIntervalMs: c.commitIntervalMs,
      // The source knows when the live journal is quiet (not merely a slow listener): it drives quiet().
      quietMs: 0,
      retry: c.retry,
      start,
      logger: log,
      observer: this.tracker,
    })
    this.#chain = chain
    chain.on('commit', (p) => log.debug({ position: formatPosition(p) }, 'committed'))
    chain.on('error', (err: Error) => {
      // A call the stop ended (its retries cancelled): the stop reports it (#shutdown), it is no failure.
      if (this.#retriesCancelled && isStopping(err)) return
      this.#fail(err)
    })
    source.on('error', (err: unknown) => this.#fail(toError(err)))
    source.on('quiet', () => {
      const through = source.status.position
      const caughtUp = this.#options.untilCaughtUp === true && !this.caughtUp && (!(source instanceof RotatingJournalSource) || source.status.phase === 'live')
      if (caughtUp) this.caughtUp = true
      // noData (and with --until-caught-up the stop) after the listeners have been handed every entry read before the quiet.
      void chain.quiet(through).then(() => {
        if (!caughtUp) return
        log.info({ position: through ? formatPosition(through) : null }, 'caught up: the live journal is reached and quiet; stopping')
        // Not stop(): a listener being retried is waited for, so that exit 0 still means everything read was committed.
        this.#beginStop(null)
      })
    })
    source.on('rotate', (r) => {
      this.tracker.rotated({ from: r.from, to: r.to, mode: r.mode })
      log.info({ from: r.from, to: r.to, mode: r.mode }, `journal ${r.from} ended (${r.mode}); reading journal ${r.to}`)
    })
    source.on('skip', (r) => log.warn({ skip: r }, 'skipped bytes of the journal'))
    chain.on('quiet', (quiet: boolean) => log.debug({ quiet }, quiet ? 'journal quiet' : 'journal active'))
    let missingSaid = false
    this.#sizeTimer = setInterval(() => {
      const live = source.status.live
      this.tracker.liveSize({ journal: live?.journal ?? null, size: live?.size ?? null })
      void this.tracker.measure().then(() => {
        // Said once when it starts (after the tracker's grace) and once when it ends: the status page says it meanwhile.
        const missing = this.tracker.journalsMissing()
        if (missing !== null && !missingSaid)
          log.warn({ since: missing.since, reason: missing.what }, `${missing.what} since ${missing.since}: nothing new can be read`)
        else if (missing === null && missingSaid) log.info('the journals are in sight again')
        missingSaid = missing !== null
      })
    }, MEASURE_EVERY_MS)

    if (c.status !== false) {
      const server = new StatusServer({ host: c.status.host, port: c.status.port, ...(c.status.token ? { token: c.status.token } : {}), tracker: this.tracker })
      try {
        this.statusUrl = (await server.listen()).url
        this.#server = server
        log.info({ url: this.statusUrl }, `status page at ${this.statusUrl}`)
      } catch (err) {
        await this.#shutdown(toError(err))
        throw err
      }
    }
    source.pipe(chain)
    const signal = this.#options.signal
    if (signal) {
      if (signal.aborted) void this.stop()
      else signal.addEventListener('abort', () => void this.stop(), { once: true })
    }
  }

  /**
   * `work` (a step of `start` that may take long: a listener factory that
   * connects somewhere, a stream to wait for), or STOPPED when the stop
   * signal comes first: nothing has been read, so the daemon has stopped
   * (`done` resolves, exit 0) without waiting for it; what it makes later
   * is handed to `release`. Before, a SIGTERM then was logged and did
   * nothing until the step ended, whatever stopTimeoutMs said.
   */
  #unlessStopped<T>(work: Promise<T>, what: string, release: (value: T) => unknown): Promise<T | typeof STOPPED> {
    const signal = this.#options.signal
    if (!signal) return work
    return new Promise<T | typeof STOPPED>((resolve, reject) => {
      const onStop = (): void => {
        work.then(release, () => {})
        this.logger.info({ while: what }, `stopped while ${what}: nothing was read`)
        this.#settleWith(null)
        resolve(STOPPED)
      }
      if (signal.aborted) {
        onStop()
        return
      }
      signal.addEventListener('abort', onStop, { once: true })
      work.then(
        (value) => {
          signal.removeEventListener('abort', onStop)
          resolve(value)
        },
        (err: unknown) => {
          signal.removeEventListener('abort', onStop)
          reject(err)
        },
      )
    })
  }

  /**
   * Stops gracefully; resolves when everything is closed. Idempotent. A
   * listener call being retried, or an `open` not finished, is abandoned
   * at once (see the class); calls that succeed are waited for. Bounded by
   * `config.stopTimeoutMs`: past it `done` rejects with ERR_STOP_TIMEOUT
   * naming what it waited on (listener calls are left running: the caller
   * exits the process).
   */
  stop(): Promise<void> {
    this.#cancelRetries()
    this.#beginStop(null)
    // How it ended is `done`'s to say; stop() only waits.
    return this.done.then(
      () => {},
      () => {},
    )
  }

  /** Listener calls in flight now (for logs). */
  get pendingCalls(): string {
    return describePending(this.#calls.pending())
  }

  /** No listener call is retried any more; one being retried, or an open not finished, ends now. */
  #cancelRetries(): void {
    if (this.#retriesCancelled) return
    this.#retriesCancelled = true
    const reason = new LogdaemonError(ErrorCodes.LISTENER_FAILED, 'the daemon is stopping')
    for (const w of this.#chain?.writables ?? []) w.stopRetrying(reason)
  }

  /**
   * What the stop waits on now, in words: the listener calls in flight,
   * the listeners waiting to retry a call, or the step of the stop after
   * the listeners (the state file, the source, the status page).
   */
  #waitingOn(): string {
    const pending = this.#calls.pending()
    const parts: string[] = []
    if (pending.length > 0) parts.push(describePending(pending))
    const now = Date.now()
    for (const w of this.#chain?.writables ?? []) {
      const r = w.retrying
      if (!r || pending.some((p) => p.listener === w.name)) continue
      const at = r.at ? ` (entry at ${r.at})` : ''
      const failed = r.failures === 1 ? 'once' : `${r.failures} times`
      parts.push(`listener "${w.name}" waiting to retry ${r.call}${at}, failed ${failed} in ${Math.round((now - r.since) / 1000)} s`)
    }
    const phase = this.#stopPhase
    if (phase === 'state') parts.push(`the source saving the committed position to the state file ${this.config.state}`)
    else if (phase === 'source') parts.push('the source closing its files')
    else if (phase === 'status') parts.push('the status page closing')
    else if (parts.length === 0) parts.push('the listeners to finish, though no listener call was pending')
    return parts.join(', ')
  }

  /**
   * Stops at once (a second SIGTERM): `done` rejects now with
   * ERR_KILLED; the listeners are not waited for and nothing more is
   * committed. The caller exits the process.
   */
  kill(): void {
    const committed = this.#chain?.committed
    const err = new LogdaemonError(
      ErrorCodes.KILLED,
      `stopped at once by a second signal while waiting on ${this.#waitingOn()}: ` +
        `nothing after ${committed ? formatPosition(committed) : 'the last commit'} was committed; the next start resumes there`,
    )
    this.#failure ??= err
    this.tracker.failed(err)
    this.#chain?.destroy()
    this.#settleWith(err)
  }

  /** The first error stops the daemon: no commit past what every listener finished. */
  #fail(err: Error): void {
    if (this.#failure) return
    this.#failure = err
    this.tracker.error(err)
    this.tracker.failed(err)
    this.logger.error({ err }, err.message)
    // The daemon exits 1 whatever happens: no listener's retries are waited for.
    this.#cancelRetries()
    this.#beginStop(err)
  }

  #beginStop(err: Error | null): void {
    if (this.#stopping) return
    this.#stopping = this.#shutdown(err)
    const ms = this.config.stopTimeoutMs
    // Ref'd: the process stays up until the stop finishes or times out.
    this.#stopTimer = setTimeout(() => {
      const committed = this.#chain?.committed
      const onListeners = this.#stopPhase === 'listeners' || this.#stopPhase === null
      const timeout = new LogdaemonError(
        ErrorCodes.STOP_TIMEOUT,
        `the stop did not finish within stopTimeoutMs (${ms} ms): waited on ${this.#waitingOn()}. ` +
          `Nothing after ${committed ? formatPosition(committed) : 'the last commit'} was committed; the next start resumes there. ` +
          (onListeners
            ? 'Find why that listener does not settle (a peer that does not answer?), or raise stopTimeoutMs'
            : 'Find why it is slow, or raise stopTimeoutMs'),
        { details: { pending: this.#calls.pending(), phase: this.#stopPhase } },
      )
      this.tracker.failed(timeout)
      this.logger.error({ err: timeout }, timeout.message)
      this.#settleWith(timeout)
    }, ms)
  }

  #settleWith(err: Error | null): void {
    if (this.#settled) return
    this.#settled = true
    if (this.#stopTimer) clearTimeout(this.#stopTimer)
    if (this.#sizeTimer) clearInterval(this.#sizeTimer)
    this.#sizeTimer = null
    if (err) this.#settle.reject(err)
    else this.#settle.resolve()
  }

  async #shutdown(err: Error | null): Promise<void> {
    const log = this.logger
    const source = this.#source
    const chain = this.#chain
    if (this.#sizeTimer) clearInterval(this.#sizeTimer)
    this.#sizeTimer = null
    if (!err) log.info('stopping: finishing the entries in hand, then committing')
    this.#stopPhase = 'listeners'
    if (source && chain) {
      // Stop reading; what the source has buffered is not committed and will be read again next time.
      source.unpipe(chain)
      // A source error still lets listeners finish the entries before it; a listener error has destroyed the chain.
      if (!chain.destroyed) {
        chain.end()
        try {
          await finished(chain)
        } catch (e) {
          err ??= toError(e)
        }
      } else {
        chain.destroy()
        await finished(chain).catch(() => {})
      }
      if (this.#retriesCancelled) err = this.#afterCancel(chain, err)
    }
    if (source) {
      // Save the newest committed point, then release files, watchers and timers.
      this.#stopPhase = 'state'
      try {
        await source.flushState()
      } catch (e) {
        err ??= toError(e)
      }
      this.#stopPhase = 'source'
      source.destroy()
      await closed(source)
    }
    this.#stopPhase = 'status'
    await this.#server?.close()
    if (this.#settled) return
    if (err) {
      this.#settleWith(err)
      return
    }
    // Nothing newer committed this run: the state's position still stands.
    const committed = chain?.committed ?? (this.startPoint?.how === 'state' ? this.startPoint : null)
    log.info({ committed: committed ? formatPosition(committed) : null }, `stopped${committed ? ` at ${formatPosition(committed)}` : ''}`)
    this.#settleWith(null)
  }

  /**
   * The listeners once a stop that cancelled their retries has ended the
   * chain (`err`, the chain's error, or null): a listener whose call the
   * stop ended (an open not finished, a call being retried) is a warning,
   * not a failure; a listener that failed for good meanwhile (an error no
   * retry could fix) is the stop's error. Returns that error, or null.
   */
  #afterCancel(chain: ListenerChain, err: Error | null): Error | null {
    let failure = isStopping(err) ? null : err
    const committed = chain.committed
    const after = committed ? formatPosition(committed) : 'the last commit'
    for (const w of chain.writables) {
      const e = w.errored
      if (e === null) continue
      if (!isStopping(e)) {
        // A listener that failed for good meanwhile: that is the daemon's failure (logged once).
        if (failure === null) {
          failure = e
          this.#fail(e)
        }
      } else if (e.details.listener === w.name && failure === null) {
        // Its own stop, not another listener's passed on to it by the chain.
        this.logger.warn(
          { listener: w.name, operation: e.details.operation, err: e.cause ?? e },
          `${e.message}. Nothing after ${after} was committed: the next start resumes there`,
        )
      }
    }
    return failure
  }
}
