import { z } from 'zod'
import { msSchema } from '../../../timer-ms.js'
import { checkAuth, connectionShape } from '../../../jetstream/connection-options.js'

/**
 * A stream name: JetStream forbids spaces, `.`, `*`, `>`, path separators,
 * and more than 255 characters (a longer one was refused only by the
 * server, at the stream's creation, and retried as temporary for minutes).
 */
export const streamName = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, { message: 'expected a stream name of letters, digits, _ and -' })
  .max(255, { message: 'expected a stream name of at most 255 characters (JetStream allows no more)' })

/** A subject prefix: dot-separated tokens without wildcards or spaces. */
export const subjectPrefix = z
  .string()
  .regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, { message: 'expected a subject prefix such as p4.journal (tokens of letters, digits, _ and -)' })

/**
 * Most messages published and not yet acknowledged by the stream. Enough to
 * keep a loopback or LAN round trip busy (benchmarks/, jetstream-publish),
 * small enough that a stalled server holds at most this many entries (and
 * their read chunks) in memory.
 */
export const DEFAULT_MAX_IN_FLIGHT = 1024

export const optionsSchema = z
  .strictObject({
    ...connectionShape,
    stream: streamName.default('P4JOURNAL').describe('The stream (created when missing, with createStream).'),
    subject: subjectPrefix.default('p4.journal').describe('Subject prefix: records go to SUBJECT.OP.TABLE (data) or SUBJECT.OP.'),
    server: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, { message: 'expected a server name of letters, digits, _, . and -' })
      .describe('Names the journal in message ids (SERVER:N/offset), e.g. the server id; one server per stream.'),
    createStream: z.boolean().default(true).describe('Create the stream when it is missing (file storage, SUBJECT.>).'),
    replicas: z.number().int().min(1).max(5).default(1).describe('Replicas of a stream the listener creates (a JetStream cluster: 3).'),
    duplicateWindowMs: msSchema().min(1000).default(120_000).describe('Duplicate window of a stream the listener creates, ms (default 2 min).'),
    maxInFlight: z
      .number()
      .int()
      .min(1)
      .max(65_536)
      .default(DEFAULT_MAX_IN_FLIGHT)
      .describe(`Most unacknowledged publishes (default ${DEFAULT_MAX_IN_FLIGHT}): the listener waits beyond it.`),
    ackTimeoutMs: msSchema().min(100).default(10_000).describe('How long a publish waits for the stream to acknowledge it, ms.'),
  })
  .superRefine(checkAuth)
  .describe('jetstream: publishes every journal record once into a NATS JetStream stream.')

export type JetStreamListenerOptions = z.infer<typeof optionsSchema>
