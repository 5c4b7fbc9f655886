import { RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream'
import { ErrorCodes, LogdaemonError } from '../../errors.js'

/** The stream that holds, per durable consumer, the last message its reader acknowledged. */
export const ACK_STREAM = 'LOGDAEMON_ACKS'

/** Subjects of the record stream: `logdaemon.ack.STREAM.DURABLE` (neither name may hold a dot). */
const ACK_SUBJECTS = 'logdaemon.ack.>'

/** What a reader acknowledged last: the stream sequence, and the journal position its record ends at. */
export interface AckedThrough {
  readonly seq: number
  readonly journal: number
  readonly offset: number
}

function parse(data: Uint8Array): AckedThrough | null {
  try {
    const j = JSON.parse(new TextDecoder().decode(data)) as Partial<AckedThrough> & { format?: unknown }
    const ok = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
    if (j.format !== 'logdaemon-ack' || !ok(j.seq) || !ok(j.journal) || !ok(j.offset)) return null
    return { seq: j.seq, journal: j.journal, offset: j.offset }
  } catch {
    return null
  }
}

/**
 * A permissions violation (the NATS user may not create or write the record
 * stream) passes with no retry: an error that says so at once, with a
 * stable code, instead of minutes of retries that end in the client's
 * RequestError. Anything else is returned as it is.
 */
function refused(err: unknown): unknown {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e.name !== 'PermissionViolationError') continue
    return Object.assign(
      new LogdaemonError(
        ErrorCodes.JETSTREAM_CONNECT,
        `the NATS user may not use the ${ACK_STREAM} stream, where a reader records what it acknowledged (${e.message}): ` +
          `allow it to create ${ACK_STREAM} and publish to ${ACK_SUBJECTS}, or set exclusive: false (no lease, no record)`,
        { cause: err },
      ),
      { retryable: false },
    )
  }
  return err
}

/**
 * The reader's own record of what it acknowledged, next to the consumer's.
 * Why: nats-server moves a consumer's ack floor over messages that the
 * stream's limits removed after delivering them unacknowledged (to a run
 * killed with records in hand, or to a pull left waiting by a stopped
 * one), so a restart that trusted the floor alone read on after records it
 * never handed out, without an error. The record is written (and stored:
 * the stream answers) before each acknowledgement, so it is never behind
 * what the reader acknowledged; a floor past it is the server's doing.
 *
 * One message per durable consumer in a small stream of the same server,
 * `LOGDAEMON_ACKS` (one message per subject, no age limit, as many
 * replicas as the journal stream, created when missing), next to
 * `LOGDAEMON_LOCKS`; only a reader that holds the consumer's lock keeps
 * one.
 */
export class AckRecord {
  readonly #js: JetStreamClient
  readonly #subject: string
  /** What the record held when it was opened (null: none yet). */
  readonly last: AckedThrough | null

  private constructor(js: JetStreamClient, subject: string, last: AckedThrough | null) {
    this.#js = js
    this.#subject = subject
    this.last = last
  }

  /** Creates the record stream when missing and reads the consumer's record. */
  static async open(jsm: JetStreamManager, js: JetStreamClient, spec: { stream: string; durable: string; replicas: number }): Promise<AckRecord> {
    try {
      return await AckRecord.#open(jsm, js, spec)
    } catch (err) {
      throw refused(err)
    }
  }

  static async #open(jsm: JetStreamManager, js: JetStreamClient, spec: { stream: string; durable: string; replicas: number }): Promise<AckRecord> {
    try {
      await jsm.streams.info(ACK_STREAM)
    } catch (err) {
      if ((err as { name?: unknown }).name !== 'StreamNotFoundError') throw err
      // Two readers creating it at once both succeed: the server takes an identical configuration again.
      await jsm.streams.add({
        name: ACK_STREAM,
        subjects: [ACK_SUBJECTS],
        retention: RetentionPolicy.Limits,
        storage: StorageType.File,
        max_msgs_per_subject: 1,
        num_replicas: spec.replicas,
      })
    }
    const subject = `logdaemon.ack.${spec.stream}.${spec.durable}`
    const m = await jsm.streams.getMessage(ACK_STREAM, { last_by_subj: subject })
    return new AckRecord(js, subject, m ? parse(m.data) : null)
  }

  /** Stores `a` as the newest acknowledgement; resolves once the stream has it. */
  async write(a: AckedThrough): Promise<void> {
    try {
      await this.#js.publish(this.#subject, JSON.stringify({ format: 'logdaemon-ack', seq: a.seq, journal: a.journal, offset: a.offset }))
    } catch (err) {
      throw refused(err)
    }
  }
}
