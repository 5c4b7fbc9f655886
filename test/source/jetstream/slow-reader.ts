import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { JetStreamListener } from '../../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../../lib/listeners/builtin/jetstream/jetstream-options.js'
import type { JournalEntry } from '../../../lib/journal/entry.js'
import { JetStreamJournalSource } from '../../../lib/source/jetstream/jetstream-journal-source.js'
import { transactions } from '../../helpers/entries.js'
import { natsSkip, startNats, type NatsServer } from '../../helpers/nats.js'

/**
 * A reader slower than the pull's heartbeats: a listener that holds the
 * source (a slow webhook, a replica on a busy disk) leaves the rest of a
 * pulled batch waiting in the client, and the pull must not fail meanwhile.
 */

const silent = { debug() {}, info() {}, warn() {}, error() {} }

async function publish(server: NatsServer, count: number): Promise<Buffer> {
  const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: 'S', server: 'm' }))
  await l.open({ start: null, logger: silent, signal: new AbortController().signal })
  const { entries, bytes } = transactions(count, 1)
  for (const e of entries) await l.listen(e)
  await l.sync({ journal: 1, offset: bytes.length })
  await l.close()
  return bytes
}

t.test('a reader that pauses longer than two pull heartbeats in the middle of a batch: no failed pull, every record once', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const bytes = await publish(server, 60)
  // No retry at all: a pull that fails fails the source.
  const source = new JetStreamJournalSource({
    servers: server.url,
    stream: 'S',
    durable: 'slow',
    batch: 40,
    highWaterMark: 2,
    untilEnd: true,
    retry: { retries: 0 },
  })
  const retries: string[] = []
  source.on('retry', ({ err }: { err: Error }) => retries.push(err.message))
  const got: Buffer[] = []
  for await (const e of source) {
    got.push((e as JournalEntry).raw)
    source.commit(e as JournalEntry)
    // The batch holds 40 messages: pause at the 10th and 50th (a pull of 40 and one of 40 again), longer than two 1 s heartbeats and the check after them.
    if (got.length === 10 || got.length === 50) await sleep(3500)
  }
  t.same(retries, [], 'no pull failed')
  t.ok(Buffer.concat(got).equals(bytes), `${got.length} records, the journal's ${bytes.length} bytes`)
})

t.test(
  'without a durable, a consumer the server removed while the reader paused (inactive threshold) is made again where reading stopped',
  { skip: natsSkip },
  async (t) => {
    const server = await startNats(t.testdir())
    t.teardown(() => server.stop())
    const bytes = await publish(server, 60)
    const nc = await connect({ servers: server.url })
    t.teardown(() => nc.close())
    const jsm = await jetstreamManager(nc)
    /** What the server does to an ephemeral consumer without a pull for its inactive threshold (30 s): removes it. */
    const removeConsumers = async () => {
      for await (const ci of jsm.consumers.list('S')) await jsm.consumers.delete('S', ci.name)
    }
    const source = new JetStreamJournalSource({
      servers: server.url,
      stream: 'S',
      batch: 20,
      highWaterMark: 2,
      untilEnd: true,
      retry: { retries: 1, minTimeout: 100 },
    })
    const retries: string[] = []
    source.on('retry', ({ err }: { err: Error }) => retries.push(err.message))
    const got: Buffer[] = []
    for await (const e of source) {
      got.push((e as JournalEntry).raw)
      // A long pause (logdaemon-cat --jetstream into a pager): the consumer is found gone before the next pull.
      if (got.length === 30) {
        await removeConsumers()
        await sleep(11_000)
      }
      // A short one: the next pull fails, and its retry finds the consumer gone.
      if (got.length === 70) await removeConsumers()
    }
    t.ok(Buffer.concat(got).equals(bytes), `${got.length} records, the journal's ${bytes.length} bytes, each once`)
    t.ok(retries.length <= 1, `at most the pull after the short pause failed: ${JSON.stringify(retries)}`)
  },
)
