import { AckPolicy, DeliverPolicy, type ConsumerConfig, type JetStreamManager } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { ErrorCodes, LogdaemonError } from '../../errors.js'

export interface ConsumerSpec {
  stream: string
  /** The consumer's subject filter. */
  filter: string
  /** A durable consumer's name; without it, an ephemeral consumer. */
  durable?: string
  /** Ack wait of a durable consumer created here, ms. */
  ackWaitMs: number
  /** An ephemeral consumer's first stream sequence (default: the stream's first message). */
  startSeq?: number
}

/** An ephemeral consumer without a pull for this long is removed by the server, ms. */
export const EPHEMERAL_INACTIVE_MS = 30_000

function mismatch(message: string): LogdaemonError {
  return Object.assign(new LogdaemonError(ErrorCodes.JETSTREAM_MISMATCH, message), { retryable: false })
}

/**
 * The pull consumer the JetStream source reads with; returns its name. A
 * durable one is created when missing (from the stream's first message,
 * AckPolicy All, no limit on unacknowledged messages: acknowledgements come
 * at commits) or checked when found (same filter, takes acknowledgements).
 * Without a durable name, an ephemeral consumer that acknowledges nothing
 * and that the server removes once its reader is gone.
 */
export async function ensureConsumer(jsm: JetStreamManager, spec: ConsumerSpec): Promise<string> {
  const { stream, filter, durable } = spec
  if (durable === undefined) {
    const ci = await jsm.consumers.add(stream, {
      ack_policy: AckPolicy.None,
      ...(spec.startSeq !== undefined ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: spec.startSeq } : { deliver_policy: DeliverPolicy.All }),
      filter_subject: filter,
      inactive_threshold: nanos(EPHEMERAL_INACTIVE_MS),
    })
    return ci.name
  }
  const existing = await jsm.consumers.info(stream, durable).catch((err: unknown) => {
    if ((err as { name?: unknown }).name === 'ConsumerNotFoundError' || (err as { code?: unknown }).code === 10014) return null
    throw err
  })
  if (existing) {
    const had = existing.config.filter_subject ?? ''
    if (had !== filter) {
      throw mismatch(
        `consumer ${durable} of stream ${stream} filters ${JSON.stringify(had)}, not ${JSON.stringify(filter)}: ` +
          'name a new durable consumer for another filter, or delete this one (nats consumer rm)',
      )
    }
    if (existing.config.ack_policy === AckPolicy.None)
      throw mismatch(`consumer ${durable} of stream ${stream} does not take acknowledgements: name another durable consumer`)
    // The source acknowledges at commits only, and only the newest message committed (AckPolicy All acknowledges those
    // before it): with AckPolicy Explicit the others stay unacknowledged, and with a limit on unacknowledged messages the
    // server stops delivering once that many wait for a commit, which comes only at the end of a transaction. A consumer
    // made with `nats consumer add` (AckPolicy Explicit, max_ack_pending 1000), or edited so, stalled the daemon for good
    // inside the first transaction longer than the limit, with no error.
    if (existing.config.ack_policy !== AckPolicy.All) {
      throw mismatch(
        `consumer ${durable} of stream ${stream} acknowledges with AckPolicy ${String(existing.config.ack_policy)}, not all: the source acknowledges ` +
          'the newest committed message only, so its others would stay unacknowledged; name a new durable consumer (the source creates it), ' +
          'or delete this one (nats consumer rm)',
      )
    }
    const maxAckPending = existing.config.max_ack_pending ?? -1
    if (maxAckPending > 0) {
      throw mismatch(
        `consumer ${durable} of stream ${stream} delivers at most ${maxAckPending} unacknowledged messages (max_ack_pending): the source ` +
          'acknowledges at commits, at the end of a transaction, and would wait for ever inside a longer one; set max_ack_pending to -1 ' +
          '(nats consumer edit), or name a new durable consumer (the source creates it with no limit)',
      )
    }
    return durable
  }
  const config: Partial<ConsumerConfig> = {
    durable_name: durable,
    ack_policy: AckPolicy.All,
    deliver_policy: DeliverPolicy.All,
    filter_subject: filter,
    ack_wait: nanos(spec.ackWaitMs),
    // Acknowledgements come at commits (about once a second): pulls must not stall on them.
    max_ack_pending: -1,
  }
  await jsm.consumers.add(stream, config)
  return durable
}
