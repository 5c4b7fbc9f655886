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
