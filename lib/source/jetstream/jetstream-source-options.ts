import type { FieldEncoding } from '../../journal/entry.js'
import type { NatsConnectionOptions } from '../../jetstream/connection-options.js'
import type { RetryOptions } from '../../retry.js'
import type { JournalPosition } from '../../position.js'

/** Options of {@link JetStreamJournalSource}. */
export interface JetStreamJournalSourceOptions extends NatsConnectionOptions {
  /** The stream the `jetstream` listener publishes into. */
  stream: string
  /** The subject prefix the listener publishes under. Default `p4.journal`. */
  subject?: string
  /**
   * The durable pull consumer: created when missing (from the stream's
   * first message), resumed where its acknowledgements left off otherwise.
   * Without one, an ephemeral consumer reads the stream from its start and
   * nothing is acknowledged (`logdaemon-cat --jetstream`).
   */
  durable?: string
  /**
   * Only messages under these subjects (wildcards allowed), e.g.
   * `p4.journal.pv.db.rev`. One filter is the consumer's; several are
   * applied by the source (a 2.9 server has one filter per consumer).
   */
  filter?: string | readonly string[]
  /**
   * With a durable consumer: take a lease on it first (see DurableLock), so
   * a second reader of the same durable is refused with ERR_LOCKED instead
   * of silently splitting the records with the first; the reader then
   * also records what it acknowledges (see AckRecord). Default true. The
   * NATS user must be allowed to create and write the `LOGDAEMON_LOCKS`
   * and `LOGDAEMON_ACKS` streams (subjects `logdaemon.lock.>`,
   * `logdaemon.ack.>`).
   */
  exclusive?: boolean
  /**
   * With a durable consumer: a file on this host where the reader records
   * the journal position its listeners committed through (the daemon's
   * file beside its `state`), saved before each acknowledgement. A reader whose
   * nats-server lost its store (the stream made again, a new consumer)
   * goes on from there: the first record must start there
   * (ERR_JETSTREAM_GAP otherwise), and records up to it are not handed
   * out again. Locked while the source is open (ERR_LOCKED).
   */
  state?: string
  /** Wait (with `retry`'s backoff) for a stream that does not exist yet, instead of failing at once. The daemon does. */
  waitForStream?: boolean
  /** End the stream once the messages there at open are read (`logdaemon-cat --jetstream`), instead of following. */
  untilEnd?: boolean
  /** How entries decode field bytes. Default utf8. */
  encoding?: FieldEncoding
  /** Emit `quiet` after this many ms without a new message at the stream's end, and again every as long. Default 2000. At most 2^31-1 (else a RangeError, as for ackWaitMs and retry's delays). */
  quietMs?: number
  /**
   * While records committed before (see `state`) are read and not handed
   * out, emit `skipping` ({ messages read so far, at: the end of the last
   * one, through: where the skip ends }) every this many ms from its start.
   * Default 10000. At most 2^31-1.
   */
  skipProgressMs?: number
  /** Messages asked for in one pull (and so the most held beyond the Readable's buffer). Default 256. */
  batch?: number
  /** How long the server waits for an acknowledgement before delivering again, ms (a durable consumer it creates). Default 60000. */
  ackWaitMs?: number
  /** Backoff of the connection and of pulls that fail (p-retry). Default: the listeners' retry defaults. */
  retry?: RetryOptions
  /** Readable buffer in entries. Default 16. */
  highWaterMark?: number
  /** Aborting ends the stream like `destroy()`. */
  signal?: AbortSignal
}

/** Where the source starts: after the consumer's acknowledged floor. */
export interface JetStreamStart extends JournalPosition {
  /** Line of the byte at `offset`, or 0 when unknown. */
  readonly line: number
  /**
   * `acked`: after the durable consumer's last acknowledged record;
   * `stream`: the stream's first record; `state`: after the position the
   * `state` file recorded, past what the consumer acknowledged (messages
   * up to it are read and not handed out).
   */
  readonly how: 'acked' | 'stream' | 'state'
  /** Stream sequence of the first message to read. */
  readonly seq: number
}

/**
 * The `stateAhead` event: at open, the `state` file's position is past
 * what the durable consumer acknowledged, and the consumer acknowledged
 * nothing or the stream was made again since the file was saved (a
 * nats-server that lost its store, a consumer or stream deleted and made
 * again), or the position is past the stream's last record (`streamEnd`).
 * Reading goes on from `saved`.
 */
export interface JetStreamStateAhead {
  readonly saved: JournalPosition
  readonly savedAt: string
  /** The stream's `created` now, and as the file recorded it (null: not recorded). */
  readonly streamCreated: string
  readonly savedStreamCreated: string | null
  /** The stream sequence the consumer had acknowledged (0: none). */
  readonly acknowledged: number
  /** Where the stream's last record ends, when the saved position is past it (every record up to it is skipped); else null. */
  readonly streamEnd: JournalPosition | null
  /**
   * A filtered reader only: where the stream's first record starts, when
   * that is past the saved position and not right after it (the records
   * between are in no stream; some may have been this reader's); else null.
   */
  readonly streamStart: JournalPosition | null
}
