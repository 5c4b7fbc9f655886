import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstream, jetstreamManager, type Consumer, type JetStreamManager, type JsMsg } from '@nats-io/jetstream'
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node'
import pRetry from 'p-retry'
import { ErrorCodes, LogdaemonError, isErrnoException, toError } from '../../errors.js'
import { connectNats, describeServers } from '../../jetstream/connect.js'
import { readMessagePosition, type MessagePosition } from '../../jetstream/journal-message.js'
import { JournalEntry, type EntryPosition, type FieldEncoding } from '../../journal/entry.js'
import { isRetryable, retrySettings } from '../../retry.js'
import { checkTimerMs } from '../../timer-ms.js'
import { comparePositions, formatPosition, type JournalPosition } from '../../position.js'
import type { JetStreamJournalSourceOptions, JetStreamStart, JetStreamStateAhead } from './jetstream-source-options.js'
import { QuietTimer } from '../quiet-timer.js'
import { subjectMatches } from '../../jetstream/subject-match.js'
import { EPHEMERAL_INACTIVE_MS, ensureConsumer } from './jetstream-consumer.js'
import { DurableLock } from './durable-lock.js'
import { AckRecord } from './ack-record.js'
import { ConsumerState } from './consumer-state.js'

export type { JetStreamJournalSourceOptions, JetStreamStart, JetStreamStateAhead } from './jetstream-source-options.js'

/** How long one pull waits for messages at the stream's end, ms; the server answers at once when it has some. */
const PULL_EXPIRES_MS = 5000
/** Heartbeats during a pull, so a dead connection is noticed within a few of them, ms. */
const PULL_HEARTBEAT_MS = 1000
/**
 * A delivered message is kept to be acknowledged later when it ends a
 * consistency point, and besides every this many messages (a filtered
 * consumer may see no consistency point): the bound on what waits for a
 * commit, and on how far acknowledgement may lag a commit.
 */
const ACK_EVERY = 256

/** Most kept messages (ACK_EVERY apart or at consistency points) waiting for a commit. */
const MAX_ACKABLES = 4096

/**
 * Missing messages up to this many are asked for one by one (a deleted
 * message, another subject's); a longer range first asks the stream where it
 * starts, in one request: limits or a purge may have removed most of it, and
 * a new consumer of a stream trimmed to sequence 29945 once asked for each of
 * the 29944 removed messages (14 s; hours for millions).
 */
const READ_MISSING_DIRECTLY = 16

/** While committed records are skipped, how many messages read between two looks at the clock for a `skipping` progress event. */
const SKIP_PROGRESS_EVERY = 1024

/** How often, and how far apart, flushState looks whether the consumer has applied the newest acknowledgement. */
const FLUSH_CHECKS = 20
const FLUSH_CHECK_MS = 10

interface Ackable {
  readonly end: JournalPosition
  /** Its stream sequence. */
  readonly seq: number
  /**
   * The delivered message, to acknowledge; null for one read from the
   * stream directly (what a previous run received and left
   * unacknowledged), which only the ack record can mark committed.
   */
  readonly msg: JsMsg | null
}

/**
 * Whether the record at `p` starts where the one before it ended (`prev`):
 * at the same offset of the same journal, at 0 of the next journal, or at 0
 * of a later one whose Journal-End header says the journals between held no
 * record (journal N ended where the record before it ended).
 */
function follows(prev: JournalPosition, p: MessagePosition): boolean {
  if (p.journal === prev.journal) return p.offset === prev.offset
  if (p.offset !== 0) return false
  if (p.journal === prev.journal + 1) return true
  return p.journal > prev.journal + 1 && p.journalEnd !== null && p.journalEnd.journal === prev.journal && p.journalEnd.offset === prev.offset
}

/** The stream lacks records this consumer needs: not retried. */
function gap(p: MessagePosition, what: string): LogdaemonError {
  return Object.assign(
    new LogdaemonError(
      ErrorCodes.JETSTREAM_GAP,
      `${what}: the stream lacks records (removed by limits, purged, or published by another daemon). ` +
        'Rebuild the consumers from a checkpoint, or republish the journals into a new stream',
      { journal: p.journal, offset: p.offset, line: p.line },
    ),
    { retryable: false },
  )
}

function mismatch(message: string): LogdaemonError {
  return Object.assign(new LogdaemonError(ErrorCodes.JETSTREAM_MISMATCH, message), { retryable: false })
}

/**
 * The journal as published by the `jetstream` listener, read back from a
 * JetStream stream by a pull consumer: an object-mode Readable of
 * {@link JournalEntry} with the same bytes and positions (`N/offset`,
 * line) as the rotating source gave the publisher, `didRotate` on the first
 * entry of each journal and `consistent` on consistency points.
 *
 * With a `durable` consumer, `commit(entry or position)` acknowledges every
 * message up to it (AckPolicy All); a restart resumes after the last
 * acknowledged message. Messages the server delivers again (after
 * `ackWaitMs`) are dropped by stream sequence: each record comes once per
 * run. Without a filter, a record that does not start where the previous
 * one ended fails the stream with ERR_JETSTREAM_GAP.
 *
 * Backpressure: one pull of `batch` messages at a time, the next only when
 * the consumer wants entries. Emits `quiet` (hadData) after `quietMs`
 * without a message at the stream's end, and `rotate` when a journal ends.
 */
export class JetStreamJournalSource extends Readable {
  readonly #options: JetStreamJournalSourceOptions
  readonly #encoding: FieldEncoding
  readonly #subject: string
  readonly #filters: string[]
  readonly #abort = new AbortController()
  readonly #quiet: QuietTimer
  #nc: NatsConnection | null = null
  #jsm: JetStreamManager | null = null
  #consumer: Consumer | null = null
  #consumerName: string | null = null
  #lock: DurableLock | null = null
  /** This reader's own record of what it acknowledged (with the lock only; see AckRecord). */
  #ackRecord: AckRecord | null = null
  /** The reader's own record of what its listeners committed, on this host (the `state` option; see ConsumerState). */
  #localState: ConsumerState | null = null
  /** The newest committed position to save there once the save under way is done. */
  #toSave: JournalPosition | null = null
  /**
   * The position the state file recorded, past what the consumer had
   * acknowledged: messages ending at or before it were committed, and are
   * not handed out again (a new consumer of a stream made again sends
   * them). Cleared at the first message past it.
   */
  #skipThrough: JournalPosition | null = null
  /** The state file's position when reading starts there (the same object as #prev until a record is handed out). */
  #savedStart: JournalPosition | null = null
  #skipped = 0
  /** When skipping began, or the last `skipping` event (performance.now()). */
  #skipProgressAt = 0
  /** Messages read while skipping (those the filters drop too), for the `skipping` event. */
  #skipRead = 0
  /** The record found at open was another consumer's (see #ackFloor). */
  #staleRecord = false
  /** The newest message to acknowledge once the record says so, and whether a record write is under way. */
  #toAck: Ackable | null = null
  #recording: Promise<void> | null = null
  #opening: Promise<JetStreamStart | null> | null = null
  #start: JetStreamStart | null = null
  #pumping = false
  #more = true
  /** Resolves the pull waiting for the consumer to want entries again. */
  #wake: (() => void) | null = null
  /** Consumer delivery sequence of the last message received, and whether one was received since open. */
  #lastDseq = 0
  #receivedAny = false
  /** Stream sequence the consumer had delivered at open: what a previous run received and did not acknowledge ends there. */
  #backlogTo = 0
  /** Messages the consumer had to deliver at open (new ones plus the unacknowledged backlog): `untilEnd` stops after them. */
  #pendingAtOpen = 0
  /** Of those, the messages never delivered (the rest is the backlog up to #backlogTo, read directly). */
  #newAtOpen = 0
  /** Stream sequence of the last message handed out: anything at or below it is a redelivery. */
  #lastSeq = 0
  /** End of the last record handed out (or acknowledged before the start). */
  #prev: JournalPosition | null = null
  /**
   * The stream sequence acknowledged before the start when the stream no
   * longer holds its message (limits removed it): where the record before
   * the first one read ended is then unknown, so the first message must be
   * the one right after it, or records were removed unread.
   */
  #floorGone: number | null = null
  #ackables: Ackable[] = []
  #lastDelivered: Ackable | null = null
  #sinceAckable = 0
  #committed: JournalPosition | null = null
  #acked: JournalPosition | null = null
  #entries = 0
  #lastDataAt: Date | null = null

  constructor(options: JetStreamJournalSourceOptions) {
    super({ objectMode: true, highWaterMark: options.highWaterMark ?? 16 })
    const o = (this.#options = { ...options })
    checkTimerMs('quietMs', o.quietMs)
    checkTimerMs('skipProgressMs', o.skipProgressMs)
    checkTimerMs('ackWaitMs', o.ackWaitMs)
    retrySettings(o.retry) // throws a RangeError for a delay past 2^31-1 ms now rather than at the first retry
    if (o.state !== undefined && o.durable === undefined) throw new TypeError('state: a state file needs a durable consumer (durable)')
    this.#encoding = o.encoding ?? 'utf8'
    this.#subject = o.subject ?? 'p4.journal'
    this.#filters = o.filter === undefined ? [] : typeof o.filter === 'string' ? [o.filter] : [...o.filter]
    this.#quiet = new QuietTimer(o.quietMs ?? 2000, (hadData) => this.emit('quiet', hadData))
    if (o.signal?.aborted) process.nextTick(() => this.destroy())
    else o.signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  /** The lease being given back after a failed open (see open()). */
  #releasing: Promise<void> | null = null

  /** Where reading starts (null for an empty stream); known after `open()`. */
  get start(): JetStreamStart | null {
    return this.#start
  }

  /** What the status page shows. */
  get status(): {
    committed: JournalPosition | null
    acked: JournalPosition | null
    position: JournalPosition | null
    entries: number
    lastDataAt: Date | null
    live: null
  } {
    return { committed: this.#committed, acked: this.#acked, position: this.#prev, entries: this.#entries, lastDataAt: this.#lastDataAt, live: null }
  }

  /**
   * Connects, checks the stream, creates or finds the consumer and learns
   * where reading starts. Reading calls it; call it first to fail early.
   * Rejects with ERR_JETSTREAM_CONNECT or ERR_JETSTREAM_MISMATCH.
   */
  open(): Promise<JetStreamStart | null> {
    this.#opening ??= this.#open().catch(async (err: unknown) => {
      // The lease goes with the failed open, destroyed or not: kept and renewed, it refused the next reader of the
      // durable consumer (ERR_LOCKED) for as long as this process lived, this process's own next try included.
      const lock = this.#lock
      this.#lock = null
      const local = this.#localState
      this.#localState = null
      // A destroy meanwhile waits for it before it closes the connection.
      this.#releasing = Promise.all([lock?.release().catch(() => {}), local?.close()]).then(() => {})
      await this.#releasing
      throw err
    })
    return this.#opening
  }

  async #open(): Promise<JetStreamStart | null> {
    const o = this.#options
    // First: a second reader of the same file fails at once (ERR_LOCKED), before any connection.
    if (o.state !== undefined) this.#localState = await ConsumerState.open(o.state, { stream: o.stream, durable: o.durable as string })
    if (this.destroyed) {
      await this.#localState?.close()
      return null
    }
    await this.#connect()
    const jsm = this.#jsm as JetStreamManager
    const info = await pRetry(async () => {
      try {
        return await jsm.streams.info(o.stream)
      } catch (err) {
        if ((err as { name?: unknown }).name !== 'StreamNotFoundError') throw err
        const e = mismatch(
          `stream ${o.stream} does not exist on ${describeServers(o)}: start the publishing daemon (jetstream listener) first, or check the stream name`,
        )
        throw Object.assign(e, { retryable: o.waitForStream === true })
      }
    }, this.#openRetry())
    if (o.durable !== undefined && o.exclusive !== false) {
      const durable = o.durable
      await this.#lockDurable(durable, info.config.num_replicas)
      const js = jetstream(this.#nc as NatsConnection)
      this.#ackRecord = await pRetry(() => AckRecord.open(jsm, js, { stream: o.stream, durable, replicas: info.config.num_replicas }), this.#openRetry())
    }
    // A cluster electing a leader answers these with timeouts for a while: retried like the stream lookup.
    const name = await pRetry(() => this.#ensureConsumer(), this.#openRetry())
    const ci = await pRetry(() => jsm.consumers.info(o.stream, name), this.#openRetry())
    const floor = await this.#ackFloor(ci.ack_floor.stream_seq, ci.delivered.stream_seq)
    this.#newAtOpen = ci.num_pending
    this.#pendingAtOpen = ci.num_pending + Math.max(0, ci.delivered.stream_seq - floor)
    this.#backlogTo = ci.delivered.stream_seq
    let start: JetStreamStart | null = null
    if (floor > 0) {
      const m = await jsm.streams.getMessage(o.stream, { seq: floor }).catch(() => null)
      if (m) {
        const p = readMessagePosition(m.header, `message ${m.seq} of stream ${o.stream}`)
        this.#prev = { journal: p.journal, offset: p.offset + m.data.length }
        this.#acked = this.#prev
        let lines = 0
        for (const b of m.data) if (b === 0x0a) lines++
        start = { journal: p.journal, offset: p.offset + m.data.length, line: p.line === 0 ? 0 : p.line + lines, how: 'acked', seq: floor + 1 }
      } else {
        this.#floorGone = floor
      }
      this.#lastSeq = floor
    }
    if (!start && info.state.messages > 0) {
      const first = await jsm.streams.getMessage(o.stream, { seq: Math.max(floor + 1, info.state.first_seq) }).catch(() => null)
      if (first) {
        const p = readMessagePosition(first.header, `message ${first.seq} of stream ${o.stream}`)
        start = { journal: p.journal, offset: p.offset, line: p.line, how: 'stream', seq: first.seq }
      }
    }
    start = this.#afterSaved(start, floor, info.created, await this.#streamEnd(info.state), await this.#filteredFirst(info.state))
    if (this.#staleRecord) {
      // Replaced now: a run of the new consumer stopped before its first commit must not find it again.
      const record = this.#ackRecord as AckRecord
      const at = this.#acked ?? { journal: 0, offset: 0 }
      await pRetry(() => record.write({ seq: floor, journal: at.journal, offset: at.offset }), this.#openRetry())
    }
    this.#start = start
    // Quiet only with nothing to deliver: with messages pending, a slow first pull is no quiet (--until-caught-up stopped
    // at it, having read nothing). Otherwise the pull arms it once the consumer has nothing pending.
    if (this.#pendingAtOpen === 0) this.#quiet.waiting()
    this.emit('start', start)
    return start
  }

  /**
   * Where reading starts once the state file is taken into account: its
   * position, when past what the consumer acknowledged (see #skipThrough).
   * The record before the first one handed out then ended there, so the
   * first must start there (without a filter: ERR_JETSTREAM_GAP
   * otherwise), as after an acknowledged message. Past the position of an
   * acknowledged message only when the file is newer than the
   * acknowledgement (a run stopped between the two), or when the consumer
   * is not the one that acknowledged it (the stream or the consumer made
   * again, a nats-server that lost its store).
   */
  #afterSaved(
    start: JetStreamStart | null,
    floor: number,
    streamCreated: string,
    streamEnd: JournalPosition | null,
    filteredFirst: MessagePosition | null,
  ): JetStreamStart | null {
    const local = this.#localState
    if (local === null) return start
    const saved = local.saved
    local.streamCreated = streamCreated
    if (saved === null) return start
    this.#committed = { journal: saved.journal, offset: saved.offset }
    if (this.#prev !== null && comparePositions(saved, this.#prev) <= 0) return start
    this.#skipThrough = this.#committed
    this.#skipProgressAt = performance.now()
    this.#savedStart = this.#committed
    this.#prev = this.#committed
    // The saved position is the better check: the first record handed out must start there, whatever was removed before.
    this.#floorGone = null
    // Past the stream's last record, the file says nothing of this stream's records (edited, another host's, a journal
    // numbering that went back): every record up to it is skipped. Before, with the same stream and consumer, that was
    // silent (a probe: 4/999999999 skipped every record with an info line "reading from" only).
    const pastEnd = streamEnd !== null && comparePositions(saved, streamEnd) > 0
    // A filtered reader: the stream starting after the position, not right after it, holds none of the records between.
    // Some may have been this reader's: it cannot tell (it never saw the others), so it says so rather than stopping (a
    // reader whose subjects had nothing there would be stopped for nothing). Before, it was silent (a probe).
    const hole = filteredFirst !== null && comparePositions(filteredFirst, saved) > 0 && !follows(saved, filteredFirst)
    if (floor === 0 || (saved.streamCreated !== null && saved.streamCreated !== streamCreated) || pastEnd || hole) {
      const ahead: JetStreamStateAhead = {
        saved: this.#committed,
        savedAt: saved.savedAt,
        streamCreated,
        savedStreamCreated: saved.streamCreated,
        acknowledged: floor,
        streamEnd: pastEnd ? streamEnd : null,
        streamStart: hole ? { journal: filteredFirst.journal, offset: filteredFirst.offset } : null,
      }
      this.emit('stateAhead', ahead)
    }
    return { journal: saved.journal, offset: saved.offset, line: 0, how: 'state', seq: start?.seq ?? floor + 1 }
  }

  /**
   * For a filtered reader with a state file: where the stream's first
   * message, of any subject, starts (null: not filtered, no file, an empty
   * stream). A filtered reader sees only its subjects, so the first record
   * it is handed says nothing of a hole before it; the stream's first
   * message does (see #afterSaved).
   */
  async #filteredFirst(state: { messages: number; first_seq: number }): Promise<MessagePosition | null> {
    if (this.#filters.length === 0 || this.#localState?.saved == null || state.messages === 0) return null
    const m = await (this.#jsm as JetStreamManager).streams.getMessage(this.#options.stream, { seq: state.first_seq }).catch(() => null)
    if (m === null) return null
    try {
      return readMessagePosition(m.header, `message ${m.seq} of stream ${this.#options.stream}`)
    } catch {
      return null // not a journal message: said when it is read, not here (this only decides a warning)
    }
  }

  /** Where the stream's last record ends, when a state file holds a position to compare it with (null: none, or no record). */
  async #streamEnd(state: { messages: number; last_seq: number }): Promise<JournalPosition | null> {
    if (this.#localState?.saved == null || state.messages === 0) return null
    const m = await (this.#jsm as JetStreamManager).streams.getMessage(this.#options.stream, { seq: state.last_seq }).catch(() => null)
    if (m === null) return null
    try {
      const p = readMessagePosition(m.header, `message ${m.seq} of stream ${this.#options.stream}`)
      return { journal: p.journal, offset: p.offset + m.data.length }
    } catch {
      return null // not a journal message: said when it is read, not here (this only decides a warning)
    }
  }

  /**
   * The last message this consumer acknowledged: the consumer's ack floor,
   * checked against this reader's own record (AckRecord). A floor past the
   * record over messages the stream no longer holds was moved by the
   * server over messages the limits removed unacknowledged: those were
   * never handed out, so reading goes on from the record, where the next
   * message read shows the gap (ERR_JETSTREAM_GAP). A record past the floor
   * (a run that stopped between the record and its acknowledgement): the
   * messages up to it were committed, and are not handed out again.
   * Without a filter only: a filtered consumer's floor also moves over the
   * messages its filter skips. A record of a message the consumer never
   * delivered is not of this consumer but of an older one of that name,
   * deleted (or its stream) and made again: it says nothing about this
   * one, which starts at its own floor, and it is replaced (see #open).
   */
  async #ackFloor(serverFloor: number, delivered: number): Promise<number> {
    let rec = this.#ackRecord?.last ?? null
    if (rec !== null && rec.seq > delivered) {
      this.#staleRecord = true
      rec = null
    }
    if (rec === null || this.#filters.length > 0 || rec.seq === serverFloor) return serverFloor
    if (rec.seq > serverFloor) {
      this.#recordedSeq = rec.seq
      return rec.seq
    }
    const next = await (this.#jsm as JetStreamManager).streams.getMessage(this.#options.stream, { seq: rec.seq + 1 }).catch(() => null)
    return next === null ? rec.seq : serverFloor
  }

  async #connect(): Promise<void> {
    const o = this.#options
    const nc = await connectNats(o, { ...(o.retry ? { retry: o.retry } : {}), signal: this.#abort.signal })
    this.#nc = nc
    try {
      this.#jsm = await jetstreamManager(nc)
    } catch (err) {
      // No JetStream for this account (or none answering): the connection goes with the failed open, which
      // is not retried; left open, it kept the process alive when the caller did not destroy the source.
      this.#nc = null
      await nc.close().catch(() => {})
      throw err
    }
    if (this.destroyed) await nc.close()
  }

  /** Takes the durable consumer's lease (ERR_LOCKED when another live reader has it); failures to reach the server are retried. */
  async #lockDurable(durable: string, replicas: number): Promise<void> {
    const o = this.#options
    this.#lock = await pRetry(
      () =>
        DurableLock.acquire(this.#jsm as JetStreamManager, jetstream(this.#nc as NatsConnection), {
          stream: o.stream,
          durable,
          replicas,
          signal: this.#abort.signal,
          onLost: (err) => this.destroy(err),
        }),
      this.#openRetry(),
    )
    if (this.destroyed) await this.#lock.release()
  }

  /** How `open()` retries what may pass (no stream yet, no server): with `retry`'s backoff, each failure a `retry` event. */
  #openRetry(): Parameters<typeof pRetry>[1] {
    return {
      ...retrySettings(this.#options.retry),
      signal: this.#abort.signal,
      shouldRetry: ({ error }) => !this.destroyed && isRetryable(error),
      onFailedAttempt: ({ error, retriesLeft }) => {
        if (!this.destroyed && isRetryable(error) && retriesLeft > 0) this.emit('retry', { err: error, retriesLeft })
      },
    }
  }

  /** The durable consumer (created when missing, checked when found), or a new ephemeral one (from `startSeq`). Returns its name. */
  async #ensureConsumer(startSeq?: number): Promise<string> {
    const o = this.#options
    const filter = this.#filters.length === 1 ? (this.#filters[0] as string) : `${this.#subject}.>`
    this.#consumerName = await ensureConsumer(this.#jsm as JetStreamManager, {
      stream: o.stream,
      filter,
      ...(o.durable !== undefined ? { durable: o.durable } : {}),
      ...(startSeq !== undefined ? { startSeq } : {}),
      ackWaitMs: o.ackWaitMs ?? 60_000,
    })
    this.#consumer = await jetstream(this.#nc as NatsConnection).consumers.get(o.stream, this.#consumerName)
    return this.#consumerName
  }

  /**
   * `target` and every entry before it are done: with a durable consumer,
   * the newest kept message at or before it is acknowledged, and with it
   * every message before (AckPolicy All).
   */
  commit(target: JournalEntry | EntryPosition | JournalPosition): void {
    const p: EntryPosition | JournalPosition = target instanceof JournalEntry ? target.position : target
    if (p.journal === null) return
    const pos = { journal: p.journal, offset: 'end' in p ? p.end : p.offset }
    if (this.#committed && comparePositions(pos, this.#committed) <= 0) return
    this.#committed = pos
    if (this.#options.durable === undefined) return
    this.#ackThrough(pos)
  }

  /** Acknowledges the newest kept message at or before `pos` (committed), after the records (see #recordAndAck). */
  #ackThrough(pos: JournalPosition): void {
    let pick: Ackable | null = null
    while (this.#ackables.length > 0 && comparePositions((this.#ackables[0] as Ackable).end, pos) <= 0) pick = this.#ackables.shift() as Ackable
    const last = this.#lastDelivered
    if (last && comparePositions(last.end, pos) <= 0 && (!pick || comparePositions(last.end, pick.end) > 0)) pick = last
    if (pick && this.#acked && comparePositions(pick.end, this.#acked) <= 0) pick = null
    if (this.#ackRecord !== null || this.#localState !== null) {
      // Recorded first (the state file, the ack record), then acknowledged: the newest waits while a record is being written.
      if (this.#localState !== null) this.#toSave = pos
      if (pick) {
        this.#acked = pick.end
        if (pick.msg !== null) this.#ackedSeq = pick.seq
        this.#toAck = pick
      }
      this.#recording ??= this.#recordAndAck().finally(() => {
        this.#recording = null
      })
      return
    }
    if (!pick || pick.msg === null) return // read directly: kept with a record only
    try {
      pick.msg.ack()
    } catch {
      // The connection is closed: not acknowledged, so delivered again next time (at-least-once).
      return
    }
    this.#acked = pick.end
    this.#ackedSeq = pick.seq
  }

  /** Why an acknowledgement after the end was not sent (its record could not be written): flushState rejects with it. */
  #ackFailure: Error | null = null

  /**
   * Saves the newest committed position in the state file and writes the
   * ack record of the newest pick, then acknowledges it; each write retried
   * with the `retry` settings. A record that cannot be written fails the
   * stream (nothing acknowledged past it: delivered again next time). Once
   * the stream is destroyed (its end, or a stop), one attempt each: a
   * caller that commits after the end (logdaemon-cat) still gets its
   * acknowledgement out before `_destroy` closes the connection.
   */
  async #recordAndAck(): Promise<void> {
    while (this.#toAck !== null || this.#toSave !== null) {
      const a = this.#toAck
      const save = this.#toSave
      this.#toAck = null
      this.#toSave = null
      const local = this.#localState
      // A commit after the source closed (a listener finishing once the source failed): its lock is given back, so
      // nothing is saved, nor acknowledged past the file (delivered again next time).
      if (local?.closed) return
      if (save !== null && local !== null && !(await this.#record(() => local.save(save)))) return
      if (a === null) continue
      const record = this.#ackRecord
      if (record !== null && !(await this.#record(() => record.write({ seq: a.seq, journal: a.end.journal, offset: a.end.offset })))) return
      this.#recordedSeq = Math.max(this.#recordedSeq, a.seq)
      if (!this.#ackNow(a.msg)) return
    }
  }

  /** One record write of #recordAndAck, retried; false when it failed (the stream destroyed, or the failure kept for flushState). */
  async #record(write: () => Promise<void>): Promise<boolean> {
    try {
      if (this.destroyed) await write()
      else
        await pRetry(write, {
          ...retrySettings(this.#options.retry),
          signal: this.#abort.signal,
          shouldRetry: ({ error }) => !this.destroyed && isRetryable(error),
        })
      return true
    } catch (err) {
      if (!this.destroyed) {
        this.destroy(toError(err))
        return false
      }
      if (!isRetryable(toError(err))) {
        this.#ackFailure ??= toError(err)
        return false
      }
      // Destroyed during the retries (which stop with it): one more attempt, or delivered again next time (and
      // flushState says so: logdaemon-cat --durable exited 0 having acknowledged nothing it printed).
      const failed = await write().then(
        () => null,
        (e: unknown) => toError(e),
      )
      if (failed !== null) {
        this.#ackFailure ??= failed
        return false
      }
      return true
    }
  }

  /** Acknowledges `msg` (and every message before it); false when the connection is closed (delivered again next time). */
  #ackNow(msg: JsMsg | null): boolean {
    // Read from the stream directly: the record alone says it was committed (the consumer acknowledges it with a later one).
    if (msg === null) return true
    try {
      msg.ack()
    } catch {
      return false
    }
    return true
  }

  /** The stream sequence of the newest message acknowledged, or null. */
  #ackedSeq: number | null = null
  /** The stream sequence the ack record says was committed through (0: none). */
  #recordedSeq = 0

  /**
   * Makes sure the consumer has taken the acknowledgements sent so far: a
   * round trip to the server, then, with a durable consumer, its ack floor
   * looked at until it reaches the newest acknowledged message (a few
   * tries, FLUSH_CHECKS at the most). The round trip alone was not enough:
   * the server reads an acknowledgement on the connection and hands it to
   * the consumer, which applies it a moment later, and a reader that looked
   * at the consumer right after a flush found it missing (the test of a
   * removed acknowledged message failed so, on a busy machine). Not
   * reaching it is no error: the messages are delivered again
   * (at-least-once). Rejects when a commit made after the end (the source
   * already destroyed) could not be recorded, and so was not acknowledged.
   */
  async flushState(): Promise<void> {
    await this.#recording
    if (this.#ackFailure) throw this.#ackFailure
    const nc = this.#nc
    if (!nc || nc.isClosed()) return
    await nc.flush()
    const seq = this.#ackedSeq
    const name = this.#consumerName
    const jsm = this.#jsm
    if (seq === null || name === null || jsm === null || this.#options.durable === undefined) return
    for (let i = 0; i < FLUSH_CHECKS && !nc.isClosed(); i++) {
      const info = await jsm.consumers.info(this.#options.stream, name).catch(() => null)
      if (info === null || info.ack_floor.stream_seq >= seq) return
      await sleep(FLUSH_CHECK_MS)
    }
  }

  /** `for await` ends without an error when the source is destroyed without one. */
  override async *[Symbol.asyncIterator](): AsyncGenerator<JournalEntry, undefined> {
    try {
      for await (const entry of super[Symbol.asyncIterator]()) yield entry as JournalEntry
    } catch (err) {
      if (!(this.destroyed && this.errored === null && isErrnoException(err) && err.code === 'ERR_STREAM_PREMATURE_CLOSE')) throw err
    }
    return undefined
  }

  override _read(): void {
    this.#more = true
    const wake = this.#wake
    this.#wake = null
    wake?.()
    if (this.#pumping) return
    this.#pumping = true
    this.#pump().catch((err: unknown) => {
      if (!this.destroyed) this.destroy(toError(err))
    })
  }

  readonly #onAbort = (): void => {
    this.destroy()
  }

  override _destroy(err: Error | null, cb: (error?: Error | null) => void): void {
    this.#options.signal?.removeEventListener('abort', this.#onAbort)
    this.#abort.abort()
    this.#quiet.stop()
    const nc = this.#nc
    this.#nc = null
    const lock = this.#lock
    this.#lock = null
    const closing = async (): Promise<void> => {
      try {
        await this.#closeConnection(nc, lock)
      } finally {
        // After the last save: the lock goes with the source. An open that the destroy failed (its retries aborted)
        // gives its locks back itself (#releasing, set after this began): waited for too, or `close` came first and a
        // daemon stopped while waiting for its stream exited with the state file's lock still there (a probe).
        while (this.#recording) await this.#recording
        await this.#releasing
        await this.#localState?.close()
      }
    }
    closing().then(
      () => cb(err),
      (e: unknown) => cb(err ?? toError(e)),
    )
  }

  async #closeConnection(nc: NatsConnection | null, lock: DurableLock | null): Promise<void> {
    await this.#releasing
    if (!nc || nc.isClosed()) return
    // Acknowledgements still being recorded (see AckRecord), also of commits made meanwhile, go before the connection.
    while (this.#recording) await this.#recording
    await lock?.release()
    while (this.#recording) await this.#recording
    // A lease given back by an open that failed meanwhile goes out before the connection closes.
    await this.#releasing
    // Acknowledgements already sent reach the server before the connection closes.
    await nc.flush().catch(() => {})
    await nc.close()
  }

  /** Pulls batches while the consumer wants entries; one pull failing is retried with backoff. */
  async #pump(): Promise<void> {
    try {
      await this.open()
      if (this.#options.untilEnd && this.#pendingAtOpen === 0) {
        this.push(null)
        return
      }
      // Delivered to a previous run and never acknowledged: the server would send them again only after the ack wait.
      if (this.#backlogTo > this.#lastSeq) {
        await this.#readMissing(this.#lastSeq + 1, this.#backlogTo)
        // That was all there was to read at open: ended now, not after a pull that waits for PULL_EXPIRES_MS for nothing
        // (logdaemon-cat --durable after a killed run took 5 s more to exit).
        if (this.#options.untilEnd && this.#newAtOpen === 0 && !this.destroyed) {
          this.#quiet.waiting()
          this.push(null)
          return
        }
      }
      const retry = retrySettings(this.#options.retry)
      while (!this.destroyed && this.#more) {
        await pRetry(() => this.#beforePull().then(() => this.#pullOnce()), {
          ...retry,
          signal: this.#abort.signal,
          shouldRetry: ({ error }) => !this.destroyed && isRetryable(error),
          onFailedAttempt: ({ error, retriesLeft }) => {
            if (!this.destroyed && isRetryable(error) && retriesLeft > 0) this.emit('retry', { err: error, retriesLeft })
          },
        })
      }
    } catch (err) {
      if (this.destroyed) return
      throw err
    } finally {
      this.#pumping = false
    }
  }

  /** When the last pull ended (the server's clock of an ephemeral consumer's inactivity starts there), and whether it failed. */
  #pullEndedAt = performance.now()
  #pullFailed = false

  /**
   * The server removes an ephemeral consumer after EPHEMERAL_INACTIVE_MS
   * without a pull: a reader paused longer (logdaemon-cat --jetstream into a
   * pager) then failed with "heartbeats missed", the rest unread. Before a
   * pull that comes after a third of that, or after a failed one, the
   * consumer is looked up and, when gone, made again from the message after
   * the last one handed out.
   */
  async #renewEphemeral(): Promise<void> {
    if (this.#options.durable !== undefined || this.#consumerName === null) return
    if (!this.#pullFailed && performance.now() - this.#pullEndedAt < EPHEMERAL_INACTIVE_MS / 3) return
    const jsm = this.#jsm as JetStreamManager
    const gone = await jsm.consumers.info(this.#options.stream, this.#consumerName).then(
      () => false,
      (err: unknown) => {
        if ((err as { name?: unknown }).name === 'ConsumerNotFoundError' || (err as { code?: unknown }).code === 10014) return true
        throw err
      },
    )
    if (!gone) return
    await this.#ensureConsumer(this.#lastSeq + 1)
    // A new consumer counts its deliveries from 1 again.
    this.#lastDseq = 0
  }

  /** What a pull needs first: an ephemeral consumer still there, a durable one not deleted. */
  async #beforePull(): Promise<void> {
    await this.#renewEphemeral()
    await this.#checkDurable()
  }

  /**
   * After a failed pull, a durable consumer (or its stream) deleted behind
   * the reader's back fails the stream with ERR_JETSTREAM_MISMATCH, not
   * retried, naming where reading stood. Before, every pull failed with the
   * client's "heartbeats missed" (no pull is answered for a consumer that
   * is gone), retried until the daemon gave up minutes later with that bare
   * message, no code and no position (a probe: `nats consumer rm`, or a
   * nats-server whose store was lost, while the daemon read).
   */
  async #checkDurable(): Promise<void> {
    const o = this.#options
    if (o.durable === undefined || !this.#pullFailed) return
    const jsm = this.#jsm as JetStreamManager
    const gone = await jsm.consumers.info(o.stream, o.durable).then(
      () => null,
      (err: unknown) => {
        const e = err as { name?: unknown; code?: unknown }
        if (e.name === 'ConsumerNotFoundError' || e.code === 10014) return `durable consumer ${o.durable} of stream ${o.stream} was deleted`
        if (e.name === 'StreamNotFoundError' || e.code === 10059) return `stream ${o.stream} was deleted`
        throw err
      },
    )
    if (gone === null) return
    const at = this.#prev ? formatPosition(this.#prev) : 'the start'
    throw mismatch(
      `${gone} while this reader read it (the last record handed out ended at ${at}, stream sequence ${this.#lastSeq}): ` +
        'nothing more is read. A new durable consumer reads the stream from its start (its listeners see again what they had, ' +
        'a mirror skips it): start the daemon again once the stream is there, or rebuild the consumers from a checkpoint',
    )
  }

  /** One pull: up to `batch` messages, handed out as they arrive; returns early when the buffer is full. */
  async #pullOnce(): Promise<void> {
    try {
      await this.#pullMessages()
      this.#pullFailed = false
    } catch (err) {
      this.#pullFailed = true
      throw err
    }
  }

  async #pullMessages(): Promise<void> {
    const consumer = this.#consumer as Consumer
    const batch = this.#options.batch ?? 256
    const messages = await consumer.fetch({ max_messages: batch, expires: PULL_EXPIRES_MS, idle_heartbeat: PULL_HEARTBEAT_MS })
    // The pull is read to its end as its messages come, whatever the consumer's pace, and they wait here (at most
    // `batch`): the client checks the pull's heartbeats while messages wait in it, and a consumer that held the rest of
    // a batch for longer than two heartbeats (a slow listener) failed the pull with "heartbeats missed", and the daemon
    // once its retries ran out.
    const arrived: JsMsg[] = []
    const pull: { arrival: (() => void) | null } = { arrival: null }
    let ended = false
    let failure: unknown = null
    const reading = (async () => {
      try {
        for await (const m of messages) {
          arrived.push(m)
          pull.arrival?.()
        }
      } catch (err) {
        failure = err
      } finally {
        ended = true
        this.#pullEndedAt = performance.now()
        pull.arrival?.()
      }
    })()
    let got = 0
    try {
      for (;;) {
        if (this.destroyed) return
        const m = arrived[got]
        if (m === undefined) {
          if (ended) break
          await new Promise<void>((resolve) => (pull.arrival = resolve))
          pull.arrival = null
          continue
        }
        got++
        await this.#deliver(m)
        if (m.info.pending === 0) {
          this.#quiet.waiting()
          if (this.#options.untilEnd) {
            this.push(null)
            this.#more = false
            return
          }
        }
        // The rest of this pull waits (at most `batch`); the next pull waits for `_read`.
        if (!this.#more) await this.#wanted()
      }
    } finally {
      messages.stop()
      await reading
    }
    // Failed after some messages (a lost connection): those came first; the retry goes on after them.
    if (failure !== null) throw failure
    if (got === 0) {
      this.#quiet.waiting()
      if (this.#options.untilEnd) {
        this.push(null)
        this.#more = false
      }
    }
  }

  /** Resolves when the consumer wants entries again (or the stream is destroyed). */
  #wanted(): Promise<void> {
    if (this.#more || this.destroyed) return Promise.resolve()
    return new Promise((resolve) => {
      const done = (): void => {
        this.off('close', done)
        resolve()
      }
      this.#wake = done
      this.once('close', done)
    })
  }

  /**
   * A message from the pull. Messages before it that this run has not seen
   * (delivered to a process that died, or lost with a connection) would come
   * again only after the consumer's ack wait, out of order: they are read
   * from the stream directly first, and dropped when they come again.
   */
  async #deliver(m: JsMsg): Promise<void> {
    const seq = m.info.streamSequence
    const dseq = m.info.deliverySequence
    const jumped = !this.#receivedAny || dseq > this.#lastDseq + 1 || this.#filters.length === 0
    this.#receivedAny = true
    this.#lastDseq = Math.max(this.#lastDseq, dseq)
    if (seq <= this.#lastSeq) {
      // Delivered again after the ack wait: already handed out. Acknowledged when the record says it was committed (read
      // from the stream directly, it could not be before): left alone, the server delivered it again every ack wait.
      if (seq <= this.#recordedSeq) this.#ackNow(m)
      return
    }
    if (jumped && seq > this.#lastSeq + 1) await this.#readMissing(this.#lastSeq + 1, seq - 1)
    if (this.destroyed) return
    this.#hand(seq, m.subject, m.headers, m.data, m)
  }

  /**
   * Reads stream messages `from`..`to` directly and hands out those the
   * consumer would deliver. Those below the stream's first sequence are gone:
   * skipped in one step, and what that means is decided where the next
   * message is handed out, as for any gap (a new consumer starts at the
   * stream's first message; after an acknowledged message that limits
   * removed, ERR_JETSTREAM_GAP unless it is the very next one).
   */
  async #readMissing(from: number, to: number): Promise<void> {
    const o = this.#options
    const jsm = this.#jsm as JetStreamManager
    const filter = this.#filters.length === 1 ? (this.#filters[0] as string) : `${this.#subject}.>`
    let first = from
    if (to - from >= READ_MISSING_DIRECTLY) first = Math.max(from, (await jsm.streams.info(o.stream)).state.first_seq)
    for (let seq = first; seq <= to && !this.destroyed; ) {
      if (!this.#more) await this.#wanted()
      // The first message at or after seq that the consumer's filter takes, in one request however many it skips: one
      // request a message made a backlog that a sparse filter skips through (a pull the killed run left waiting got the
      // next matching messages, thousands of others apart) cost one round trip for each message skipped.
      const query: { seq: number; next_by_subj: string } = { seq, next_by_subj: filter }
      const m = await jsm.streams.getMessage(o.stream, query)
      if (!m || m.seq > to) break
      this.#hand(m.seq, m.subject, m.header, m.data, null)
      seq = m.seq + 1
    }
  }

  #hand(seq: number, subject: string, headers: MsgHdrs | undefined, data: Uint8Array, msg: JsMsg | null): void {
    const where = `message ${seq} of stream ${this.#options.stream}`
    const p = readMessagePosition(headers, where)
    const raw = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    this.#lastSeq = seq
    // Every message read while the skip goes on, those the filters drop too: a sparse filter's skip reads many of them.
    if (this.#skipThrough !== null && ++this.#skipRead % SKIP_PROGRESS_EVERY === 0) this.#skipProgress(p, raw.length)
    if (this.#filters.length > 1 && !this.#filters.some((f) => subjectMatches(f, subject))) {
      this.#keep(msg, seq, p, raw.length, false)
      return
    }
    if (this.#skipThrough !== null && this.#skipCommitted(msg, seq, p, raw.length)) return
    if (this.#floorGone !== null) this.#checkAfterGoneFloor(seq, p, where)
    this.#check(p, where)
    const prev = this.#prev
    const e = new JournalEntry(raw, { journal: p.journal, offset: p.offset, end: p.offset + raw.length, line: p.line }, { encoding: this.#encoding })
    e.consistent = p.consistent
    e.didRotate = prev ? p.journal !== prev.journal : p.journalEnd !== null
    if (e.didRotate) {
      const from = prev?.journal ?? p.journalEnd?.journal ?? p.journal - 1
      this.emit('rotate', { from, to: p.journal, mode: 'stream', at: new Date() })
    }
    this.#keep(msg, seq, p, raw.length, p.consistent)
    this.#entries++
    this.#lastDataAt = new Date()
    this.#quiet.data()
    this.#more = this.push(e)
  }

  /**
   * True for a message that ends at or before the state file's position
   * (see #skipThrough): committed already, kept to be acknowledged with
   * the next commit and not handed out. The first message past it ends the
   * skipping, and a `skipped` event says how many were.
   */
  #skipCommitted(m: JsMsg | null, seq: number, p: MessagePosition, length: number): boolean {
    const through = this.#skipThrough as JournalPosition
    if (comparePositions({ journal: p.journal, offset: p.offset + length }, through) <= 0) {
      this.#keep(m, seq, p, length, p.consistent)
      // The record before the next one handed out ended at the saved position, whatever these skipped ones were.
      this.#prev = through
      // Committed already: acknowledged as they are skipped, not sent again every ack wait until a later commit.
      if (++this.#skipped % ACK_EVERY === 0 || p.consistent) this.#ackThrough(through)
      return true
    }
    // A record across the position: the file does not say where one of this stream's records ends (edited, or of
    // another journal history). Before, a filtered reader handed the record out, and an unfiltered one called it a
    // hole in the stream ("the stream lacks records") although the stream lacks none.
    if (p.journal === through.journal && p.offset < through.offset) throw this.#notABoundary(p, length, through)
    this.#skipThrough = null
    if (this.#skipped > 0) this.emit('skipped', { messages: this.#skipped, through })
    return false
  }

  /**
   * A `skipping` event every `skipProgressMs` while the skip goes on: after
   * a durable consumer is made again, the committed records are read from
   * the stream's first message, which for a long stream takes minutes, and
   * the only other line comes at the end (`skipped`).
   */
  #skipProgress(p: MessagePosition, length: number): void {
    const now = performance.now()
    if (now - this.#skipProgressAt < (this.#options.skipProgressMs ?? 10_000)) return
    this.#skipProgressAt = now
    const through = this.#skipThrough as JournalPosition
    this.emit('skipping', { messages: this.#skipRead, at: { journal: p.journal, offset: p.offset + length }, through })
  }

  #notABoundary(p: MessagePosition, length: number, through: JournalPosition): LogdaemonError {
    const file = this.#options.state as string
    return Object.assign(
      new LogdaemonError(
        ErrorCodes.STATE_MISMATCH,
        `message ${this.#lastSeq} of stream ${this.#options.stream} holds the record ${p.journal}/${p.offset} to ${p.journal}/${p.offset + length}, ` +
          `across ${formatPosition(through)}, where the state file ${file} says the listeners committed through: no record of this stream ` +
          'ends there (the file was edited, or is of another journal history). Set its position where a record ends, or move it away: ' +
          "reading then goes on from the durable consumer's own acknowledgements",
        { file, journal: p.journal, offset: p.offset, line: p.line },
      ),
      { retryable: false },
    )
  }

  /** Without a filter, each record starts where the previous one ended (or at 0 of the next journal). */
  #check(p: MessagePosition, where: string): void {
    const prev = this.#prev
    if (prev && this.#filters.length === 0) {
      if (follows(prev, p)) return
      const saved = prev === this.#savedStart ? ` (where the state file ${this.#options.state} says the listeners committed through)` : ''
      throw gap(p, `${where} starts at ${p.journal}/${p.offset}, but the record before it ended at ${formatPosition(prev)}${saved}`)
    }
  }

  /**
   * The first message after an acknowledged one that limits removed: without
   * a filter it must be the next in the stream (the publisher sends each
   * record once, in order, as one message after the other), or the stream
   * removed records before this consumer read them.
   */
  #checkAfterGoneFloor(seq: number, p: MessagePosition, where: string): void {
    const floor = this.#floorGone as number
    this.#floorGone = null
    if (this.#filters.length === 0 && seq !== floor + 1) {
      const removed = seq - 1 === floor + 1 ? `message ${floor + 1}` : `messages ${floor + 1} to ${seq - 1}`
      throw gap(
        p,
        `${where} (${p.journal}/${p.offset}) comes after message ${floor}, the last this consumer acknowledged, but the stream removed ${removed} unread`,
      )
    }
  }

  /** Remembers a message to acknowledge at a later commit (bounded: see ACK_EVERY and MAX_ACKABLES). */
  #keep(m: JsMsg | null, seq: number, p: MessagePosition, length: number, consistent: boolean): void {
    const end = { journal: p.journal, offset: p.offset + length }
    this.#prev = end
    // A message read directly can be marked committed only in the ack record: before, a run that read what a killed one
    // left unacknowledged committed it in vain, and every later run got it again (a probe).
    if (this.#options.durable === undefined || (m === null && this.#ackRecord === null && this.#localState === null)) return
    const a = { end, seq, msg: m }
    this.#lastDelivered = a
    if (consistent || ++this.#sinceAckable >= ACK_EVERY) {
      this.#sinceAckable = 0
      this.#ackables.push(a)
      // Without commits (a consumer that never commits) the oldest go: acknowledgement gets coarser, never wrong.
      if (this.#ackables.length > MAX_ACKABLES) this.#ackables.splice(0, this.#ackables.length >> 1)
    }
  }
}
