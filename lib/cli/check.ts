import { constants } from 'node:fs'
import { access, open, readlink, stat } from 'node:fs/promises'
import { setTimeout as delay } from 'node:timers/promises'
import { dirname, isAbsolute, resolve } from 'node:path'
import { isErrnoException, isLogdaemonError, toError } from '../errors.js'
import { describeJournalChain, journalDirs, journalGapError, type JournalChain } from '../files/journal-set.js'
import { fileKind } from '../files/if-exists.js'
import { type MirrorOptions, mirrorOpenProblem } from '../listeners/builtin/mirror/mirror.js'
import { liveJournalPath } from '../files/journal-name.js'
import { readState, type SavedState } from '../files/state-file.js'
import { formatPosition, type JournalPosition } from '../position.js'
import { JournalCursor } from '../source/journal-cursor.js'
import { ConsumerState } from '../source/jetstream/consumer-state.js'
import { consumerStatePath } from '../daemon/source-config.js'
import { endOfLastRecord, openStart } from '../source/start-point.js'
import type { JournalLayout } from '../files/journal-name.js'
import { checkListenerModule } from '../listeners/load-listener.js'
import { loadConfig, type DaemonConfig } from '../daemon/config.js'
import { logFileProblem } from '../daemon/daemon.js'
import { type PrintOptions, printOutputProblem } from '../listeners/builtin/print/print.js'
import type { Command } from './command.js'
import { CONFIG_OPTION, DEFAULT_CONFIG_FILE } from './init.js'
import { hostPort, isLoopbackHost, statusPortTaken } from '../status/status-server.js'
import { lockHolder } from '../files/state-lock.js'
import { loadBuiltin } from '../listeners/builtin/index.js'
import type { HotBackupListener } from '../listeners/builtin/hot-backup/hot-backup.js'
import { deliveryStatePath, journalNumberMismatch, readDeliveryState, type StoredDelivery } from '../listeners/builtin/notify/delivery-store.js'
import { reviewsOptionsOf, type NotifyOptions } from '../listeners/builtin/notify/notify-options.js'
import { reviewStatePath } from '../listeners/builtin/notify/reviews/review-mailer.js'
import { findCheckpoint, readReviewState } from '../listeners/builtin/notify/reviews/review-store.js'

export interface CheckOptions {
  /** Also log in to each hot-backup standby over ssh and run the remote script (asks one size, writes nothing). */
  connect?: boolean
}

/** What `logdaemon check` found: the configuration, where reading would start, the chain, and the problems. */
export interface CheckReport {
  config: DaemonConfig
  /** The saved state, or null when there is none yet. */
  state: SavedState | null
  /** The first journal that would be read, or null when unknown. */
  startJournal: number | null
  /** How the start was chosen, in words. */
  start: string
  chain: JournalChain | null
  /**
   * What would stop the daemon: gaps, no start point, a missing live journal, listener modules that do not load, an open
   * status address without a token, a review mode with no readable checkpoint (and no review state yet), (with `connect`) a
   * standby it cannot reach. Empty when fine.
   */
  problems: string[]
  /** What `connect` found, one line per hot-backup listener. */
  connected: string[]
  /** Where each notify listener's review mode takes its state from: its state file, or the checkpoint it is built from. */
  reviews: string[]
  /** Where each notify listener without `reviews` keeps what it delivered (its delivery state file). */
  deliveries: string[]
  /** The report as printed. */
  text: string
}

function pad(label: string): string {
  return label.padEnd(15)
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r) => `  ${r.map((c, i) => (i === r.length - 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')}`)
}

/**
 * `logdaemon check`: validates the configuration (throws
 * ERR_CONFIG_INVALID / ERR_CONFIG_NOT_FOUND as `loadConfig` does) and
 * describes what `run` would read (numbers, files, compressed or not,
 * gaps) without reading any journal. Custom listener modules are imported
 * to see that they export a listener, but not created.
 */
export async function checkConfig(file: string, options: CheckOptions = {}): Promise<CheckReport> {
  const config = await loadConfig(file)
  const problems: string[] = []
  const connected: string[] = []
  if (config.status !== false && config.status.token === undefined && !isLoopbackHost(config.status.host)) {
    problems.push(
      `status.host is ${config.status.host}, which is not a loopback address, and there is no status.token: run refuses this. ` +
        'Set status.token, or set status.host to 127.0.0.1',
    )
  }
  const statusNote = await statusPortNote(config, problems)
  const logFile = config.log.file === undefined ? null : logFileProblem(config.log.file)
  if (logFile) problems.push(`log.file: ${config.log.file} ${logFile}`)
  const layout = config.server
  if (!layout) return checkStreamSource(config, problems, statusNote)
  let state: SavedState | null = null
  try {
    state = await readState(config.state, 'config')
    // A missing directory reads as no state yet; run stops when it writes there.
    const stateDir = await stateDirectoryProblem(config.state)
    if (stateDir) problems.push(stateDir)
  } catch (err) {
    problems.push(toError(err).message)
  }
  let startJournal: number | null = null
  let start: string
  if (state) {
    startJournal = state.journal
    start = `${formatPosition(state)} (line ${state.line}) from the state file ${config.state}, saved ${state.savedAt}`
  } else if (typeof config.from === 'number') {
    startJournal = config.from
    start = `journal ${config.from} from its start (from: ${config.from}; no state file at ${config.state} yet)`
  } else if (config.from === 'end') {
    start = `the end of the live journal (from: "end"; no state file at ${config.state} yet)`
  } else {
    start = `unknown: no state file at ${config.state} and no "from"`
    problems.push('no state file and no "from": set "from" to the journal to start at (the last checkpoint\'s number), or "end"')
  }
  let chain: JournalChain | null = null
  try {
    const deadline = performance.now() + LIVE_APPEAR_MS
    chain = await describeSettled(layout, startJournal === null ? {} : { from: startJournal }, deadline)
    if (startJournal === null && config.from === 'end') {
      // Only the live journal is read: older gaps do not matter.
      startJournal = chain.live.journal
      chain = await describeSettled(layout, { from: startJournal }, deadline)
    }
    if (chain.gaps.length) problems.push(journalGapError(chain.gaps, startJournal ?? chain.oldest ?? 0, chain.live.journal, 'config').message)
    if (chain.live.size === null) {
      // Something else at its path (a FIFO, a directory) is what run stops at (ERR_JOURNAL_UNREADABLE).
      const live = await liveJournalLook(chain.live.path)
      const what = live === 'missing' || live === 'file' ? 'does not exist' : live
      problems.push(
        `the live journal ${chain.live.path} ${what}: set server.journal to the server's P4JOURNAL ` +
          `(p4 configure show P4JOURNAL), or server.root to its P4ROOT`,
      )
    }
  } catch (err) {
    problems.push(`cannot list the journals: ${toError(err).message}`)
  }
  // Where run starts from the state or from journal N, it checks the start before reading (from "end" reads the
  // live journal only): the journal numbers the files tell, the journal opened there. A start at a journal's
  // beginning with neither its archive nor a live journal (already a problem) is not looked at: run waits there.
  const waits = chain !== null && chain.live.size === null && (state?.offset ?? 0) === 0 && !chain.archives.some((a) => a.journal === startJournal)
  // Journals that cannot be listed are the problem already said: the start would fail the same way.
  if ((state || typeof config.from === 'number') && chain !== null && !waits) {
    const problem = await startProblem(layout, state, config)
    if (problem && !problems.includes(problem)) problems.push(problem)
  }
  // Where run starts, as its listeners are told (a mirror must hold what comes before it): from "end", the live
  // journal's last whole record, found by framing it as run does, and only when a mirror needs it.
  let resumeAt: JournalPosition | null | undefined = state ? state : typeof config.from === 'number' ? { journal: config.from, offset: 0 } : undefined
  for (const l of config.listeners) {
    if (l.type === 'mirror') {
      try {
        if (resumeAt === undefined) {
          const end = chain?.live.size ? await endOfLastRecord(chain.live.path) : null
          resumeAt = end && chain ? { journal: Math.max(chain.live.journal, end.journalCounter ?? 0), offset: end.offset } : null
        }
        const problem = await mirrorOpenProblem(l.options as MirrorOptions, config.baseDir, journalDirs(layout), resumeAt)
        if (problem) problems.push(`mirror "${l.name}": ${problem}`)
      } catch (err) {
        problems.push(`mirror "${l.name}": ${toError(err).message}`)
      }
    }
    if (l.type === 'print') {
      const problem = printOutputProblem(l.options as PrintOptions, config.baseDir)
      if (problem) problems.push(`print "${l.name}": output ${problem}`)
    }
    if (l.type !== 'module' || typeof l.module !== 'string') continue
    try {
      await checkListenerModule(l.module, config.baseDir)
    } catch (err) {
      problems.push(isLogdaemonError(err) ? err.message : toError(err).message)
    }
  }
  const deliveries: string[] = []
  const reviews = await checkReviews(config, startJournal, problems, deliveries)
  if (options.connect) {
    for (const l of config.listeners) {
      if (l.type !== 'hot-backup') continue
      const mod = await loadBuiltin('hot-backup')
      const h = (await mod.create(l.options as never, { name: l.name, baseDir: config.baseDir })) as HotBackupListener
      const journal = startJournal ?? chain?.live.journal ?? 0
      const where = `${h.standby.target.user ? `${h.standby.target.user}@` : ''}${h.standby.target.host}`
      try {
        const size = await h.probe(journal)
        connected.push(`hot-backup "${l.name}": ssh login to ${where} and the remote script work; the standby has ${size} bytes of journal ${journal}`)
      } catch (err) {
        problems.push(`hot-backup "${l.name}": ${toError(err).message}`)
      }
    }
  }
  const text = render(config, start, chain, startJournal, problems, connected, reviews, deliveries, statusNote)
  return { config, state, startJournal, start, chain, problems, connected, reviews, deliveries, text }
}

/**
 * How long check looks again for a live journal that is not there, and how
 * often. A server rotates by renaming the live journal to its archive and
 * then making a new one: a check between the two (probes: 3-16 of 100 runs
 * during a rotation loop, 21 of 60 with 0-40 ms between the rename and the
 * new file) said the live journal did not exist, and a
 * daemon whose unit runs check first (ExecStartPre) did not start. `run`
 * waits for it there. A live journal really missing is said 1 s later.
 */
const LIVE_APPEAR_MS = 1000
const LIVE_LOOK_STEP_MS = 25

/**
 * describeJournalChain, looked at again while nothing is at the live
 * journal's path in a directory that is there (a rotation between its
 * rename and the new file), until `deadline` (performance.now()). Not for
 * what no rotation mends: a missing directory, a path through a file, a
 * dangling symlink, something else than a file.
 */
async function describeSettled(layout: JournalLayout, options: { from?: number }, deadline: number): Promise<JournalChain> {
  for (;;) {
    const chain = await describeJournalChain(layout, options)
    if (chain.live.size !== null || performance.now() >= deadline) return chain
    const live = await liveJournalLook(chain.live.path)
    // A file made since is looked at now.
    if (live === 'file') continue
    if (live !== 'missing') return chain
    await delay(LIVE_LOOK_STEP_MS)
  }
}

/**
 * What is at the live journal's path: a file; nothing, in a directory that
 * is there (`missing`); or why it cannot be one, said as the problem says it.
 */
async function liveJournalLook(path: string): Promise<'file' | 'missing' | string> {
  const info = await stat(path).catch((err: NodeJS.ErrnoException) => err)
  if (!(info instanceof Error)) return info.isFile() ? 'file' : `is not a regular file but ${fileKind(info)}`
  if (info.code === 'ENOENT') {
    const link = await readlink(path).catch(() => null)
    if (link !== null) return `is a dangling symlink (to ${link})`
    const dir = await stat(dirname(path)).catch(() => null)
    if (dir?.isDirectory()) return 'missing'
    return `does not exist, nor does its directory ${dirname(path)}`
  }
  if (info.code === 'ENOTDIR') return 'cannot be reached: a path through a file (ENOTDIR)'
  return `cannot be looked at (${info.code}: ${info.message})`
}

/**
 * How long check lets the start's journal settle before it says so,
 * instead of waiting as run does: longer than the cursor's own decisions
 * take (its grace period, 5 s; a `.gz` still being written, ~3 s). What it
 * bounds is the live journal gone between the look at the files and the
 * open (a rotation by rename at that moment), which run waits out.
 */
const START_SETTLE_MS = 15_000

/**
 * What `run` finds at its start, from the saved state or from journal
 * `from`, before it reads a record, or null: openStart's checks (a state
 * or `from` past the live journal, whose number the files tell, its
 * journal counter record included; journals missing, also reported from
 * the chain; the journal before a state at a journal's start; the bytes
 * before the saved offset), the journal opened as run opens it, then
 * closed. Where run would wait for its journal to appear, check waits
 * START_SETTLE_MS at most.
 */
async function startProblem(layout: JournalLayout, state: SavedState | null, config: DaemonConfig): Promise<string | null> {
  const abort = new AbortController()
  const settle = setTimeout(() => abort.abort(), START_SETTLE_MS)
  const cursor = new JournalCursor({ layout, signal: abort.signal, adviceAs: 'config' })
  try {
    await openStart(layout, state, config.from, config.state, cursor, 'config')
    return null
  } catch (err) {
    if (abort.signal.aborted) {
      const at = state ? formatPosition(state) : `journal ${config.from}`
      return `the start (${at}) did not settle in ${START_SETTLE_MS / 1000} s: run would wait there for its journal (a rotation under way?); check again`
    }
    return toError(err).message
  } finally {
    clearTimeout(settle)
    abort.abort()
    await cursor.close()
  }
}

/**
 * Why `run` could not write the state file `state` (and its lock, beside
 * it) in its directory, or null: `run` creates neither the directory nor
 * its parents, and stops with ERR_STATE_WRITE.
 */
async function stateDirectoryProblem(state: string): Promise<string | null> {
  const dir = dirname(state)
  const fix = 'run could not write the state file or its lock (ERR_STATE_WRITE)'
  try {
    if (!(await stat(dir)).isDirectory()) return `the state file's directory ${dir} is not a directory: ${fix}. Set "state" to a file in an existing directory`
    await access(dir, constants.W_OK | constants.X_OK)
    return null
  } catch (err) {
    const code = isErrnoException(err) ? err.code : undefined
    if (code === 'ENOENT') return `the state file's directory ${dir} does not exist: ${fix}. Create it, or set "state" to a file in an existing directory`
    if (code === 'ENOTDIR') return `the state file's directory ${dir} is not a directory: ${fix}. Set "state" to a file in an existing directory`
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      return `the state file's directory ${dir} is not writable (${code}): ${fix}. Fix its permissions, or set "state" to a file in a writable directory`
    }
    return `the state file's directory ${dir} cannot be checked (${toError(err).message}): ${fix}`
  }
}

/**
 * The review mode of each notify listener needs, at its first start, a
 * checkpoint to build its state from (`run` stops without one): its review
 * state file when there is one (then the checkpoint is not read again), or
 * the checkpoint `run` would read, which must be a readable file. One line
 * per listener for the report; problems are added to `problems`, and the
 * lines of the listeners without `reviews` (their delivery state) to
 * `deliveries`.
 */
async function checkReviews(config: DaemonConfig, startJournal: number | null, problems: string[], deliveries: string[]): Promise<string[]> {
  const lines: string[] = []
  for (const l of config.listeners) {
    if (l.type !== 'notify') continue
    const reviews = reviewsOptionsOf(l.options as NotifyOptions)
    const who = `notify "${l.name}"`
    if (!reviews) {
      const line = await checkDelivery(config, l.name, l.options as NotifyOptions, problems)
      if (line) deliveries.push(line)
      continue
    }
    const statePath = reviewStatePath(reviews, { baseDir: config.baseDir, daemonState: config.state, name: l.name })
    try {
      const saved = await readReviewState(statePath)
      if (saved) {
        const root = config.server?.root ?? null
        if (saved.server !== null && root !== null && saved.server !== root) {
          problems.push(
            `${who}: reviews: the state file ${statePath} belongs to the server at ${saved.server}, not ${root}: give this daemon its own reviews.state`,
          )
        }
        if (saved.listener !== null && saved.listener !== l.name) {
          problems.push(
            `${who}: reviews: the state file ${statePath} belongs to the listener "${saved.listener}", not "${l.name}": give each listener its own reviews.state`,
          )
        }
        await journalNumberProblem(config, who, saved.mailedThrough, statePath, problems)
        lines.push(`${who}: state ${statePath}, ${saved.userCount} users, ${saved.reviewerCount} reviewers`)
        continue
      }
    } catch (err) {
      problems.push(`${who}: ${toError(err).message}`)
      continue
    }
    let checkpoint: string | null = null
    if (reviews.checkpoint !== undefined) {
      checkpoint = isAbsolute(reviews.checkpoint) ? reviews.checkpoint : resolve(config.baseDir, reviews.checkpoint)
    } else if (config.server && startJournal !== null) {
      checkpoint = await findCheckpoint(config.server, startJournal)
    }
    if (checkpoint === null) {
      problems.push(
        `${who}: reviews: no state file (${statePath}) and no checkpoint to build it from` +
          (startJournal !== null ? ` (looked for checkpoint ${startJournal} in the server root)` : '') +
          ': set reviews.checkpoint to the checkpoint the replica starts from',
      )
      continue
    }
    const unreadable = await unreadableFile(checkpoint)
    if (unreadable) {
      problems.push(`${who}: the reviews checkpoint ${checkpoint} ${unreadable}: the review state is built from it at the first start`)
      continue
    }
    lines.push(`${who}: no review state yet; built at the first start from ${checkpoint}`)
  }
  return lines
}

/**
 * A notify listener without `reviews` keeps what it delivered in its
 * delivery state file: one that `run` would refuse (corrupt, another
 * server's or another listener's, or delivered through a journal after
 * the server's live one) is a problem here too. The report's
 * line for the listener, or null when it keeps its state in memory.
 */
async function checkDelivery(config: DaemonConfig, name: string, options: NotifyOptions, problems: string[]): Promise<string | null> {
  const who = `notify "${name}"`
  const path = deliveryStatePath(options.deliveryState, { baseDir: config.baseDir, daemonState: config.state, name })
  if (path === null) return null
  let saved: StoredDelivery | null
  try {
    saved = await readDeliveryState(path)
  } catch (err) {
    problems.push(`${who}: ${toError(err).message.replace(/^notify: /, '')}`)
    return null
  }
  if (saved === null) return `${who}: no delivery state yet; created at the first start (${path})`
  const root = config.server?.root ?? null
  if (saved.server !== null && root !== null && saved.server !== root) {
    problems.push(`${who}: the delivery state file ${path} belongs to the server at ${saved.server}, not ${root}: give this listener its own deliveryState`)
  }
  if (saved.listener !== null && saved.listener !== name) {
    problems.push(
      `${who}: the delivery state file ${path} belongs to the listener "${saved.listener}", not "${name}": give each listener its own deliveryState`,
    )
  }
  await journalNumberProblem(config, who, saved.state.mailedThrough, path, problems)
  const m = saved.state.mailedThrough
  return `${who}: delivery state ${path}, ${m === null ? 'nothing delivered yet' : `delivered through ${formatPosition(m)}`}`
}

/**
 * A notify state that delivered through a journal after the server's live
 * one: `run` refuses it at the listener's open (journalNumberMismatch), so
 * it is a problem here too.
 */
async function journalNumberProblem(config: DaemonConfig, who: string, through: JournalPosition | null, path: string, problems: string[]): Promise<void> {
  if (!config.server) return
  // Journals that cannot be listed are the chain's problem, reported there.
  const err = await journalNumberMismatch(config.server, through, path).catch(() => null)
  if (err) problems.push(`${who}: ${err.message.replace(/^notify: /, '')}`)
}

/** Why `path` cannot be read as a file (opened, a byte read), or null when it can. */
async function unreadableFile(path: string): Promise<string | null> {
  let fh
  try {
    fh = await open(path, 'r')
  } catch (err) {
    return `cannot be read (${toError(err).message})`
  }
  try {
    if (!(await fh.stat()).isFile()) return 'is not a file'
    await fh.read(Buffer.alloc(1), 0, 1, 0)
    return null
  } catch (err) {
    return `cannot be read (${toError(err).message})`
  } finally {
    await fh.close()
  }
}

/**
 * What run's `listen` would meet on the status address, found by
 * connecting to it and, when nothing answers, binding it and letting it go
 * at once (statusPortTaken): a port below 1024 without the privilege, an
 * address that is not this machine's, a name that does not resolve, or a
 * port another process holds, are problems. A port in use while a live
 * process holds this configuration's state lock is taken for the daemon's
 * own (check is often run beside the daemon it checks): said on the status
 * line, not a problem; so is one whose holder check cannot judge (a lock
 * it cannot read, a holder on another host name: a container). Returns
 * that note (empty when there is none).
 */
async function statusPortNote(config: DaemonConfig, problems: string[]): Promise<string> {
  if (config.status === false || (config.status.token === undefined && !isLoopbackHost(config.status.host))) return ''
  const { host, port } = config.status
  try {
    if (!(await statusPortTaken(host, port))) return ''
  } catch (err) {
    problems.push(toError(err).message)
    return ''
  }
  const state = config.source ? consumerStatePath(config.state, config.source) : config.state
  let held: Awaited<ReturnType<typeof lockHolder>>
  try {
    held = await lockHolder(state)
  } catch (err) {
    // The lock cannot be read (another user's state directory): who holds the port cannot be told, so it is not a problem.
    return ` (in use; whether by this daemon cannot be told: its state lock is unreadable: ${toError(err).message})`
  }
  if (held !== null && held.liveness !== 'dead') {
    const h = held.holder
    if (held.liveness === 'other-host') {
      return ` (in use; the lock of its state file is held by process ${h.pid}, ${h.command}, on host ${h.host}, which check cannot judge from here)`
    }
    return ` (in use, it seems by this daemon: process ${h.pid}, ${h.command}, holds the lock of its state file since ${h.since})`
  }
  problems.push(
    `the status page cannot listen on ${hostPort(host, port)}: the address is in use by another process, and no daemon of this configuration runs ` +
      `(nothing alive holds the lock of ${state}): run would stop with ERR_ADDRESS_IN_USE. Stop that process (\`ss -ltnp 'sport = :${port}'\` names it), ` +
      'or set status.port to a free port (0 picks one), or set status to false',
  )
  return ' (in use by another process)'
}

/** A daemon reading a JetStream stream: no journal files to look at (the stream is not contacted). */
async function checkStreamSource(config: DaemonConfig, problems: string[], statusNote: string): Promise<CheckReport> {
  const s = config.source
  let start = s ? `after the last record durable consumer ${s.durable} acknowledged in stream ${s.stream} (from the stream's first record when new)` : 'unknown'
  if (s) {
    try {
      const file = consumerStatePath(config.state, s)
      const saved = await ConsumerState.read(file, { stream: s.stream, durable: s.durable })
      if (saved) {
        start =
          `after ${formatPosition(saved)} from the state file ${file}, saved ${saved.savedAt}, ` +
          `or after the last record durable consumer ${s.durable} acknowledged in stream ${s.stream} when that is later`
      }
      const stateDir = await stateDirectoryProblem(config.state)
      if (stateDir) problems.push(stateDir)
    } catch (err) {
      problems.push(toError(err).message)
    }
  }
  const deliveries: string[] = []
  const reviews = await checkReviews(config, null, problems, deliveries)
  const text = render(config, start, null, null, problems, [], reviews, deliveries, statusNote)
  return { config, state: null, startJournal: null, start, chain: null, problems, connected: [], reviews, deliveries, text }
}

function render(
  config: DaemonConfig,
  start: string,
  chain: JournalChain | null,
  startJournal: number | null,
  problems: string[],
  connected: string[],
  reviews: string[],
  deliveries: string[],
  statusNote: string,
): string {
  const lines: string[] = [`configuration ${config.file ?? '(inline)'} is valid.`, '']
  if (config.server) {
    lines.push(`${pad('server root')}${config.server.root}`)
    const live = chain?.live
    const livePath = liveJournalPath(config.server)
    lines.push(`${pad('live journal')}${livePath}${live ? `: journal ${live.journal}, ${live.size === null ? 'missing' : `${live.size} bytes`}` : ''}`)
    if (config.server.prefix) lines.push(`${pad('journal prefix')}${config.server.prefix}`)
  }
  if (config.source)
    lines.push(`${pad('source')}jetstream stream ${config.source.stream}, subjects ${config.source.subject}.>, durable ${config.source.durable}`)
  lines.push(`${pad('start')}${start}`)
  lines.push('')
  if (chain) {
    const rows: string[][] = [['journal', 'file', 'form', 'bytes']]
    for (const a of chain.archives) {
      if (startJournal !== null && a.journal < startJournal) continue
      // One row per journal: the file that is read (plain over .gz, as the reader prefers).
      const [read, ...others] = a.files
      if (!read) continue
      const form = read.compressed ? 'gzip' : 'plain'
      const note = others.length ? ` (read; ${others.map((f) => f.path).join(', ')} also there: gzip running?)` : ''
      rows.push([String(a.journal), read.path, `${form}${note}`, String(read.size)])
    }
    rows.push([String(chain.live.journal), chain.live.path, 'live', chain.live.size === null ? 'missing' : String(chain.live.size)])
    lines.push('journals it would read, in order:')
    lines.push(...table(rows))
    lines.push('')
    lines.push(`${pad('gaps')}${chain.gaps.length ? `journal${chain.gaps.length > 1 ? 's' : ''} ${chain.gaps.join(', ')} missing` : 'none'}`)
  }
  const ls = config.listeners.map((l) => `${l.name} (${l.type === 'module' ? `module ${typeof l.module === 'string' ? l.module : 'inline'}` : l.type})`)
  lines.push(`${pad('listeners')}${ls.join(', ')}`)
  lines.push(`${pad('state file')}${config.source ? consumerStatePath(config.state, config.source) : config.state}`)
  for (const r of reviews) lines.push(`${pad('reviews')}${r}`)
  for (const d of deliveries) lines.push(`${pad('delivery')}${d}`)
  lines.push(
    `${pad('status page')}${config.status === false ? 'off' : `http://${hostPort(config.status.host, config.status.port)}/${config.status.token ? ' (token required)' : ''}${statusNote}`}`,
  )
  lines.push(`${pad('log')}${config.log.level}, to ${config.log.file ?? 'standard error'}`)
  for (const c of connected) lines.push(`${pad('connect')}${c}`)
  if (problems.length) {
    lines.push('', 'problems that would stop the daemon:')
    for (const p of problems) lines.push(`  - ${p}`)
  }
  return lines.join('\n') + '\n'
}

/** `logdaemon check`. */
export const checkCommand: Command = {
  brief: 'validate the configuration and print the journal chain it would read, without reading it',
  usage: 'logdaemon check [-c FILE] [--connect]',
  summary:
    'Validates the configuration, loads its listener modules, and prints where the daemon would\n' +
    'start and which journals it would read. Exit code 1 when it finds a problem.',
  options: {
    config: { ...CONFIG_OPTION, help: 'the configuration to check' },
    connect: { type: 'boolean', help: 'also log in to each hot-backup standby over ssh and run the remote script (writes nothing)' },
  },
  examples: [
    ['logdaemon check', `check ./${DEFAULT_CONFIG_FILE}`],
    ['logdaemon check -c /etc/logdaemon.mjs', 'check another file'],
    ['logdaemon check --connect', 'and try the standby: ssh login, host key, remote script'],
  ],
  async run(values, io) {
    const report = await checkConfig(String(values.config), { connect: values.connect === true })
    io.stdout.write(report.text)
    return report.problems.length ? 1 : 0
  },
}
