import { liveJournalPath } from '../files/journal-name.js'
import { JetStreamJournalSource, type JetStreamStart } from '../source/jetstream/jetstream-journal-source.js'
import { RotatingJournalSource, type StartPoint } from '../source/rotating-journal-source.js'
import type { DaemonConfig } from './config.js'
import { consumerStatePath } from './source-config.js'

/** What the daemon reads: the journal files, or a JetStream stream the jetstream listener fills. */
export type DaemonSource = RotatingJournalSource | JetStreamJournalSource

/** Where a daemon's reading starts: a journal position, or (a stream) after the acknowledged records; null for an empty stream. */
export type DaemonStart = StartPoint | JetStreamStart | null

/** The source a configuration names. */
export function createSource(c: DaemonConfig): DaemonSource {
  const s = c.source
  if (s) {
    const { type: _type, ...options } = s
    // The committed position is kept on this host too: it outlives a nats-server's lost store.
    return new JetStreamJournalSource({ ...options, state: consumerStatePath(c.state, s), quietMs: c.quietMs, retry: c.retry, waitForStream: true })
  }
  const server = c.server as NonNullable<DaemonConfig['server']>
  return new RotatingJournalSource({
    root: server.root,
    ...(server.journal ? { journal: server.journal } : {}),
    ...(server.prefix ? { prefix: server.prefix } : {}),
    ...(c.from !== undefined ? { from: c.from } : {}),
    state: c.state,
    // `logdaemon run` takes no --from: messages name the configuration's keys.
    adviceAs: 'config',
    quietMs: c.quietMs,
    saveIntervalMs: c.commitIntervalMs,
    // Entries go to the ListenerChain a read chunk at a time (the chain is made with `batch` for this source).
    batch: true,
  })
}

/** What the status page shows as the root and the live journal. */
export function describeSource(c: DaemonConfig): { root: string; liveJournal: string } {
  if (c.source) return { root: `jetstream stream ${c.source.stream}`, liveJournal: `durable consumer ${c.source.durable}` }
  const server = c.server as NonNullable<DaemonConfig['server']>
  return { root: server.root, liveJournal: liveJournalPath(server) }
}
