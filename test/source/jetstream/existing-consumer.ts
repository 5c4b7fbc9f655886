import t from 'tap'
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { JetStreamListener } from '../../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../../lib/listeners/builtin/jetstream/jetstream-options.js'
import type { JournalEntry } from '../../../lib/journal/entry.js'
import { JetStreamJournalSource } from '../../../lib/source/jetstream/jetstream-journal-source.js'
import { transactions } from '../../helpers/entries.js'
import { natsSkip, startNats } from '../../helpers/nats.js'

const silent = { debug() {}, info() {}, warn() {}, error() {} }

/**
 * A durable consumer made outside logdaemon (`nats consumer add` takes
 * AckPolicy Explicit and max_ack_pending 1000 by default) or edited so: the
 * source acknowledges only at commits, at the end of a transaction, so the
 * server stopped delivering once the limit waited for a commit inside a
 * longer transaction, and the daemon stalled for good without an error (a
 * probe: stream sequence 52 of 60000, for minutes). It is refused at open.
 */
t.test('an existing durable consumer that limits unacknowledged messages, or acknowledges explicitly, is refused at open', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: 'S', server: 'm' }))
  await l.open({ start: null, logger: silent, signal: new AbortController().signal })
  const all = transactions(30, 4).entries
  for (const e of all) await l.listen(e)
  await l.sync({ journal: 4, offset: (all.at(-1) as JournalEntry).position.end })
  await l.close()

  const nc = await connect({ servers: server.url })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)
  await jsm.consumers.add('S', { durable_name: 'limited', ack_policy: AckPolicy.All, max_ack_pending: 20, filter_subject: 'p4.journal.>' })
  await jsm.consumers.add('S', { durable_name: 'explicit', ack_policy: AckPolicy.Explicit, max_ack_pending: -1, filter_subject: 'p4.journal.>' })
  await jsm.consumers.add('S', { durable_name: 'defaults', ack_policy: AckPolicy.Explicit, filter_subject: 'p4.journal.>' })
  await jsm.consumers.add('S', { durable_name: 'fine', ack_policy: AckPolicy.All, max_ack_pending: -1, filter_subject: 'p4.journal.>' })

  for (const [durable, why] of [
    ['limited', /at most 20 unacknowledged messages \(max_ack_pending\)/],
    ['explicit', /AckPolicy explicit, not all/],
    ['defaults', /AckPolicy explicit, not all/],
  ] as const) {
    const source = new JetStreamJournalSource({ servers: server.url, stream: 'S', durable, quietMs: 200, exclusive: false })
    await t.rejects(source.open(), { code: 'ERR_JETSTREAM_MISMATCH', message: why }, `${durable}: refused, saying why`)
    source.destroy()
  }

  // One with no limit and AckPolicy All reads every record (what the source makes itself).
  const fine = new JetStreamJournalSource({ servers: server.url, stream: 'S', durable: 'fine', quietMs: 200, exclusive: false, untilEnd: true })
  let n = 0
  for await (const _ of fine) n++
  t.equal(n, all.length, 'a consumer made as the source makes it reads every record')
})
