import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
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
