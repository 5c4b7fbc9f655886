import t, { type Test } from 'tap'
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { JetStreamListener } from '../../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../../lib/listeners/builtin/jetstream/jetstream-options.js'
import type { JournalEntry } from '../../../lib/journal/entry.js'
import { JetStreamJournalSource, type JetStreamJournalSourceOptions } from '../../../lib/source/jetstream/jetstream-journal-source.js'
import { transactions } from '../../helpers/entries.js'
import { natsSkip, startNats } from '../../helpers/nats.js'

/**
 * A durable consumer that received records it never acknowledged (a run
 * killed, or stopped with entries still in its buffer), which the stream's
 * limits then removed: nats-server moves the consumer's ack floor over
 * removed messages that were delivered and not acknowledged, so the floor
 * says "acknowledged" for records no listener saw. The restart must not
 * take that floor for what it acknowledged.
 *
 * The server's consumer state alone cannot tell this floor from a real
 * one (observed with nats-server 2.9.10): the source keeps its own record
 * of what it acknowledged (AckRecord, the LOGDAEMON_ACKS stream). It was
 * also why the trimmed-stream test of jetstream-journal-source.ts failed
 * now and then (a waiting pull of the destroyed reader got messages:
 * "comes after message 13", not 10).
 */

const silent = { debug() {}, info() {}, warn() {}, error() {} }

/**
 * A nats-server with a stream `name` (subjects `name.j.>` in lower case,
 * with `limits`) that a jetstream listener publishes `entries` into,
 * `publish(from, to)` at a time, and a connection to look at it with.
 */
async function publishedStream(t: Test, name: string, entries: readonly JournalEntry[], limits: { max_msgs?: number } = {}) {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const nc = await connect({ servers: server.url })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)
  const subject = `${name.toLowerCase()}.j`
  await jsm.streams.add({ name, subjects: [`${subject}.>`], storage: StorageType.File, ...limits })
  const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: name, server: 'm', subject }))
  await l.open({ start: null, logger: silent, signal: new AbortController().signal })
  t.teardown(() => l.close())
  const publish = async (from = 0, to = entries.length): Promise<void> => {
    for (const e of entries.slice(from, to)) await l.listen(e)
    const last = (entries[to - 1] as JournalEntry).position
    await l.sync({ journal: last.journal as number, offset: last.end })
  }
  const source = { servers: server.url, stream: name, subject, durable: 'd' }
  return { server, nc, jsm, publish, source }
}

/** A run that receives `stop` records, commits the `commitAt`-th, and ends with the rest unacknowledged. */
async function runThatStops(options: JetStreamJournalSourceOptions, commitAt: number, stop: number): Promise<void> {
  const run = new JetStreamJournalSource(options)
  let n = 0
  for await (const e of run.iterator({ destroyOnReturn: false })) {
    if (++n === commitAt) run.commit(e as JournalEntry)
    if (n === stop) break
  }
  await run.flushState()
  run.destroy()
  await new Promise((resolve) => run.once('close', resolve))
}

t.test('records delivered, not acknowledged, then removed by limits: the restart is ERR_JETSTREAM_GAP, not a silent skip', { skip: natsSkip }, async (t) => {
  const all = transactions(20, 1).entries
  const { jsm, publish, source } = await publishedStream(t, 'L', all, { max_msgs: 20 })
  await publish(0, 13)
  // Records 1..10 done and committed; 11..13 received, then the run ends.
  await runThatStops(source, 10, 13)
  t.equal((await jsm.consumers.info('L', 'd')).ack_floor.stream_seq, 10, 'the consumer acknowledged message 10')
  // 33 messages in a stream of 20: 1..13 go, 11..13 among them, unread by any listener.
  await publish(13, 33)
  const after = await jsm.consumers.info('L', 'd')
  t.comment(`ack floor now ${after.ack_floor.stream_seq} (the server moved it), stream from ${(await jsm.streams.info('L')).state.first_seq}`)
  const again = new JetStreamJournalSource(source)
  const got: JournalEntry[] = []
  const read = (async () => {
    for await (const e of again) if (got.push(e as JournalEntry) === 1) break
  })()
  const outcome = await read.then(
    () => `no error: the first record handed out is line ${got[0]?.position.line}, records 11..13 were never handed out`,
    (err: unknown) => `${(err as { code?: string }).code}: ${(err as Error).message}`,
  )
  t.comment(`the restart: ${outcome}`)
  t.match(
    outcome,
    /^ERR_JETSTREAM_GAP: .*comes after message 10, the last this consumer acknowledged, but the stream removed messages 11 to 13 unread/,
    'the stream removed records 11..13 unread',
  )
})

t.test(
  'a run that recorded an acknowledgement and stopped before sending it: the restart hands out nothing up to the record again',
  { skip: natsSkip },
  async (t) => {
    const all = transactions(20, 1).entries
    const { nc, jsm, publish, source } = await publishedStream(t, 'R', all)
    await publish()
    await runThatStops(source, 15, 20)
    // Acknowledged: the newest message kept for it at or before the commit (a consistency point), as recorded first.
    const floor = (await jsm.consumers.info('R', 'd')).ack_floor.stream_seq
    t.ok(floor > 0 && floor <= 15, `acknowledged through message ${floor}`)
    const record = await jsm.streams.getMessage('LOGDAEMON_ACKS', { last_by_subj: 'logdaemon.ack.R.d' })
    const written = JSON.parse(new TextDecoder().decode(record?.data)) as { seq: number; journal: number; offset: number }
    t.same(
      written,
      { format: 'logdaemon-ack', seq: floor, journal: 1, offset: (all[floor - 1] as JournalEntry).position.end },
      'the record of the acknowledgement',
    )
    // As a run leaves it that committed 3 messages further, stored the record, and died before the acknowledgement went.
    const ahead = floor + 3
    await jetstream(nc).publish('logdaemon.ack.R.d', JSON.stringify({ ...written, seq: ahead, offset: (all[ahead - 1] as JournalEntry).position.end }))
    const again = new JetStreamJournalSource({ ...source, untilEnd: true })
    const got: JournalEntry[] = []
    for await (const e of again) got.push(e as JournalEntry)
    t.same(
      got.map((e) => e.position.offset),
      all.slice(ahead).map((e) => e.position.offset),
      'only the messages after the record: those up to it were committed, though the consumer had them unacknowledged',
    )
  },
)

/**
 * The record outlives its consumer: LOGDAEMON_ACKS keeps it when the
 * durable consumer is deleted (`nats consumer rm`, as the docs advise for a
 * new filter, or to read again from the start), or the journal stream with
 * it (the journals republished into a new stream of the same name). The new
 * consumer of that name starts at the stream's first message; the old
 * record, past its floor of 0, was taken for "committed up to here, stopped
 * before the acknowledgement", and every message up to it was dropped:
 * logdaemon-cat --durable printed nothing and exited 0, and a daemon
 * mirrored nothing of them.
 */
t.test('a record of a deleted consumer, or of a deleted stream, is not taken for the new consumer of that name', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const nc = await connect({ servers: server.url })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)
  const all = transactions(20, 1).entries
  const publish = async (count: number) => {
    await jsm.streams.add({ name: 'N', subjects: ['n.j.>'], storage: StorageType.File })
    const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: 'N', server: 'm', subject: 'n.j' }))
    await l.open({ start: null, logger: silent, signal: new AbortController().signal })
    for (const e of all.slice(0, count)) await l.listen(e)
    await l.sync({ journal: 1, offset: (all[count - 1] as JournalEntry).position.end })
    await l.close()
  }
  /** Every record a run reads, each committed once read (or none: a run killed before its first commit). */
  const read = async (commit = true): Promise<number[]> => {
    const s = new JetStreamJournalSource({ servers: server.url, stream: 'N', subject: 'n.j', durable: 'd', untilEnd: true })
    const got: number[] = []
    for await (const e of s) {
      got.push((e as JournalEntry).position.offset)
      if (commit) s.commit(e as JournalEntry)
    }
    return got
  }
  const offsets = (n: number) => all.slice(0, n).map((e) => e.position.offset)
  await publish(all.length)
  t.same(await read(), offsets(all.length), 'the first consumer d reads every record and acknowledges them')
  t.same(await read(), [], 'a restart has nothing more to read')

  await jsm.consumers.delete('N', 'd')
  t.same(await read(false), offsets(all.length), 'a new consumer d, made after the old one was deleted, reads from the stream start')
  t.same(await read(), offsets(all.length), 'and so does the next run when that one stopped before its first commit')

  await jsm.streams.delete('N')
  await publish(10)
  t.same(await read(), offsets(10), 'the consumer d of a stream N made again reads that stream from its start')
})

t.test('records a run left unacknowledged, read again by the next run and committed: no later run hands them out again', { skip: natsSkip }, async (t) => {
  const all = transactions(20, 1).entries
  const { jsm, publish, source } = await publishedStream(t, 'B', all)
  await publish()
  // Run 1 receives every message, commits the tenth and ends: the rest was delivered to it and never acknowledged.
  await runThatStops(source, 10, all.length)
  // Runs 2 and 3 read to the end and commit everything: run 2 gets the rest once (read from the stream directly, as
  // the server would redeliver it only after the ack wait); run 3, nothing. Before, every later run got it again.
  const counts: number[] = []
  const took: number[] = []
  for (let run = 2; run <= 3; run++) {
    const t0 = Date.now()
    const s = new JetStreamJournalSource({ ...source, untilEnd: true })
    let k = 0
    for await (const e of s) {
      k++
      s.commit(e as JournalEntry)
    }
    await s.flushState()
    counts.push(k)
    took.push(Date.now() - t0)
  }
  const committed = (await jsm.streams.getMessage('LOGDAEMON_ACKS', { last_by_subj: 'logdaemon.ack.B.d' }))?.data
  t.comment(`record ${new TextDecoder().decode(committed)}, ack floor ${(await jsm.consumers.info('B', 'd')).ack_floor.stream_seq}`)
  t.ok(counts[0] !== undefined && counts[0] > 0 && counts[0] < all.length, `run 2 got the rest of what run 1 left (${counts[0]})`)
  t.equal(counts[1], 0, 'run 3 got nothing: run 2 committed it all')
  // Not a speed figure: a pull for nothing waits its whole expiry (5 s), which is what run 2 used to end with.
  t.ok((took[0] as number) < 4000, `run 2 ended once it had read what run 1 left (${took[0]} ms), without a pull that waits 5 s for nothing`)
})

t.test('what a run left unacknowledged and the next committed is acknowledged when the server delivers it again', { skip: natsSkip }, async (t) => {
  const all = transactions(20, 1).entries
  const { jsm, publish, source } = await publishedStream(t, 'W', all)
  await publish()
  const options = { ...source, ackWaitMs: 1000 }
  await runThatStops(options, 10, all.length)
  // A following run: the rest, read from the stream directly, committed; the server delivers it again after the ack
  // wait, and only then can it be acknowledged. Before, it was dropped unacknowledged, and came again every ack wait.
  const second = new JetStreamJournalSource({ ...options, quietMs: 100 })
  let k = 0
  for await (const e of second.iterator({ destroyOnReturn: false })) {
    second.commit(e as JournalEntry)
    if (++k === all.length - 10) break
  }
  await second.flushState()
  const deadline = Date.now() + 10_000
  let floor = 0
  const pulling = (async () => {
    for await (const _e of second.iterator({ destroyOnReturn: false })) t.fail('no new record')
  })()
  while (Date.now() < deadline && (floor = (await jsm.consumers.info('W', 'd')).ack_floor.stream_seq) < all.length) await new Promise((r) => setTimeout(r, 200))
  second.destroy()
  await pulling.catch(() => {})
  t.equal(floor, all.length, 'the consumer acknowledged everything the runs committed')
})
