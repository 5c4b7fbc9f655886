import t from 'tap'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { JetStreamListener } from '../../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../../lib/listeners/builtin/jetstream/jetstream-options.js'
import type { JournalEntry } from '../../../lib/journal/entry.js'
import { JetStreamJournalSource } from '../../../lib/source/jetstream/jetstream-journal-source.js'
import { entriesOf, transactions } from '../../helpers/entries.js'
import { natsSkip, startNats } from '../../helpers/nats.js'

/**
 * A durable consumer with one filter (the consumer's own) on a stream where
 * what it takes is rare: the messages the consumer skips are not asked for
 * one by one before the first one it delivers.
 */

const silent = { debug() {}, info() {}, warn() {}, error() {} }

t.test('one filter: the first delivered message of a run comes without a request for each message the filter skipped', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: 'S', server: 'm' }))
  await l.open({ start: null, logger: silent, signal: new AbortController().signal })
  t.teardown(() => l.close())
  let offset = 0
  let line = 1
  /** `count` transactions of db.counters, then one db.change record; returns the db.change entry. */
  const publish = async (count: number, change: number): Promise<JournalEntry> => {
    const filler = transactions(count, 1, offset, line)
    const last = filler.entries.at(-1) as JournalEntry
    const tail = entriesOf(
      [{ op: 'pv', version: 1, table: 'db.change', fields: [change, change, 'depot', 'user', 1700000000, 1, 'desc'] }],
      1,
      last.position.end,
      2 * count + line,
    )
    const all = [...filler.entries, ...tail.entries]
    for (const e of all) await l.listen(e)
    const done = all.at(-1) as JournalEntry
    await l.sync({ journal: 1, offset: done.position.end })
    offset = done.position.end
    line += 2 * count + 1
    return tail.entries[0] as JournalEntry
  }
  const first = await publish(1500, 1)

  const nc = await connect({ servers: server.url })
  t.teardown(() => nc.close())
  await jetstreamManager(nc)
  // Every request for a stream message, whoever sends it (a subscriber of an API subject gets a copy).
  let gets = 0
  nc.subscribe('$JS.API.STREAM.MSG.GET.S', {
    callback: () => {
      gets++
    },
  })
  await nc.flush()
  const reader = () => new JetStreamJournalSource({ servers: server.url, stream: 'S', durable: 'changes', filter: 'p4.journal.pv.db.change', untilEnd: true })
  const read = async (commit: boolean): Promise<JournalEntry[]> => {
    const source = reader()
    const out: JournalEntry[] = []
    for await (const e of source.iterator({ destroyOnReturn: false })) {
      out.push(e as JournalEntry)
      if (commit) source.commit(e as JournalEntry)
    }
    await source.flushState()
    source.destroy()
    await new Promise((resolve) => (source.closed ? resolve(null) : source.once('close', resolve)))
    return out
  }

  const one = await read(true)
  t.same(
    one.map((e) => e.raw.toString()),
    [first.raw.toString()],
    'the one db.change record',
  )
  t.ok(gets < 10, `a new consumer: ${gets} message requests, not one per skipped message (3000)`)

  gets = 0
  const second = await publish(1500, 2)
  const two = await read(false)
  t.same(
    two.map((e) => e.raw.toString()),
    [second.raw.toString()],
    'after the acknowledged one, the next',
  )
  t.ok(gets < 10, `a restart: ${gets} message requests`)

  // Delivered to the run before and not acknowledged: read again, once.
  gets = 0
  const third = await publish(10, 3)
  const again = await read(true)
  t.same(
    again.map((e) => e.raw.toString()),
    [second.raw.toString(), third.raw.toString()],
    'what the run before received and did not acknowledge, then the rest',
  )
})
