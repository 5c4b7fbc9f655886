import t from 'tap'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { JetStreamListener } from '../../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../../lib/listeners/builtin/jetstream/jetstream-options.js'
import type { JournalEntry } from '../../../lib/journal/entry.js'
import { JetStreamJournalSource } from '../../../lib/source/jetstream/jetstream-journal-source.js'
import { transactions } from '../../helpers/entries.js'
import { natsSkip, startNats, type NatsServer } from '../../helpers/nats.js'

const silent = { debug() {}, info() {}, warn() {}, error() {} }

async function publish(server: NatsServer, stream: string): Promise<JournalEntry[]> {
  const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream, server: 'm' }))
  await l.open({ start: null, logger: silent, signal: new AbortController().signal })
  const all = transactions(30, 4).entries
  for (const e of all) await l.listen(e)
  await l.sync({ journal: 4, offset: (all.at(-1) as JournalEntry).position.end })
  await l.close()
  return all
}

/**
 * The durable consumer, or its stream, deleted while the source reads: no
 * pull is answered any more, and every one failed with the client's
 * "heartbeats missed", retried until the daemon gave up with that bare
 * message (no code, no position). Now ERR_JETSTREAM_MISMATCH at the first
 * failed pull, naming what was deleted and where reading stood.
 */
t.test('a durable consumer or its stream deleted while the source reads: ERR_JETSTREAM_MISMATCH with the position', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const nc = await connect({ servers: server.url })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)

  for (const what of ['consumer', 'stream'] as const) {
    const stream = `S_${what}`
    const all = await publish(server, stream)
    const source = new JetStreamJournalSource({
      servers: server.url,
      stream,
      durable: 'reader',
      quietMs: 200,
      retry: { retries: 3, minTimeout: 100, maxTimeout: 200, randomize: false },
    })
    const failed = new Promise<Error>((resolve) => source.once('error', resolve))
    let n = 0
    const reading = (async () => {
      for await (const e of source) {
        n++
        if (e.position.end === (all.at(-1) as JournalEntry).position.end) {
          if (what === 'consumer') await jsm.consumers.delete(stream, 'reader')
          else await jsm.streams.delete(stream)
        }
      }
    })().catch(() => {})
    const err = (await failed) as Error & { code?: string }
    await reading
    t.equal(n, all.length, `${what}: every record read first`)
    t.equal(err.code, 'ERR_JETSTREAM_MISMATCH', `${what} deleted: a stable code (${err.message})`)
    t.match(err.message, what === 'consumer' ? /durable consumer reader of stream S_consumer was deleted/ : /stream S_stream was deleted/)
    t.match(err.message, `ended at 4/${(all.at(-1) as JournalEntry).position.end}`, 'naming where reading stood')
    if (what === 'consumer') await jsm.streams.delete(stream) // the next one takes the same subjects
  }
})
