import t from 'tap'
import { jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { JetStreamListener } from '../../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../../lib/listeners/builtin/jetstream/jetstream-options.js'
import type { JournalEntry } from '../../../lib/journal/entry.js'
import { JetStreamJournalSource } from '../../../lib/source/jetstream/jetstream-journal-source.js'
import { transactions } from '../../helpers/entries.js'
import { natsSkip, startNats } from '../../helpers/nats.js'

/**
 * A NATS user that may not use LOGDAEMON_ACKS (a deployment whose rights
 * were set when the reader needed LOGDAEMON_LOCKS only): the reader says so
 * at once with ERR_JETSTREAM_CONNECT and what to change. Before, opening
 * retried the permissions violation for the whole retry budget (minutes
 * with the defaults) and failed with the client's RequestError, no code; a
 * following reader failed so at its first commit; and a commit after the
 * end (logdaemon-cat --durable) was dropped without an error: the records
 * printed, none acknowledged, exit 0.
 */

const silent = { debug() {}, info() {}, warn() {}, error() {} }
const conf = `authorization { users = [
  { user: admin, password: admin },
  { user: r, password: r, permissions: {
      publish: { allow: [">"], deny: ["logdaemon.ack.>", "$JS.API.STREAM.CREATE.LOGDAEMON_ACKS"] },
      subscribe: ">" } }
] }`

/** Settles within `ms`, or says it did not. */
function within<T>(p: Promise<T>, ms: number): Promise<T | string> {
  return Promise.race([p, new Promise<string>((resolve) => setTimeout(() => resolve(`still pending after ${ms} ms`), ms).unref())])
}

const outcome = (p: Promise<unknown>): Promise<string> =>
  p.then(
    (v) => `resolved ${String(v)}`,
    (err: unknown) => `${(err as { code?: string }).code}: ${(err as Error).message}`,
  )

t.test('a NATS user without the right to LOGDAEMON_ACKS: ERR_JETSTREAM_CONNECT at once, saying what to change', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir(), { conf })
  t.teardown(() => server.stop())
  const nc = await connect({ servers: server.url, user: 'admin', pass: 'admin' })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({ name: 'R', subjects: ['r.j.>'], storage: StorageType.File })
  const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, user: 'admin', password: 'admin', stream: 'R', server: 'm', subject: 'r.j' }))
  await l.open({ start: null, logger: silent, signal: new AbortController().signal })
  t.teardown(() => l.close())
  const all = transactions(20, 1).entries
  for (const e of all) await l.listen(e)
  await l.sync({ journal: 1, offset: (all.at(-1) as JournalEntry).position.end })
  const refused = /^ERR_JETSTREAM_CONNECT: the NATS user may not use the LOGDAEMON_ACKS stream.*Permissions Violation.*exclusive: false/

  // LOGDAEMON_ACKS missing, and the user may not create it.
  const opening = new JetStreamJournalSource({ servers: server.url, user: 'r', password: 'r', stream: 'R', subject: 'r.j', durable: 'd' })
  t.teardown(() => opening.destroy())
  t.match(await within(outcome(opening.open()), 5000), refused, 'open fails at once: it may not create the stream')
  opening.destroy()
  if (!opening.closed) await new Promise((resolve) => opening.once('close', resolve))

  // LOGDAEMON_ACKS there, and the user may not publish to it.
  await jsm.streams.add({
    name: 'LOGDAEMON_ACKS',
    subjects: ['logdaemon.ack.>'],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    max_msgs_per_subject: 1,
  })
  const following = new JetStreamJournalSource({ servers: server.url, user: 'r', password: 'r', stream: 'R', subject: 'r.j', durable: 'd' })
  t.teardown(() => following.destroy())
  const reading = (async () => {
    for await (const e of following) following.commit(e as JournalEntry)
  })()
  t.match(await within(outcome(reading), 5000), refused, 'a following reader fails at its first commit')

  following.destroy()
  if (!following.closed) await new Promise((resolve) => following.once('close', resolve))

  // As logdaemon-cat --durable does: read to the end, committing what was printed, then flushState.
  const cat = new JetStreamJournalSource({ servers: server.url, user: 'r', password: 'r', stream: 'R', subject: 'r.j', durable: 'c', untilEnd: true })
  const catting = (async () => {
    for await (const e of cat) cat.commit(e as JournalEntry)
    await cat.flushState()
  })()
  t.match(await within(outcome(catting), 5000), refused, 'logdaemon-cat --durable fails instead of passing with nothing acknowledged')
  t.equal((await jsm.consumers.info('R', 'd')).ack_floor.stream_seq, 0, 'nothing was acknowledged')
  t.equal((await jsm.consumers.info('R', 'c')).ack_floor.stream_seq, 0, 'by either')
})
