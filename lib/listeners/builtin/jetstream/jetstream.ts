import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream'
import { createInbox, headers, type Msg, type MsgHdrs, type NatsConnection } from '@nats-io/transport-node'
import { ErrorCodes, LogdaemonError, formatWhere, toError } from '../../../errors.js'
import { connectNats, describeServers } from '../../../jetstream/connect.js'
import { resolveConnectionFiles } from '../../../jetstream/connection-options.js'
import { Headers, msgIdOf, subjectOf } from '../../../jetstream/journal-message.js'
import { checkJournalStream, ensureJournalStream, isNotFound, readStreamTail } from '../../../jetstream/journal-stream.js'
import type { JournalEntry } from '../../../journal/entry.js'
import { formatPosition, parsePosition, type JournalPosition } from '../../../position.js'
import { BaseListener, type Listener, type ListenerContext, type ListenerLogger } from '../../listener.js'
import type { JetStreamListenerOptions } from './jetstream-options.js'

export { optionsSchema, type JetStreamListenerOptions } from './jetstream-options.js'

/** A message sent and not yet acknowledged, kept to be sent again after a failure. */
interface InFlight {
  readonly entry: JournalEntry
  readonly subject: string
  /** The headers without the expectation (added per send). */
  readonly headers: MsgHdrs
  readonly msgId: string
  /** Its reply subject's last token. */
  readonly id: number
  readonly sentAt: number
  acked: boolean
  /** The stream answered, or the publish failed (timed out, refused). */
  settled: boolean
}

/** The stream's answer to a publish (a JetStream PubAck, or an API error). */
interface PubAckJson {
  stream?: string
  seq?: number
  duplicate?: boolean
  error?: { code?: number; err_code?: number; description?: string }
}

/**
 * The stream sequence a publish expects the stream to end at: every
 * message carries it. It survives a nats-server restart, and 0 on an empty
 * stream makes a second publisher opening on it at the same moment fail
 * instead of doubling the journal.
 */
const EXPECTED_LAST_SEQUENCE = 'Nats-Expected-Last-Sequence'
/**
 * The id of the message a publish expects before it: every message but the
 * first after an open or a recovery carries the id of this listener's
 * message before it, so a message of another publisher in between (whose
 * sequence the counting cannot tell from ours) is refused too. Not on the
 * first: a restarted nats-server knows the ids of its duplicate window
 * only, and after a quiet longer than that window it refused every publish
 * that expected the stream's last id ("wrong last msg ID"), for good.
 */
const EXPECTED_LAST_MSG_ID = 'Nats-Expected-Last-Msg-Id'

const silent: ListenerLogger = { debug() {}, info() {}, warn() {}, error() {} }

function permanent(err: LogdaemonError): LogdaemonError {
  return Object.assign(err, { retryable: false })
}

/** The end of the entry before this one, as its Journal-End header says (set on the first entry of a journal), or null. */
function journalEndOf(h: MsgHdrs): JournalPosition | null {
  const text = h.get(Headers.journalEnd)
  if (!text) return null
  try {
    return parsePosition(text)
  } catch {
    return null
  }
}

/** The first entry's connection may fail a few times quickly; the daemon's retry (with its backoff) goes on from there. */
const CONNECT_RETRY = { retries: 2, minTimeout: 250, maxTimeout: 1000 }

/**
 * Publishes every journal record into a JetStream stream, one message per
 * record: payload the record's exact bytes, subject `SUBJECT.OP.TABLE` (data)
 * or `SUBJECT.OP`, headers `Nats-Msg-Id: SERVER:N/offset`,
 * `Logdaemon-Position: N/offset`, `Logdaemon-Line`, `Logdaemon-Consistent: 1`
 * on consistency points and `Logdaemon-Journal-End: N/offset` on the first
 * record of a journal reached by rotation.
 *
 * Exactly once, in order: on open (and after any failure) the listener
 * reads the stream's last message and skips every entry up to it, so a
 * replay after a crash never doubles a record, however old. Each message
 * also carries `Nats-Expected-Last-Sequence` (the stream's sequence before
 * it; 0 on an empty stream) and, but the first after reading the stream's
 * end, `Nats-Expected-Last-Msg-Id` (this listener's message before it): the
 * stream refuses a message that would land after a lost one, or after
 * another publisher's, and the listener then
 * reads the stream's end again and sends what follows it. `Nats-Msg-Id`
 * makes the stream drop a resent message it already has.
 *
 * Publishes are pipelined, at most `maxInFlight` unacknowledged; `listen`
 * waits beyond that, so the daemon's backpressure holds while the server
 * is away (the client reconnects by itself). `sync()` resolves when every
 * message published so far is acknowledged by the stream.
 */
export class JetStreamListener extends BaseListener {
  readonly options: JetStreamListenerOptions
  #nc: NatsConnection | null = null
  #jsm: JetStreamManager | null = null
  /** Acknowledgements come to INBOX.id, one subscription for all (a request per message costs four times as much). */
  #inbox = ''
  #nextId = 1
  readonly #byId = new Map<number, InFlight>()
  /** Resolvers of those waiting for an acknowledgement or a failure. */
  #waiters: (() => void)[] = []
  #timer: NodeJS.Timeout | null = null
  #log: ListenerLogger = silent
  #opened = false
  /** End of the newest record in the stream or sent to it (journal, end offset). */
  #tail: JournalPosition | null = null
  /** Stream sequence of the newest message in the stream or sent to it: the next one expects it. */
  #lastSeq = 0
  /** Id of the newest message sent since the stream's end was read (null before the first): the next one expects it. */
  #lastMsgId: string | null = null
  /** End of the newest record the stream acknowledged. */
  #acked: JournalPosition | null = null
  /** End of the previous entry seen, for the Journal-End header. */
  #prevEnd: JournalPosition | null = null
  /**
   * Before the first entry of a run: where the record before it ended,
   * standing in for #prevEnd. Resumed at the start of a journal: where the
   * journal before it ended, as the daemon's state recorded it
   * (ListenerContext.previousEnd); resumed inside a journal: the start.
   */
  #startBefore: JournalPosition | null = null
  #queue: InFlight[] = []
  #broken: Error | null = null
  /** The stream's max_msg_size (a message's headers and payload, bytes), 0 for none: read with the stream's end. */
  #maxMsgSize = 0
  /** Messages published (acknowledged, not counting duplicates) and entries skipped as already in the stream. */
  published = 0
  duplicates = 0
  skipped = 0

  constructor(options: JetStreamListenerOptions, name = 'jetstream') {
    super(name)
    this.options = { ...options }
  }

  /** Messages published and not yet acknowledged. */
  get inFlight(): number {
    return this.#queue.length
  }

  /** End of the newest record the stream has acknowledged, `N/offset`, or null (the status page's hook). */
  acknowledged(): string | null {
    return this.#acked ? formatPosition(this.#acked) : null
  }

  async open(context?: ListenerContext): Promise<void> {
    if (this.#opened) return
    if (context) this.#log = context.logger
    // Killed after committing the start of a journal with no record, a daemon resumes there with no entry before the
    // next journal's first in its run: the state says where the last journal with records ended.
    if (context?.previousEnd && context.start?.offset === 0) this.#startBefore = context.previousEnd
    // Resumed inside a journal (a state at its end, p4d then rotating twice with nothing written): the record before
    // the first entry ended at the start. Before, journal N+2's first entry was a false hole after the stream's tail (a
    // probe: ERR_JETSTREAM_GAP at every start), and in a stream made again it had no Journal-End header, so a consumer
    // whose state file stood at that start stopped with a false ERR_JETSTREAM_GAP.
    else if (context?.start && context.start.offset > 0) this.#startBefore = { journal: context.start.journal, offset: context.start.offset }
    await this.#connect(context?.signal)
    const o = this.options
    const jsm = this.#jsm as JetStreamManager
    await ensureJournalStream(jsm, {
      stream: o.stream,
      subject: o.subject,
      create: o.createStream,
      replicas: o.replicas,
      duplicateWindowMs: o.duplicateWindowMs,
    })
    await this.#readTail()
    this.#opened = true
    const tail = this.#tail
    if (!tail && this.#lastSeq > 0) {
      // Purged, or every message past max_age: what it held tells nothing now. Before, this was the info "is empty",
      // and a daemon resuming from a position behind the removed end published those records a second time, silently.
      this.#log.warn(
        { listener: this.name, stream: o.stream, lastSeq: this.#lastSeq },
        `stream ${o.stream} is empty but held messages up to sequence ${this.#lastSeq} (purged, or removed by max_age): the listener ` +
          "cannot see where the journal in it ended, and publishes from the daemon's position: records the stream held after that " +
          "position go in again once the stream's duplicate window has passed (a consumer that read them stops with ERR_JETSTREAM_GAP), " +
          'and records between its end and that position are missing',
      )
    }
    this.#log.info(
      { listener: this.name, servers: describeServers(o), stream: o.stream, subject: o.subject, tail: tail ? formatPosition(tail) : null },
      tail
        ? `stream ${o.stream} holds the journal up to ${formatPosition(tail)}: publishing what follows`
        : `stream ${o.stream} is empty: publishing from the first entry`,
    )
  }

  async #connect(signal?: AbortSignal): Promise<void> {
    let nc = this.#nc
    if (!nc || nc.isClosed()) {
      nc = await connectNats(this.options, {
        retry: CONNECT_RETRY,
        ...(signal ? { signal } : {}),
        onRetry: (err) => this.#log.warn({ listener: this.name, err: err.message }, 'NATS connection failed; retrying'),
      })
      this.#nc = nc
      this.#jsm = null
      this.#inbox = createInbox()
      nc.subscribe(`${this.#inbox}.*`, { callback: (err, msg) => (err ? this.#fail(toError(err)) : this.#onAck(msg)) })
    }
    // Asked again on the same connection when the last try failed (a cluster electing a leader): before, a retried
    // open found the connection up but no manager, and failed for good with a TypeError (CI, the leader SIGKILLed).
    this.#jsm ??= await jetstreamManager(nc, { timeout: this.options.ackTimeoutMs })
  }

  /** The stream answered a publish. Answers to messages no longer in flight (sent before a recovery) are ignored. */
  #onAck(msg: Msg): void {
    const id = Number(msg.subject.slice(this.#inbox.length + 1))
    const item = this.#byId.get(id)
    if (!item) return
    this.#byId.delete(id)
    item.settled = true
    let ack: PubAckJson | null = null
    if (msg.headers?.code === 503) {
      this.#broken ??= this.#publishError(item, new Error('no responders: no stream takes the subject, or the stream has no leader right now'))
    } else {
      try {
        ack = msg.data.length ? (JSON.parse(new TextDecoder().decode(msg.data)) as PubAckJson) : null
      } catch {
        ack = null
      }
      if (!ack || ack.error || typeof ack.seq !== 'number') {
        const why = ack?.error ? `${ack.error.description ?? 'error'} (${ack.error.err_code ?? ack.error.code ?? '?'})` : 'an answer that is not a PubAck'
        this.#broken ??= this.#publishError(item, new Error(why))
      } else {
        item.acked = true
        if (ack.duplicate) this.duplicates++
        else this.published++
        this.#shiftAcked()
      }
    }
    this.#wake()
  }

  /** The acknowledgement subscription failed (a permissions error): every message in flight is in doubt. */
  #fail(err: Error): void {
    const first = this.#queue[0]
    this.#broken ??= first ? this.#publishError(first, err) : err
    this.#wake()
  }

  #wake(): void {
    const waiters = this.#waiters
    this.#waiters = []
    for (const w of waiters) w()
  }

  /** Resolves at the next acknowledgement, failure or timeout. */
  #progress(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /** Marks messages unanswered for ackTimeoutMs as failed; runs while messages are in flight. */
  #armTimer(): void {
    if (this.#timer) return
    const every = Math.max(50, this.options.ackTimeoutMs >> 2)
    this.#timer = setInterval(() => {
      // The monotonic clock, as sentAt: a wall clock stepped back held a lost acknowledgement unseen for as long as the step.
      const now = performance.now()
      let timedOut = false
      for (const item of this.#queue) {
        if (item.settled) continue
        if (now - item.sentAt < this.options.ackTimeoutMs) break
        item.settled = true
        this.#byId.delete(item.id)
        timedOut = true
        this.#broken ??= this.#publishError(item, new Error(`no acknowledgement within ${this.options.ackTimeoutMs} ms (server or stream leader unreachable)`))
      }
      if (this.#queue.length === 0 && this.#timer) {
        clearInterval(this.#timer)
        this.#timer = null
      }
      if (timedOut) this.#wake()
    }, every)
    this.#timer.unref()
  }

  /** Reads the stream's end: the position and id of its last message, which must be this server's and the stream's last. */
  async #readTail(): Promise<void> {
    const o = this.options
    const jsm = this.#jsm as JetStreamManager
    // The stream's state before its last journal message: read the other way round, a message another publisher of
    // this journal (the same server) added between the two reads looked like a foreign message after the journal's
    // last one, a permanent ERR_JETSTREAM_MISMATCH (two daemons started together, one of them failed in open).
    const info = await jsm.streams.info(o.stream)
    // Edited meanwhile: its subjects no longer SUBJECT.> (every publish got "no responders", retried until the daemon gave
    // up), or sealed ("invalid operation on sealed stream", retried the same way).
    checkJournalStream(info, o.subject)
    const tail = await readStreamTail(jsm, o.stream, o.subject)
    if (tail && tail.server !== o.server) {
      throw permanent(
        new LogdaemonError(
          ErrorCodes.JETSTREAM_MISMATCH,
          `stream ${o.stream} ends with a record of server "${tail.server ?? '(no id)'}" under ${o.subject}.>, not "${o.server}": ` +
            'each server needs its own stream (or subject prefix); check the server option',
        ),
      )
    }
    if (!tail && info.state.messages > 0 && (await jsm.streams.info(o.stream)).state.messages > 0) {
      // Read again: max_age may have removed the last messages between the two reads.
      // A nats-server (2.9) finds no last message under SUBJECT.> once the stream's last message was deleted: taken for
      // a stream without the journal, anything was published after it, with no check for a hole or a record twice.
      throw permanent(
        new LogdaemonError(
          ErrorCodes.JETSTREAM_MISMATCH,
          `stream ${o.stream} holds ${info.state.messages} messages (sequences ${info.state.first_seq} to ${info.state.last_seq}) but the server ` +
            `names none as its last under ${o.subject}.>: it holds other subjects only, or its last message was deleted (nats stream rmm), ` +
            'and the listener cannot see where the journal in it ends. Publish into a new stream (or delete this one to publish the journal again)',
        ),
      )
    }
    if (tail && tail.seq < info.state.last_seq) {
      throw permanent(
        new LogdaemonError(
          ErrorCodes.JETSTREAM_MISMATCH,
          `stream ${o.stream} holds messages after the journal's last one (sequence ${tail.seq}, stream ends at ${info.state.last_seq}): ` +
            `the stream must hold only this journal (subjects ${o.subject}.>); publish nothing else into it`,
        ),
      )
    }
    this.#tail = tail ? { journal: tail.journal, offset: tail.end } : null
    this.#maxMsgSize = Math.max(0, info.config.max_msg_size ?? 0)
    // Past the state read first when another publisher added to the stream since: the next publish expects the newest.
    this.#lastSeq = Math.max(info.state.last_seq, tail?.seq ?? 0)
    this.#lastMsgId = null
    this.#acked = this.#tail
  }

  listen(entry: JournalEntry): void | Promise<void> {
    if (!this.#opened || this.#broken) return this.#listenSlowly(entry)
    if (!this.#accept(entry)) return
    this.#send(entry, this.#headersOf(entry))
    if (this.#queue.length >= this.options.maxInFlight) return this.#waitForRoom()
  }

  async #listenSlowly(entry: JournalEntry): Promise<void> {
    if (!this.#opened) await this.open()
    if (this.#broken) await this.#recover()
    if (!this.#accept(entry)) return
    this.#send(entry, this.#headersOf(entry))
    if (this.#queue.length >= this.options.maxInFlight) await this.#waitForRoom()
  }

  /**
   * Whether the entry goes to the stream: false when the stream has it; throws when it would leave a hole.
   * `before` is the end of the entry the daemon gave this listener before it, when known: a first entry of
   * journal N+2 or later right after the stream's last record follows it, the journals between having no
   * record (p4d rotated twice with nothing written between, `p4d -jj` on an idle server; the file source
   * reads such a journal as empty, and a missing one fails it with ERR_JOURNAL_GAP). Before, that entry
   * was a permanent ERR_JETSTREAM_GAP at every start, and the publisher never got past it.
   */
  #accept(entry: JournalEntry, before: JournalPosition | null = this.#prevEnd ?? this.#startBefore): boolean {
    const { journal, offset, end } = entry.position
    if (journal === null) {
      throw permanent(
        new LogdaemonError(
          ErrorCodes.JETSTREAM_GAP,
          `the jetstream listener needs numbered journals, but the entry at ${formatWhere(entry.position)} has none`,
          {
            offset,
            line: entry.position.line,
          },
        ),
      )
    }
    const tail = this.#tail
    if (tail) {
      if (journal < tail.journal || (journal === tail.journal && end <= tail.offset)) {
        this.skipped++
        this.#prevEnd = { journal, offset: end }
        return false
      }
      const afterEmpty = journal > tail.journal + 1 && offset === 0 && before !== null && before.journal === tail.journal && before.offset === tail.offset
      const follows = journal === tail.journal ? offset === tail.offset : (journal === tail.journal + 1 && offset === 0) || afterEmpty
      const known = this.#startBefore !== null && this.#startBefore.journal === tail.journal && this.#startBefore.offset === tail.offset
      if (follows && journal !== tail.journal && this.#prevEnd === null && !known) {
        // The daemon started at the next journal: this listener cannot see where the stream's last journal ended.
        this.#log.warn(
          { listener: this.name, tail: formatPosition(tail), next: `${journal}/0` },
          `stream ${this.options.stream} ends at ${formatPosition(tail)} and the daemon starts at ${journal}/0: ` +
            `if journal ${tail.journal} is longer than ${tail.offset} bytes, its records after that are missing from the stream (start at ${tail.journal} to publish them)`,
        )
      }
      if (!follows) {
        const o = this.options
        throw permanent(
          new LogdaemonError(
            ErrorCodes.JETSTREAM_GAP,
            `stream ${o.stream} ends at ${formatPosition(tail)} but the next entry starts at ${journal}/${offset}: publishing it would leave a hole. ` +
              `Start the daemon at the stream's end (a state file at ${formatPosition(tail)}, or from: ${tail.journal}), or publish into a new stream`,
            { journal, offset, line: entry.position.line },
          ),
        )
      }
    }
    return true
  }

  #headersOf(entry: JournalEntry): MsgHdrs {
    const p = entry.position
    const h = headers()
    h.set(Headers.position, `${p.journal}/${p.offset}`)
    h.set(Headers.line, String(p.line))
    if (entry.consistent) h.set(Headers.consistent, '1')
    const prev = this.#prevEnd ?? this.#startBefore
    if (prev && prev.journal !== p.journal) h.set(Headers.journalEnd, formatPosition(prev))
    this.#prevEnd = { journal: p.journal as number, offset: p.end }
    return h
  }

  /** Publishes the entry, expecting the last message sent before it; the answer settles its place in the queue. */
  #send(entry: JournalEntry, h: MsgHdrs): void {
    const p = entry.position
    const o = this.options
    const msgId = msgIdOf(o.server, { journal: p.journal as number, offset: p.offset })
    const id = this.#nextId++
    const item: InFlight = { entry, subject: subjectOf(o.subject, entry), headers: h, msgId, id, sentAt: performance.now(), acked: false, settled: false }
    const sent = headers()
    for (const [k, v] of h) for (const one of v) sent.append(k, one)
    sent.set(Headers.msgId, msgId)
    sent.set(EXPECTED_LAST_SEQUENCE, String(this.#lastSeq))
    if (this.#lastMsgId !== null) sent.set(EXPECTED_LAST_MSG_ID, this.#lastMsgId)
    this.#checkSize(entry, sent)
    this.#byId.set(id, item)
    this.#queue.push(item)
    this.#tail = { journal: p.journal as number, offset: p.end }
    this.#lastSeq++
    this.#lastMsgId = msgId
    try {
      ;(this.#nc as NatsConnection).publish(item.subject, entry.raw, { reply: `${this.#inbox}.${id}`, headers: sent })
    } catch (err) {
      // The connection is closed or draining: in doubt like a lost message.
      item.settled = true
      this.#byId.delete(id)
      this.#broken ??= this.#publishError(item, toError(err))
    }
    this.#armTimer()
  }

  /**
   * A message larger than the server's max_payload (the record and its
   * headers) is refused by the client at every try, and one larger than the
   * stream's max_msg_size by the stream (err_code 10054, retried until the
   * daemon gave up): a permanent failure that says what to change, not a
   * publish retried until the daemon gives up.
   */
  #checkSize(entry: JournalEntry, sent: MsgHdrs): void {
    const payload = (this.#nc as NatsConnection).info?.max_payload ?? 0
    const stream = this.#maxMsgSize
    if (!payload && !stream) return
    const encoded = (sent as Partial<{ encode(): Uint8Array }>).encode?.()
    const size = entry.raw.length + (encoded?.length ?? 0)
    const p = entry.position
    const where = { journal: p.journal, offset: p.offset, line: p.line }
    const what = `the record at ${formatWhere(p)} is ${entry.raw.length} bytes (${size} with its headers)`
    if (payload && size > payload) {
      throw permanent(
        new LogdaemonError(
          ErrorCodes.JETSTREAM_PUBLISH,
          `${what}, more than the NATS server's max_payload (${payload} bytes): raise max_payload in the server's configuration ` +
            '(nats-server allows up to 64 MB) and start the daemon again',
          where,
        ),
      )
    }
    if (stream && size > stream) {
      throw permanent(
        new LogdaemonError(
          ErrorCodes.JETSTREAM_PUBLISH,
          `${what}, more than stream ${this.options.stream}'s max_msg_size (${stream} bytes, headers included): raise the stream's ` +
            'max_msg_size (nats stream edit) and start the daemon again',
          where,
        ),
      )
    }
  }

  #publishError(item: InFlight, err: Error): LogdaemonError {
    return new LogdaemonError(
      ErrorCodes.JETSTREAM_PUBLISH,
      `stream ${this.options.stream} did not acknowledge the record at ${formatWhere(item.entry.position)}: ${err.message}`,
      { cause: err, journal: item.entry.position.journal, offset: item.entry.position.offset, line: item.entry.position.line },
    )
  }

  /** Drops acknowledged messages from the queue's head: they are in the stream. */
  #shiftAcked(): void {
    while (this.#queue.length > 0 && (this.#queue[0] as InFlight).acked) {
      const done = this.#queue.shift() as InFlight
      const p = done.entry.position
      this.#acked = { journal: p.journal as number, offset: p.end }
    }
  }

  async #waitForRoom(): Promise<void> {
    while (this.#queue.length >= this.options.maxInFlight && !this.#broken) await this.#progress()
    if (this.#broken) throw this.#broken
  }

  async #settleAll(): Promise<void> {
    while (this.#queue.length > 0 && !this.#broken) await this.#progress()
  }

  /** Waits until every message in flight was answered or timed out. */
  async #settleEvery(): Promise<void> {
    while (this.#queue.some((q) => !q.settled)) await this.#progress()
  }

  /**
   * After a failed publish: waits until every message in flight has settled,
   * reconnects if the connection is gone, reads the stream's end again and
   * sends the entries in flight that the stream lacks, in order. Throws
   * (retryable) when the stream cannot be reached; the daemon retries.
   */
  async #recover(): Promise<void> {
    const failure = this.#broken
    await this.#settleEvery()
    this.#byId.clear()
    this.#log.warn({ listener: this.name, err: failure?.message }, 'a publish failed: reading the stream end and publishing again what it lacks')
    await this.#connect()
    const before = this.#acked
    try {
      await this.#readTail()
    } catch (err) {
      // Retried, it fails the same way until the daemon gives up, with the client's bare "stream not found".
      if (!isNotFound(err)) throw err
      const o = this.options
      throw permanent(
        new LogdaemonError(
          ErrorCodes.JETSTREAM_MISMATCH,
          `stream ${o.stream} was deleted while the jetstream listener published into it (its last acknowledged record ended at ` +
            `${before ? formatPosition(before) : 'the start'}): nothing more is published. Start the daemon again to publish into a new ` +
            `stream from the daemon's position (createStream: true), or from an earlier journal to publish the journal again`,
          { cause: err },
        ),
      )
    }
    const resend = this.#queue
    this.#queue = []
    this.#broken = null
    for (const item of resend) {
      if (this.#accept(item.entry, journalEndOf(item.headers))) this.#send(item.entry, item.headers)
    }
  }

  /** Resolves once the stream has acknowledged every message published so far. */
  async sync(_position: JournalPosition): Promise<void> {
    if (this.#broken) await this.#recover()
    await this.#settleAll()
    if (this.#broken) throw this.#broken
  }

  /** Closes the connection. Messages not yet acknowledged are not waited for (the next start reads the stream's end). */
  async close(): Promise<void> {
    const nc = this.#nc
    this.#nc = null
    this.#opened = false
    this.#queue = []
    this.#byId.clear()
    if (this.#timer) clearInterval(this.#timer)
    this.#timer = null
    this.#broken ??= new LogdaemonError(ErrorCodes.JETSTREAM_PUBLISH, 'the jetstream listener is closed')
    this.#wake()
    if (nc && !nc.isClosed()) await nc.close()
  }
}

/** The `jetstream` built-in: file options (nkey, creds, tls) relative to `baseDir`. */
export function create(options: JetStreamListenerOptions, context: { name: string; baseDir?: string }): Listener {
  return new JetStreamListener(resolveConnectionFiles(options, context.baseDir ?? '.'), context.name)
}
