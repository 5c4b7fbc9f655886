/**
 * `hot-backup`: sends complete transactions to a standby over SSH, the
 * original logDaemon's reason to exist.
 *
 * ssh runs the remote script of hot-backup-remote.ts (BatchMode, strict
 * host key checking); journal bytes go only down its stdin. The standby
 * keeps `DIR/journal.N`, a byte-exact prefix of journal N, and acknowledges
 * each write once it is fsynced (and replayed, with `replay`).
 *
 * - Batching: entries are held until a transaction ends and sent when no
 *   earlier write awaits its acknowledgement, so batches grow under load
 *   instead of round trips. A transaction ends at an entry the source marked
 *   `consistent` (no process has one open); until the first such mark (a
 *   source that does not mark them) at every `@ex@`.
 * - Bound: at most `maxBufferBytes` (plus one entry) are held, unsent or
 *   unacknowledged; past it `listen` waits for the standby. A transaction
 *   larger than the bound is sent in pieces, so the standby's file can end
 *   inside it for a while; the daemon still commits only at the consistency
 *   point after it, once that is acknowledged.
 * - `sync(position)` sends everything held before `position`, even an
 *   unfinished transaction, and resolves when the standby has acknowledged
 *   it all; the daemon commits only then.
 * - Exactly once: positions are the identity. On every (re)connection the
 *   standby says how many bytes of a journal it has; bytes below that are
 *   skipped (even mid-record: the file is a prefix of the journal), bytes
 *   held are resent from there, and a standby that lacks bytes hot-backup no
 *   longer holds is ERR_REMOTE_GAP. A journal first met (at open, at a
 *   rotation) is sent from where the daemon resumed even when the standby
 *   has more: the standby compares those bytes, and a copy that differs,
 *   or that is longer than the journal, is ERR_REMOTE_MISMATCH.
 * - Reconnects with p-retry backoff; a refused host key (ERR_SSH_HOST_KEY),
 *   a failed login (ERR_SSH_AUTH) and a gap are not retried.
 */
import { resolve } from 'node:path'
import pRetry, { AbortError } from 'p-retry'
import { z } from 'zod'
import { ErrorCodes, LogdaemonError, isLogdaemonError } from '../../../errors.js'
import type { JournalEntry } from '../../../journal/entry.js'
import { comparePositions, formatPosition, type JournalPosition } from '../../../position.js'
import { DEFAULT_RECONNECT, retrySettings, type RetryOptions } from '../../../retry.js'
import { HeldBytes, type Chunk } from './hot-backup-held.js'
import { optionsSchema, type HotBackupInput, type HotBackupOptions } from './hot-backup-options.js'
import { remoteCommand } from './hot-backup-remote.js'
import type { Listener, ListenerContext, ListenerLogger } from '../../listener.js'
import { SshChannel, type SshTarget } from './ssh-channel.js'

export { optionsSchema, type HotBackupInput, type HotBackupOptions }

const FATAL: ReadonlySet<string> = new Set([ErrorCodes.SSH_HOST_KEY, ErrorCodes.SSH_AUTH, ErrorCodes.REMOTE_GAP, ErrorCodes.REMOTE_MISMATCH])

const silent: ListenerLogger = { debug() {}, info() {}, warn() {}, error() {} }

export class HotBackupListener implements Listener {
  readonly name: string
  readonly #options: HotBackupOptions
  readonly #reconnect: Required<RetryOptions>
  readonly #target: SshTarget
  readonly #command: string
  #logger: ListenerLogger = silent
  #signal: AbortSignal | undefined
  #channel: SshChannel | null = null
  #connecting: Promise<SshChannel> | null = null
  readonly #held = new HeldBytes()
  /** End of the last byte taken from an entry (or known to be on the standby). */
  #taken: JournalPosition | null = null
  /** The newest size the standby reported or acknowledged, for the status page. */
  #acked: JournalPosition | null = null
  #wake: (() => void)[] = []
  #closed = false
  /** Whether the source marks consistency points: then a lone `@ex@` (interleaved transactions) is no end. */
  #marksConsistency = false
  /** Connections lost since the last acknowledgement, and the last loss. */
  #strikes = 0
  #lastLoss: Error | null = null
  /** A standby found holding other bytes than the journal's: nothing more is sent to it. */
  #mismatch: Error | null = null

  /** Validates `options` (ERR_CONFIG_INVALID here, never later) and fills in the defaults. */
  constructor(options: HotBackupInput, name = 'hot-backup') {
    this.name = name
    const parsed = optionsSchema.safeParse(options)
    if (!parsed.success) {
      throw new LogdaemonError(ErrorCodes.CONFIG_INVALID, `listener "${name}": invalid options:\n${z.prettifyError(parsed.error)}`, { retryable: false })
    }
    this.#options = parsed.data
    this.#reconnect = retrySettings(parsed.data.reconnect, DEFAULT_RECONNECT)
    const o = this.#options
    this.#target = {
      ssh: o.ssh,
      host: o.host,
      user: o.user,
      port: o.port,
      identityFile: o.identityFile,
      knownHostsFile: o.knownHostsFile,
      configFile: o.sshConfigFile,
      connectTimeout: o.connectTimeout,
      answerTimeout: o.answerTimeout,
      options: { ...o.sshOptions },
    }
    this.#command = o.remoteCommand ?? remoteCommand({ dir: o.remoteDir ?? '.', replay: o.replay, fsync: o.fsync })
  }

  /** The ssh target (a copy) and the standby's journal directory, for `logdaemon verify --connect`. */
  get standby(): { target: SshTarget; remoteDir: string | null } {
    return { target: { ...this.#target, options: { ...this.#target.options } }, remoteDir: this.#options.remoteDir ?? null }
  }

  /**
   * Logs in, starts the remote script and asks how much of journal `journal`
   * the standby holds, then disconnects: `logdaemon check --connect`. Rejects
   * with ERR_SSH_HOST_KEY, ERR_SSH_AUTH or ERR_REMOTE_FAILED.
   */
  async probe(journal: number): Promise<number> {
    const quiet = { debug() {}, info() {}, warn() {}, error() {} }
    const ch = await SshChannel.open(this.#target, this.#command, quiet)
    try {
      return await ch.query(journal)
    } finally {
      await ch.close()
    }
  }

  /** Bytes held: pending plus sent and not yet acknowledged. */
  get heldBytes(): number {
    return this.#held.bytes
  }

  /** Connects (a wrong host key fails here, at start) and learns where the standby stands in the start journal. */
  async open(context: ListenerContext): Promise<void> {
    this.#logger = context.logger
    this.#signal = context.signal
    await this.#ensureChannel()
    if (context.start !== null) await this.#adoptJournal(context.start.journal, context.start.offset)
  }

  /** Every complete entry: the standby's journal must be byte-identical. */
  isHandled(entry: JournalEntry): boolean {
    return !entry.incomplete
  }

  async listen(entry: JournalEntry): Promise<void> {
    if (this.#closed) throw new LogdaemonError(ErrorCodes.REMOTE_FAILED, `${this.name} is closed`)
    const { journal, offset, end } = entry.position
    if (journal === null) {
      throw new LogdaemonError(ErrorCodes.JOURNAL_UNNUMBERED, `${this.name} needs numbered journals (journal.N): got an entry without a journal number`, {
        offset,
        line: entry.position.line,
        retryable: false,
      })
    }
    if (this.#taken === null || journal > this.#taken.journal) {
      this.#flush() // the previous journal is complete
      if (this.#taken !== null) await this.#checkEnd(this.#taken)
      await this.#adoptJournal(journal, offset)
    }
    const taken = this.#taken as JournalPosition
    // Already on the standby, or delivered again after a retry.
    if (journal < taken.journal || end <= taken.offset) return
    if (offset > taken.offset) {
      throw new LogdaemonError(
        ErrorCodes.REMOTE_GAP,
        `${this.name}: bytes ${taken.offset}..${offset} of journal ${journal} never reached it (skipped entries?): ` +
          'the standby cannot be byte-identical; restore it from a checkpoint',
        { journal, offset, retryable: false },
      )
    }
    const bytes = offset < taken.offset ? entry.raw.subarray(taken.offset - offset) : entry.raw
    if (entry.consistent) this.#marksConsistency = true
    this.#held.add(journal, taken.offset, bytes, entry.consistent || (!this.#marksConsistency && entry.op === 'ex'))
    this.#taken = { journal, offset: end }

    const max = this.#options.maxBufferBytes
    if (this.#held.pendingBytes >= max)
      this.#flush() // a piece of a huge transaction
    else this.#pump()
    if (this.#held.bytes > max) await this.#waitFor(() => this.#held.chunkBytes === 0)
  }

  noData(_hadData: boolean): void {
    this.#pump()
  }

  /** Resolves once the standby has acknowledged every byte before `position`. */
  async sync(position: JournalPosition): Promise<void> {
    const p = this.#held.pendingStart
    if (p !== null && comparePositions(p, position) < 0) this.#flush()
    await this.#waitFor(() => this.#held.clearBefore(position))
    this.#logger.debug({ listener: this.name, position: formatPosition(position) }, 'hot-backup: acknowledged')
  }

  async close(): Promise<void> {
    this.#closed = true
    const ch = this.#channel
    this.#channel = null
    if (this.heldBytes > 0) this.#logger.warn({ listener: this.name, bytes: this.heldBytes }, 'hot-backup: closing with unacknowledged bytes')
    await ch?.close()
    this.#notify()
  }

  /** How many bytes of `journal` the standby holds, asked again on a new channel when the channel fails. */
  async #querySize(journal: number): Promise<number> {
    for (;;) {
      const ch = await this.#ensureChannel()
      try {
        return await ch.query(journal)
      } catch {
        // The channel failed (a query fails no other way): reconnect and ask again; #connect bounds how often.
      }
    }
  }

  /** Journal `end.journal` ended at `end.offset`: a standby that holds more of it holds bytes that are not its. */
  async #checkEnd(end: JournalPosition): Promise<void> {
    const size = await this.#querySize(end.journal)
    if (size > end.offset) {
      throw new LogdaemonError(
        ErrorCodes.REMOTE_MISMATCH,
        `the standby ${this.#options.host} has ${size} bytes of journal ${end.journal}, which ended at ${end.offset}: ` +
          `its ${this.#options.remoteDir ?? 'remote directory'}/journal.${end.journal} is not a copy of this server's journal (another server's, or one from before a restore); ` +
          'move it away, or restore the standby from a checkpoint',
        { journal: end.journal, offset: end.offset, retryable: false },
      )
    }
  }

  /**
   * Learns how much of `journal` the standby has. Bytes from `offset` are
   * still sent: the standby compares those it has (a standby that holds
   * another journal N is ERR_REMOTE_MISMATCH) and writes only the rest.
   */
  async #adoptJournal(journal: number, offset: number): Promise<void> {
    const size = await this.#querySize(journal)
    if (size < offset) {
      throw new LogdaemonError(
        ErrorCodes.REMOTE_GAP,
        `the standby ${this.#options.host} has ${size} bytes of journal ${journal} but the journal continues from ${offset}: ` +
          `copy bytes ${size}..${offset} of journal ${journal} to ${this.#options.remoteDir ?? 'the standby'}/journal.${journal}, ` +
          'or restore the standby from a checkpoint and start the daemon from it',
        { journal, offset, retryable: false },
      )
    }
    this.#ack(journal, size)
    if (size > offset) this.#logger.info({ listener: this.name, journal, offset, size }, 'hot-backup: the standby is ahead; comparing what it has')
    if (this.#taken === null || comparePositions(this.#taken, { journal, offset }) < 0) this.#taken = { journal, offset }
  }

  /** The standby's acknowledged size of the newest journal it reported, `N/size`, or null before it was asked. */
  acknowledged(): string | null {
    const a = this.#acked
    return a === null ? null : formatPosition(a)
  }

  #ack(journal: number, size: number): void {
    if (this.#acked === null || comparePositions(this.#acked, { journal, offset: size }) < 0) this.#acked = { journal, offset: size }
  }

  /** Sends the complete transactions pending, when no earlier write awaits its acknowledgement. */
  #pump(): void {
    const complete = this.#held.completeBytes
    if (complete > 0 && this.#held.chunks.length === 0) this.#flush(complete)
  }

  /** Moves `bytes` (default all) pending bytes to a chunk and sends it if connected. */
  #flush(bytes?: number): void {
    const chunk = this.#held.flush(bytes)
    const ch = this.#channel
    if (chunk !== null && ch !== null && !ch.isFailed) this.#send(ch, chunk)
  }

  #send(ch: SshChannel, chunk: Chunk): void {
    chunk.sentOn = ch
    const { journal, offset, data } = chunk
    ch.write(journal, offset, data).then(
      (size) => {
        if (size < offset + data.length) {
          ch.destroy(
            new LogdaemonError(ErrorCodes.REMOTE_FAILED, `the standby acknowledged journal ${journal} up to ${size}, expected ${offset + data.length}`),
          )
          return
        }
        this.#strikes = 0
        this.#ack(journal, size)
        this.#held.acknowledged(chunk)
        this.#pump()
        this.#notify()
      },
      () => this.#notify(), // the channel's failure handler reports it
    )
  }

  /** Waits until `done()`, reconnecting (and resending) whenever the channel is down. */
  async #waitFor(done: () => boolean): Promise<void> {
    while (!done()) {
      this.#signal?.throwIfAborted()
      await this.#ensureChannel()
      if (done()) return
      await new Promise<void>((resolve) => this.#wake.push(resolve))
    }
  }

  #notify(): void {
    for (const wake of this.#wake.splice(0)) wake()
  }

  #ensureChannel(): Promise<SshChannel> {
    if (this.#closed) return Promise.reject(new LogdaemonError(ErrorCodes.REMOTE_FAILED, `${this.name} is closed`))
    if (this.#mismatch !== null) return Promise.reject(this.#mismatch)
    const ch = this.#channel
    if (ch !== null && !ch.isFailed) return Promise.resolve(ch)
    this.#connecting ??= this.#connect().finally(() => (this.#connecting = null))
    return this.#connecting
  }

  /**
   * Opens a channel with p-retry's backoff (the only wait). A channel that
   * connects and is then lost before any acknowledgement (the standby fails
   * every write, say) counts too: past `reconnect.retries` such losses the
   * last one is thrown (and the count starts again for the daemon's next
   * retry, which waits by the daemon's retry policy).
   */
  async #connect(): Promise<SshChannel> {
    const r = this.#reconnect
    if (this.#strikes > r.retries && this.#lastLoss !== null) {
      this.#strikes = 0
      throw this.#lastLoss
    }
    return pRetry(
      async () => {
        let ch: SshChannel | null = null
        try {
          ch = await SshChannel.open(this.#target, this.#command, this.#logger)
          await this.#resend(ch)
          return ch
        } catch (err) {
          ch?.destroy()
          // Retrying cannot fix a host key, a login or a gap: fail at once, unlogged here.
          throw isLogdaemonError(err) && FATAL.has(err.code) ? new AbortError(err) : err
        }
      },
      {
        ...r,
        signal: this.#signal,
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          this.#logger.warn({ listener: this.name, err: error, attemptNumber, retriesLeft }, 'hot-backup: connection to the standby failed')
        },
      },
    )
  }

  /**
   * On a new channel: resends every chunk whole, then makes it current. The
   * standby compares the bytes of a chunk it already has rather than
   * writing them (they may be bytes it was never shown to match, from a
   * journal first met); a standby that lacks bytes before a chunk is a gap.
   */
  async #resend(ch: SshChannel): Promise<void> {
    for (const journal of new Set(this.#held.chunks.filter((c) => c.sentOn !== null).map((c) => c.journal))) {
      const size = await ch.query(journal)
      const first = this.#held.chunks.find((c) => c.journal === journal)
      const gapAt = first !== undefined && size < first.offset ? first.offset : null
      if (gapAt !== null) {
        throw new LogdaemonError(
          ErrorCodes.REMOTE_GAP,
          `the standby ${this.#options.host} has only ${size} bytes of journal ${journal}, less than it acknowledged (${gapAt}): ` +
            'it lost acknowledged data; restore it from a checkpoint',
          { journal, offset: size, retryable: false },
        )
      }
    }
    for (const c of this.#held.chunks) this.#send(ch, c)
    this.#channel = ch
    ch.failed.then((err) => {
      if (this.#channel === ch) this.#channel = null
      if (isLogdaemonError(err) && err.code === ErrorCodes.REMOTE_MISMATCH) this.#mismatch ??= err
      if (!this.#closed) {
        this.#strikes++
        this.#lastLoss = err
        this.#logger.warn({ listener: this.name, err }, 'hot-backup: connection to the standby lost')
      }
      this.#notify()
    })
    if (this.#held.chunks.length > 0) this.#logger.info({ listener: this.name, chunks: this.#held.chunks.length }, 'hot-backup: resent after reconnecting')
  }
}

/**
 * The registry's factory: validated options in, listener out. Local paths
 * (identityFile, knownHostsFile, sshConfigFile) are taken from `baseDir`
 * (the configuration file's directory); remoteDir is the standby's.
 */
export function create(options: HotBackupOptions, context: { name: string; baseDir?: string }): HotBackupListener {
  const local = (p: string | null): string | null => (p === null ? null : resolve(context.baseDir ?? '.', p))
  return new HotBackupListener(
    {
      ...options,
      identityFile: local(options.identityFile),
      knownHostsFile: local(options.knownHostsFile),
      sshConfigFile: options.sshConfigFile === 'none' ? 'none' : local(options.sshConfigFile),
    },
    context.name,
  )
}
