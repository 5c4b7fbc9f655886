import { stat } from 'node:fs/promises'
import { finished } from 'node:stream/promises'
import pino, { type Logger } from 'pino'
import { ErrorCodes, LogdaemonError, toError } from '../errors.js'
import { liveJournalPath } from '../files/journal-name.js'
import { formatPosition } from '../position.js'
import { PRIVATE_FILE_MODE } from '../files/atomic-write.js'
import { isBuiltinListenerType, loadBuiltin, type BuiltinContext } from '../listeners/builtin/index.js'
import type { Listener } from '../listeners/listener.js'
import { ListenerChain, type ListenerSpec } from '../listeners/listener-chain.js'
import { loadListener, withName } from '../listeners/load-listener.js'
import { RotatingJournalSource, type StartPoint } from '../source/rotating-journal-source.js'
import type { DaemonConfig, ListenerConfig } from './config.js'
import { StatusServer } from '../status/status-server.js'
import { StatusTracker } from '../status/status-tracker.js'

/** Resolves once a stream has emitted `close` (whether or not it failed). */
function closed(stream: RotatingJournalSource): Promise<void> {
  if (stream.closed) return Promise.resolve()
  return new Promise((resolve) => stream.once('close', () => resolve()))
}

/** How often the live journal's size is sampled for the status page, ms. */
const LIVE_SIZE_EVERY_MS = 1000

export interface DaemonOptions {
  /** The logger. Default: pino at `config.log.level`, to `config.log.file` or standard error. */
  logger?: Logger
  /** Aborting it stops the daemon as `stop()` does. */
  signal?: AbortSignal
  /** Listeners to use instead of creating them from the configuration (tests, embedding). */
  listeners?: readonly Listener[]
}

/** Makes the logger the configuration asks for: pino, synchronous writes (logs are rare; none is lost at exit). */
export function createLogger(log: DaemonConfig['log']): Logger {
  const dest = pino.destination({ dest: log.file ?? 2, sync: true, mkdir: true })
  return pino({ level: log.level, base: { name: 'logdaemon' } }, dest)
}

/**
 * The mode files holding journal content are created with: the live
 * journal's permission bits (read and write only), else 0600.
 */
export async function journalFileMode(server: DaemonConfig['server']): Promise<number> {
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
    await Promise.all(specs.map((s) => Promise.resolve(s.listener.close()).catch(() => {})))
    throw err
  }
  return specs
}

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

/**
 * The daemon: the rotating source, the listener chain, the status tracker
 * and server, wired together. `start()` resolves once reading has begun
 * (the start point is checked and the status server listens); `done`
 * settles when the daemon has stopped: resolved after `stop()`, rejected
 * with the error that stopped it otherwise.
 *
 * `stop()` is the graceful stop of SIGTERM: stop reading, let listeners
 * finish the entries they have, sync, commit, save the state, close.
 */
export class Daemon {
  readonly config: DaemonConfig
  readonly tracker = new StatusTracker()
  readonly logger: Logger
  readonly #options: DaemonOptions
  #source: RotatingJournalSource | null = null
  #chain: ListenerChain | null = null
  #server: StatusServer | null = null
  #sizeTimer: NodeJS.Timeout | null = null
  #stopping: Promise<void> | null = null
  #failure: Error | null = null
  #settle!: { resolve: () => void; reject: (err: Error) => void }
  /** Settles when the daemon has stopped. */
  readonly done: Promise<void>
  /** The status page's URL once listening, or null. */
  statusUrl: string | null = null
  /** Where reading started. */
  startPoint: StartPoint | null = null

  constructor(config: DaemonConfig, options: DaemonOptions = {}) {
    this.config = config
    this.#options = { ...options }
    this.logger = options.logger ?? createLogger(config.log)
    this.done = new Promise<void>((resolve, reject) => (this.#settle = { resolve, reject }))
    this.done.catch(() => {}) // the caller awaits it; never an unhandled rejection
  }

  get source(): RotatingJournalSource | null {
    return this.#source
  }

  get chain(): ListenerChain | null {
    return this.#chain
  }

  /** Starts reading. Rejects (and leaves nothing running) when the start point, a listener or the status server fails. */
  async start(): Promise<void> {
    const c = this.config
    const log = this.logger
    const specs = this.#options.listeners
      ? this.#options.listeners.map((listener) => ({ listener }))
      : await createListeners(c)
    const source = new RotatingJournalSource({
      root: c.server.root,
      ...(c.server.journal ? { journal: c.server.journal } : {}),
      ...(c.server.prefix ? { prefix: c.server.prefix } : {}),
      ...(c.from !== undefined ? { from: c.from } : {}),
      state: c.state,
      quietMs: c.quietMs,
      saveIntervalMs: c.commitIntervalMs,
    })
    this.#source = source
    try {
      this.startPoint = await source.open()
    } catch (err) {
      source.destroy()
      await closed(source)
      await Promise.all(specs.map((s) => Promise.resolve(s.listener.close()).catch(() => {})))
      throw err
    }
    const start = this.startPoint
    log.info({ start: formatPosition(start), how: start.how, line: start.line }, `reading from ${formatPosition(start)} (${start.how})`)
    this.tracker.started({ root: c.server.root, liveJournal: liveJournalPath(c.server) })
    for (const s of specs) this.tracker.addListener(s.listener.name)

    const chain = new ListenerChain({
      listeners: specs,
      commit: (p) => source.commit(p),
      // Nothing is synced past bytes not known good (a .gz member before its CRC is checked).
      barrier: () => source.commitBarrier,
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
    chain.on('error', (err: Error) => this.#fail(err))
    source.on('error', (err: unknown) => this.#fail(toError(err)))
    source.on('quiet', () => chain.quiet())
    source.on('rotate', (r) => {
      this.tracker.rotated({ from: r.from, to: r.to, mode: r.mode })
      log.info({ from: r.from, to: r.to, mode: r.mode }, `journal ${r.from} ended (${r.mode}); reading journal ${r.to}`)
    })
    source.on('skip', (r) => log.warn({ skip: r }, 'skipped bytes of the journal'))
    chain.on('quiet', (quiet: boolean) => log.debug({ quiet }, quiet ? 'journal quiet' : 'journal active'))
    this.#sizeTimer = setInterval(() => {
      const live = source.status.live
      this.tracker.liveSize({ journal: live?.journal ?? null, size: live?.size ?? null })
    }, LIVE_SIZE_EVERY_MS)
    this.#sizeTimer.unref()

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

  /** Stops gracefully; resolves when everything is closed. Idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= this.#shutdown(null)
    return this.#stopping
  }

  /** Stops at once (a second SIGTERM): listeners are closed without finishing; nothing more is committed. */
  kill(): void {
    this.#fail(new LogdaemonError(ErrorCodes.KILLED, 'stopped at once by a second signal: nothing after the last commit was committed'))
    this.#chain?.destroy()
  }

  /** The first error stops the daemon: no commit past what every listener finished. */
  #fail(err: Error): void {
    if (this.#failure) return
    this.#failure = err
    this.tracker.error(err)
    this.logger.error({ err }, err.message)
    this.#stopping ??= this.#shutdown(err)
  }

  async #shutdown(err: Error | null): Promise<void> {
    const log = this.logger
    const source = this.#source
    const chain = this.#chain
    if (this.#sizeTimer) clearInterval(this.#sizeTimer)
    this.#sizeTimer = null
    if (!err) log.info('stopping: finishing the entries in hand, then committing')
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
    }
    if (source) {
      // Save the newest committed point, then release files, watchers and timers.
      try {
        await source.flushState()
      } catch (e) {
        err ??= toError(e)
      }
      source.destroy()
      await closed(source)
    }
    await this.#server?.close()
    if (err) {
      this.#settle.reject(err)
      return
    }
    const committed = chain?.committed
    log.info({ committed: committed ? formatPosition(committed) : null }, `stopped${committed ? ` at ${formatPosition(committed)}` : ''}`)
    this.#settle.resolve()
  }
}
