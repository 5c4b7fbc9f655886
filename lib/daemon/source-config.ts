import { z } from 'zod'
import { msSchema } from '../timer-ms.js'
import { checkAuth, connectionShape, resolveConnectionFiles, type NatsConnectionOptions } from '../jetstream/connection-options.js'
import { streamName, subjectPrefix } from '../listeners/builtin/jetstream/jetstream-options.js'

/** A subject filter: tokens, `*` for one token, `>` last for the rest. */
const subjectFilter = z.string().regex(/^([A-Za-z0-9_-]+|\*)(\.([A-Za-z0-9_-]+|\*))*(\.>)?$|^>$/, {
  message: 'expected a subject such as p4.journal.pv.db.rev or p4.journal.*.db.rev or p4.journal.pv.>',
})

/** `source: { type: 'jetstream', … }`: the daemon reads a stream instead of the journal files. */
export const jetstreamSourceSchema = z
  .strictObject({
    type: z.literal('jetstream').describe('Read the journal from a NATS JetStream stream (published by the jetstream listener).'),
    ...connectionShape,
    stream: streamName.describe('The stream the jetstream listener publishes into.'),
    subject: subjectPrefix.default('p4.journal').describe('The subject prefix the listener publishes under.'),
    durable: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, { message: 'expected a consumer name of letters, digits, _ and -' })
      .describe("The durable consumer: this daemon's own cursor in the stream (created when missing, from the first message)."),
    filter: z
      .union([subjectFilter, z.array(subjectFilter).min(1)])
      .optional()
      .describe('Only records under these subjects (e.g. p4.journal.pv.db.rev). With a filter, positions are committed after any record.'),
    ackWaitMs: msSchema().min(1000).optional().describe('Consumer ack wait the daemon creates it with, ms (default 60000).'),
    batch: z.number().int().min(1).max(10_000).optional().describe('Messages per pull (default 256).'),
    exclusive: z
      .boolean()
      .optional()
      .describe(
        'Refuse to read when another live reader holds the durable consumer (a lease in the LOGDAEMON_LOCKS stream). Default true; false only where the NATS user may not create that stream.',
      ),
  })
  .superRefine(checkAuth)

export type JetStreamSourceConfig = z.infer<typeof jetstreamSourceSchema>

/** The source's file options (nkey, creds, tls) made absolute. */
export function resolveSourceFiles(source: JetStreamSourceConfig, baseDir: string): JetStreamSourceConfig {
  return resolveConnectionFiles(source as JetStreamSourceConfig & Partial<NatsConnectionOptions>, baseDir)
}

/**
 * Where a daemon reading a stream keeps the position its listeners
 * committed through: beside its `state`, named after it, the stream and the
 * durable consumer (STATE.jetstream.STREAM.DURABLE.json), as notify names
 * its files after the state. Not `state` itself: daemons whose
 * configurations share a directory all default to logdaemon.state.json (a
 * publisher and its consumers on one host), and each needs its own file.
 */
export function consumerStatePath(state: string, source: { stream: string; durable: string }): string {
  return `${state.replace(/\.json$/, '')}.jetstream.${source.stream}.${source.durable}.json`
}
