import { StorageType, type JetStreamManager, type StreamInfo } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { ErrorCodes, LogdaemonError, toError } from '../errors.js'
import { Headers, readMessagePosition, type MessagePosition } from './journal-message.js'

export interface JournalStreamOptions {
  stream: string
  /** The subject prefix: the stream holds `SUBJECT.>`. */
  subject: string
  /** Create the stream when it is missing (else fail). */
  create: boolean
  replicas: number
  duplicateWindowMs: number
}

function mismatch(message: string): LogdaemonError {
  return Object.assign(new LogdaemonError(ErrorCodes.JETSTREAM_MISMATCH, message), { retryable: false })
}

/** NATS err_code 10059: the stream does not exist. */
export function isNotFound(err: unknown): boolean {
  const e = err as { name?: unknown; code?: unknown }
  return e?.name === 'StreamNotFoundError' || e?.code === 10059
}

/**
 * NATS err_code 10065: the new stream's subjects overlap another stream's. A
 * subject belongs to one stream, so no retry can pass: the configuration
 * must change (it was retried as temporary, 21 opens with retries: 20).
 */
function isSubjectOverlap(err: unknown): boolean {
  const e = err as { code?: unknown }
  return e?.code === 10065 || /subjects overlap/i.test(toError(err).message)
}

/**
 * NATS err_code 10074: a stream of more than one replica asked of a server
 * that is not in a JetStream cluster. Only the configuration can change
 * that (it was retried as temporary, about 3 minutes with the default retry).
 */
function isReplicasNotSupported(err: unknown): boolean {
  const e = err as { code?: unknown }
  return e?.code === 10074 || /replicas > 1 not supported/i.test(toError(err).message)
}

/** The streams whose subjects take some of `SUBJECT.>`, with those subjects; empty when they cannot be listed. */
async function overlapping(jsm: JetStreamManager, subject: string): Promise<{ name: string; subjects: string[] }[]> {
  const out: { name: string; subjects: string[] }[] = []
  try {
    for await (const info of jsm.streams.list(`${subject}.>`)) out.push({ name: info.config.name, subjects: info.config.subjects ?? [] })
  } catch {
    // Only for the message: the error is the same without the names.
  }
  return out
}

/** Whether a stream subject pattern takes every subject `SUBJECT.…` (`SUBJECT.>`, or a wider `>` pattern). */
function covers(pattern: string, subject: string): boolean {
  const p = pattern.split('.')
  const s = subject.split('.')
  const last = p.length - 1
  if (p[last] !== '>' || last > s.length) return false
  for (let i = 0; i < last; i++) if (p[i] !== '*' && p[i] !== s[i]) return false
  return true
}

/**
 * Throws ERR_JETSTREAM_MISMATCH (not retryable) when the stream cannot hold
 * the journal: its subjects do not take every subject `SUBJECT.…`, it is
 * sealed, or it does not acknowledge messages (`no_ack`). Before, a sealed
 * stream's "invalid operation on sealed stream" was retried until the
 * daemon gave up, and on a `no_ack` stream every publish waited ackTimeoutMs
 * for an answer that never comes (about 1024 records per 10 s, for ever).
 */
export function checkJournalStream(info: StreamInfo, subject: string): void {
  const name = info.config.name
  const subjects = info.config.subjects ?? []
  if (!subjects.some((p) => covers(p, subject))) {
    throw mismatch(
      `stream ${name} takes the subjects ${JSON.stringify(subjects)}, not ${subject}.>: ` +
        `add "${subject}.>" to its subjects (nats stream edit), or name another stream or subject`,
    )
  }
  if (info.config.sealed) throw mismatch(`stream ${name} is sealed: it takes no more messages, for good; publish into a new stream`)
  if (info.config.no_ack) {
    throw mismatch(
      `stream ${name} does not acknowledge messages (no_ack): the listener publishes each record once only with the stream's ` +
        'acknowledgements; turn no_ack off (nats stream edit), or publish into another stream',
    )
  }
}

/**
 * Creates the journal stream when missing (file storage, subjects
 * `SUBJECT.>`, the duplicate window, the replicas), or checks an existing
 * one: its subjects must take `SUBJECT.>`, and it must be neither sealed
 * nor without acknowledgements (`no_ack`). Rejects with
 * ERR_JETSTREAM_MISMATCH (not retryable) when they do not, when it is
 * missing and `create` is false, when another stream takes subjects of
 * `SUBJECT.>` so it cannot be created, or when it would have more than one
 * replica on a server outside a cluster.
 */
export async function ensureJournalStream(jsm: JetStreamManager, o: JournalStreamOptions): Promise<StreamInfo> {
  try {
    const info = await jsm.streams.info(o.stream)
    checkJournalStream(info, o.subject)
    return info
  } catch (err) {
    if (!isNotFound(err)) throw err
  }
  if (!o.create) throw mismatch(`stream ${o.stream} does not exist: create it, or let the jetstream listener create it (createStream: true)`)
  try {
    return await jsm.streams.add({
      name: o.stream,
      subjects: [`${o.subject}.>`],
      storage: StorageType.File,
      num_replicas: o.replicas,
      duplicate_window: nanos(o.duplicateWindowMs),
    })
  } catch (err) {
    // Another publisher made it meanwhile: check that one.
    if (/already in use|exists/i.test(toError(err).message)) return ensureJournalStream(jsm, { ...o, create: false })
    if (isReplicasNotSupported(err)) {
      throw mismatch(
        `stream ${o.stream} cannot be created with replicas: ${o.replicas}: the NATS server is not in a JetStream cluster, so it ` +
          'keeps one replica only (NATS err_code 10074): set replicas to 1, or create the stream on a cluster',
      )
    }
    if (isSubjectOverlap(err)) {
      const others = await overlapping(jsm, o.subject)
      // This very stream, made by another publisher meanwhile: the server checks the subjects before the name, so two
      // listeners that create it at once (two daemons started together) got the overlap, not "exists" (seen in a CI run).
      if (others.some((other) => other.name === o.stream)) return ensureJournalStream(jsm, { ...o, create: false })
      throw mismatch(
        `stream ${o.stream} cannot be created with the subjects ["${o.subject}.>"]: they overlap ` +
          (others.length > 0 ? `those of stream ${others.map((x) => `${x.name} (${JSON.stringify(x.subjects)})`).join(', ')}` : 'those of an existing stream') +
          " (NATS err_code 10065), and a subject belongs to one stream only: set the listener's stream to that stream when it is meant " +
          'to hold this journal, or set its subject to a prefix no stream takes, or remove the overlap from the other stream (nats stream edit)',
      )
    }
    throw err
  }
}

/** The stream's last journal message: its position and end, or null when the stream has none. */
export interface StreamTail extends MessagePosition {
  readonly seq: number
  /** End of the record (offset + its length). */
  readonly end: number
  readonly msgId: string
}

/**
 * Reads the newest message under `SUBJECT.>`; null when there is none.
 * Rejects with ERR_JETSTREAM_MISMATCH when it lacks logdaemon's headers.
 */
export async function readStreamTail(jsm: JetStreamManager, stream: string, subject: string): Promise<StreamTail | null> {
  let m
  try {
    m = await jsm.streams.getMessage(stream, { last_by_subj: `${subject}.>` })
  } catch (err) {
    if (/no message found/i.test(toError(err).message)) return null
    throw err
  }
  if (!m) return null
  const p = readMessagePosition(m.header, `message ${m.seq} of stream ${stream}`)
  return { ...p, seq: m.seq, end: p.offset + m.data.length, msgId: m.header.get(Headers.msgId) }
}
