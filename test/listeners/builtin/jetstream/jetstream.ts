import t from 'tap'
import { type JetStreamManager, jetstreamManager, StorageType } from '@nats-io/jetstream'
import { connect, nanos } from '@nats-io/transport-node'
import { setTimeout as sleep } from 'node:timers/promises'
import { type JetStreamListener, create, optionsSchema } from '../../../../lib/listeners/builtin/jetstream/jetstream.js'
import { ListenerChain } from '../../../../lib/listeners/listener-chain.js'
import { JournalEntry } from '../../../../lib/journal/entry.js'
import { ensureJournalStream } from '../../../../lib/jetstream/journal-stream.js'
import type { JournalPosition } from '../../../../lib/position.js'
import { entriesOf, transactions } from '../../../helpers/entries.js'
import { natsSkip, startNats, type NatsServer } from '../../../helpers/nats.js'

const silent = { debug() {}, info() {}, warn() {}, error() {} }
const ctx = () => ({ start: null, logger: silent, signal: new AbortController().signal })
/** A context whose logger keeps the messages of its warnings in `into`. */
const warnInto = (into: string[]) => ({
  start: null,
  logger: { ...silent, warn: (_o: unknown, msg?: string) => void into.push(String(msg)) },
  signal: new AbortController().signal,
})

function listenerFor(server: NatsServer, extra: Record<string, unknown> = {}): JetStreamListener {
  const options = optionsSchema.parse({ servers: server.url, stream: 'J', server: 'master', ...extra })
  return create(options, { name: 'jetstream' }) as JetStreamListener
}

async function publish(l: JetStreamListener, entries: readonly JournalEntry[]): Promise<void> {
  for (const e of entries) await l.listen(e)
  const last = entries[entries.length - 1]
  if (last) await l.sync({ journal: last.position.journal as number, offset: last.position.end })
}

interface Stored {
  seq: number
  subject: string
  data: Buffer
  headers: Record<string, string>
}

/** Every message of stream J, in order. */
async function readAll(server: NatsServer, stream = 'J'): Promise<Stored[]> {
  const nc = await connect({ servers: server.url })
  try {
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info(stream)
    const out: Stored[] = []
    for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
      const m = await jsm.streams.getMessage(stream, { seq })
      if (!m) continue
      const headers: Record<string, string> = {}
      for (const k of m.header.keys()) headers[k] = m.header.get(k)
      out.push({ seq: m.seq, subject: m.subject, data: Buffer.from(m.data), headers })
    }
    return out
  } finally {
    await nc.close()
  }
}

/** A connection of the test's own and its JetStream manager, closed when the test ends. */
async function managerOf(t: { teardown(fn: () => unknown): void }, server: NatsServer) {
  const nc = await connect({ servers: server.url })
  t.teardown(() => nc.close())
  return { nc, jsm: await jetstreamManager(nc) }
}

t.test('jetstream listener against a real nats-server', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())

  t.test('one message per entry: exact bytes, subjects by op and table, position headers; sync waits for acks', async (t) => {
    const l = listenerFor(server)
    await l.open(ctx())
    const { entries, bytes } = transactions(20, 7)
    // The first entry of journal 8, reached by rotation.
    const next = entriesOf([{ op: 'pv', version: 9, table: 'db.have.pt', fields: ['x'] }], 8)
    ;(next.entries[0] as JournalEntry).didRotate = true
    await publish(l, [...entries, ...next.entries])
    t.equal(l.inFlight, 0, 'nothing in flight after sync')
    t.equal(l.acknowledged(), `8/${next.bytes.length}`)
    await l.close()
    const stored = await readAll(server)
    t.equal(stored.length, 41)
    t.same(Buffer.concat(stored.slice(0, 40).map((m) => m.data)), bytes, 'payloads are the journal bytes, in order')
    t.equal(stored[0]?.subject, 'p4.journal.pv.db.counters')
    t.equal(stored[1]?.subject, 'p4.journal.ex')
    t.equal(stored[40]?.subject, 'p4.journal.pv.db.have.pt')
    t.same(stored[0]?.headers, { 'Nats-Msg-Id': 'master:7/0', 'Logdaemon-Position': '7/0', 'Logdaemon-Line': '1', 'Nats-Expected-Last-Sequence': '0' })
    t.equal(stored[1]?.headers['Nats-Expected-Last-Sequence'], '1', 'each message expects the one before it')
    t.equal(stored[1]?.headers['Nats-Expected-Last-Msg-Id'], 'master:7/0', 'by sequence, and but the first by id')
    t.equal(stored[1]?.headers['Logdaemon-Consistent'], '1', 'consistency points are marked')
    t.equal(stored[40]?.headers['Logdaemon-Journal-End'], `7/${bytes.length}`, 'the first record of the next journal says where the last ended')
    t.equal(stored[40]?.headers['Nats-Msg-Id'], 'master:8/0')
  })

  t.test('a restart replays from an older position: nothing doubles, even past the duplicate window', async (t) => {
    const { entries } = transactions(20, 7)
    const more = transactions(5, 8)
    // The stream from the test before has 7/0.. and 8/0 (one record); wait out its 1 s window? It has 2 min:
    // prove the skip does not depend on it by making a stream whose window is 1 s.
    const l = listenerFor(server, { stream: 'W', subject: 'w.j', duplicateWindowMs: 1000 })
    await l.open(ctx())
    await publish(l, entries.slice(0, 30))
    await l.close()
    await sleep(1200)
    const again = listenerFor(server, { stream: 'W', subject: 'w.j', duplicateWindowMs: 1000 })
    await again.open(ctx())
    await publish(again, [...entries, ...more.entries])
    t.equal(again.skipped, 30, 'the 30 entries the stream has are skipped')
    t.equal(again.published, 20)
    await again.close()
    const stored = await readAll(server, 'W')
    t.equal(stored.length, 50, 'each record once')
    t.same(
      stored.map((m) => m.headers['Logdaemon-Position']),
      [...entries, ...more.entries].map((e) => `${e.position.journal}/${e.position.offset}`),
      'in order',
    )
  })

  t.test("an entry past the stream end is a gap; another server's stream is refused", async (t) => {
    const l = listenerFor(server, { stream: 'G', subject: 'g.j' })
    await l.open(ctx())
    const { entries } = transactions(4, 3)
    await publish(l, entries.slice(0, 2))
    t.throws(() => l.listen(entries[3] as JournalEntry), { code: 'ERR_JETSTREAM_GAP', retryable: false })
    await l.close()
    // A later journal's first entry with no entry before it in this run (right after the stream's end, it would say
    // that the journals between are empty: test/listeners/builtin/jetstream/empty-journal.ts).
    const fresh = listenerFor(server, { stream: 'G', subject: 'g.j' })
    await fresh.open(ctx())
    await t.rejects(
      Promise.resolve().then(() => fresh.listen(transactions(1, 5).entries[0] as JournalEntry)),
      { code: 'ERR_JETSTREAM_GAP' },
    )
    await fresh.close()
    const other = listenerFor(server, { stream: 'G', subject: 'g.j', server: 'edge' })
    await t.rejects(other.open(ctx()), { code: 'ERR_JETSTREAM_MISMATCH', message: /server "master"/ })
    await other.close()
    const wrong = listenerFor(server, { stream: 'G', subject: 'other.j' })
    await t.rejects(wrong.open(ctx()), { code: 'ERR_JETSTREAM_MISMATCH', message: /subjects/ })
    await wrong.close()
    const missing = listenerFor(server, { stream: 'NONE', createStream: false })
    await t.rejects(missing.open(ctx()), { code: 'ERR_JETSTREAM_MISMATCH', message: /does not exist/ })
    await missing.close()
  })

  t.test('bounded in flight: listen waits once maxInFlight messages are unacknowledged', async (t) => {
    const l = listenerFor(server, { stream: 'B', subject: 'b.j', maxInFlight: 3 })
    await l.open(ctx())
    const { entries } = transactions(10, 1)
    let most = 0
    let above = 0
    for (const e of entries) {
      const r = l.listen(e)
      most = Math.max(most, l.inFlight)
      if (r) await r
      if (l.inFlight >= 3) above++
    }
    t.equal(above, 0, 'below the bound whenever listen has returned')
    t.equal(most, 3, 'never more than maxInFlight')
    await l.sync({ journal: 1, offset: (entries.at(-1) as JournalEntry).position.end })
    await l.close()
    t.equal((await readAll(server, 'B')).length, 20)
  })

  t.test('a stream whose subjects overlap an existing stream: a permanent error naming both, at the first open', async (t) => {
    const { jsm } = await managerOf(t, server)
    await jsm.streams.add({ name: 'WIDE', subjects: ['ov.>'], storage: StorageType.File })
    const l = listenerFor(server, { stream: 'NARROW', subject: 'ov.j' })
    // NATS err_code 10065 was retried as temporary: 21 failed opens with retries: 20.
    await t.rejects(l.open(ctx()), {
      code: 'ERR_JETSTREAM_MISMATCH',
      retryable: false,
      message: /stream NARROW .*"ov\.j\.>".*WIDE \(\["ov\.>"\]\).*10065/,
    })
    await l.close()
    await t.rejects(jsm.streams.info('NARROW'), 'nothing was created')
  })

  t.test('the stream made by another publisher between our look and our create: that stream is checked and used', async (t) => {
    const { jsm } = await managerOf(t, server)
    // The other publisher won: RACE exists. What the server answered the loser in a CI run (two listeners creating one
    // stream at once) was not "exists" but the overlap with RACE's subjects (err_code 10065): a real such answer.
    await jsm.streams.add({ name: 'RACE', subjects: ['race.j.>'], storage: StorageType.File, duplicate_window: nanos(120_000) })
    const overlap = await jsm.streams.add({ name: 'RACE2', subjects: ['race.j.>'] }).then(
      () => null,
      (err: unknown) => err,
    )
    const notFound = await jsm.streams.info('NO-SUCH-STREAM').then(
      () => null,
      (err: unknown) => err,
    )
    t.ok(overlap && notFound, 'the server gave both answers')
    // Our look came before RACE was made (not found), our create after (the overlap); the rest is the server's.
    let looked = false
    const raced = {
      ...jsm,
      streams: {
        info: (name: string) => {
          if (looked) return jsm.streams.info(name)
          looked = true
          return Promise.reject(notFound)
        },
        add: () => Promise.reject(overlap),
        list: (subject?: string) => jsm.streams.list(subject),
      },
    } as unknown as JetStreamManager
    const info = await ensureJournalStream(raced, { stream: 'RACE', subject: 'race.j', create: true, replicas: 1, duplicateWindowMs: 120_000 })
    t.equal(info.config.name, 'RACE', 'the stream the other publisher made')
  })

  t.test('an existing stream holding foreign messages after the journal is refused', async (t) => {
    const nc = await connect({ servers: server.url })
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'F', subjects: ['f.>'], storage: StorageType.File, duplicate_window: nanos(60_000) })
    const l = listenerFor(server, { stream: 'F', subject: 'f.j' })
    await l.open(ctx())
    await publish(l, transactions(1, 1).entries)
    await l.close()
    await nc.publish('f.other', 'x')
    await nc.flush()
    await sleep(100)
    const again = listenerFor(server, { stream: 'F', subject: 'f.j' })
    await t.rejects(again.open(ctx()), { code: 'ERR_JETSTREAM_MISMATCH', message: /holds messages after/ })
    await again.close()
    await nc.close()
  })

  t.test('a foreign message published into the stream while the listener runs: the next record is refused, not stored after it', async (t) => {
    const { nc, jsm } = await managerOf(t, server)
    await jsm.streams.add({ name: 'FR', subjects: ['fr.>'], storage: StorageType.File, duplicate_window: nanos(60_000) })
    const l = listenerFor(server, { stream: 'FR', subject: 'fr.j' })
    await l.open(ctx())
    const { entries } = transactions(2, 1)
    await publish(l, entries.slice(0, 3))
    await nc.publish('fr.other', 'x')
    await nc.flush()
    // The stream answers the next publish with "wrong last sequence"; the listener reads the end again and finds the foreign message.
    await t.rejects(
      (async () => {
        for (const e of entries.slice(3)) await l.listen(e)
        await l.sync({ journal: 1, offset: (entries.at(-1) as JournalEntry).position.end })
      })(),
      { code: /ERR_JETSTREAM_(PUBLISH|MISMATCH)/ },
    )
    await l.close()
    const stored = await readAll(server, 'FR')
    t.same(
      stored.map((m) => (m.subject === 'fr.other' ? 'foreign' : m.headers['Logdaemon-Position'])),
      [...entries.slice(0, 3).map((e) => `${e.position.journal}/${e.position.offset}`), 'foreign'],
      'the records before it, then the foreign message: nothing after it',
    )
  })

  t.test('the stream deleted under a running listener: a permanent error naming what was published; a restart publishes into a new stream', async (t) => {
    const { jsm } = await managerOf(t, server)
    const l = listenerFor(server, { stream: 'D', subject: 'd.j' })
    await l.open(ctx())
    const { entries } = transactions(2, 1)
    const acked = `1/${(entries[2] as JournalEntry).position.end}`
    await publish(l, entries.slice(0, 3))
    await jsm.streams.delete('D')
    const rest = entries.slice(3)
    const run = async (from: readonly JournalEntry[]) => {
      for (const e of from) await l.listen(e)
      await l.sync({ journal: 1, offset: (entries.at(-1) as JournalEntry).position.end })
    }
    // The record sent into no stream: in doubt, retryable (a stream without a leader answers the same).
    await t.rejects(run(rest), { code: 'ERR_JETSTREAM_PUBLISH', retryable: true, message: /no responders/ })
    // The daemon's retry: the stream is gone, and it says so, once.
    await t.rejects(run(rest), {
      code: 'ERR_JETSTREAM_MISMATCH',
      retryable: false,
      message: new RegExp(`stream D was deleted .*ended at ${acked}\\)`),
    })
    await l.close()
    const fresh = listenerFor(server, { stream: 'D', subject: 'd.j' })
    await fresh.open(ctx())
    await publish(fresh, rest)
    await fresh.close()
    t.same(
      (await readAll(server, 'D')).map((m) => m.headers['Logdaemon-Position']),
      rest.map((e) => `${e.position.journal}/${e.position.offset}`),
      'the new stream holds what followed',
    )
  })

  t.test('more than one replica asked of a server outside a cluster: a permanent error naming the option, at the first open', async (t) => {
    const l = listenerFor(server, { stream: 'R3', subject: 'r3.j', replicas: 3 })
    await t.rejects(l.open(ctx()), { code: 'ERR_JETSTREAM_MISMATCH', retryable: false, message: /replicas: 3.*not in a JetStream cluster.*set replicas to 1/ })
    await l.close()
  })

  t.test("the stream's last message deleted: a permanent error at the next open, not a stream taken for one without the journal", async (t) => {
    const { jsm } = await managerOf(t, server)
    const l = listenerFor(server, { stream: 'DL', subject: 'dl.j' })
    await l.open(ctx())
    await publish(l, transactions(3, 1).entries)
    await l.close()
    await jsm.streams.deleteMessage('DL', (await jsm.streams.info('DL')).state.last_seq)
    // Without the check it opened as on a stream without the journal, and took any entry next: a hole or a record twice, unchecked.
    const again = listenerFor(server, { stream: 'DL', subject: 'dl.j' })
    await t.rejects(again.open(ctx()), { code: 'ERR_JETSTREAM_MISMATCH', retryable: false, message: /holds 5 messages .* its last message was deleted/ })
    await again.close()
  })

  t.test("the stream's subjects edited under a running listener: a permanent error, not a publish retried until the daemon gives up", async (t) => {
    const { jsm } = await managerOf(t, server)
    const l = listenerFor(server, { stream: 'E', subject: 'e.j' })
    await l.open(ctx())
    const { entries } = transactions(2, 1)
    await publish(l, entries.slice(0, 3))
    const info = await jsm.streams.info('E')
    await jsm.streams.update('E', { ...info.config, subjects: ['other.>'] })
    const run = async () => {
      for (const e of entries.slice(3)) await l.listen(e)
      await l.sync({ journal: 1, offset: (entries.at(-1) as JournalEntry).position.end })
    }
    // The record sent to a subject no stream takes: in doubt, retryable (a stream without a leader answers the same).
    await t.rejects(run(), { code: 'ERR_JETSTREAM_PUBLISH', retryable: true, message: /no responders/ })
    // The daemon's retry finds out why, and stops there.
    await t.rejects(run(), { code: 'ERR_JETSTREAM_MISMATCH', retryable: false, message: /takes the subjects \["other\.>"\], not e\.j\.>/ })
    await l.close()
    t.equal((await readAll(server, 'E')).length, 3, 'the records before the edit, nothing after')
  })

  t.test(
    'a sealed stream, or one without acknowledgements (no_ack): a permanent error at open; sealed under a running listener, at the next recovery',
    async (t) => {
      const { jsm } = await managerOf(t, server)
      await jsm.streams.add({ name: 'NA', subjects: ['na.>'], storage: StorageType.File, no_ack: true })
      // Before, every publish waited ackTimeoutMs for an answer that never comes, and the listener went on, one batch per timeout.
      const noAck = listenerFor(server, { stream: 'NA', subject: 'na.j' })
      await t.rejects(noAck.open(ctx()), { code: 'ERR_JETSTREAM_MISMATCH', retryable: false, message: /does not acknowledge messages \(no_ack\)/ })
      await noAck.close()
      const l = listenerFor(server, { stream: 'SE', subject: 'se.j' })
      await l.open(ctx())
      const { entries } = transactions(2, 1)
      await publish(l, entries.slice(0, 3))
      const info = await jsm.streams.info('SE')
      // sealed is a 2.9 update the client's type does not name.
      await jsm.streams.update('SE', { ...info.config, sealed: true } as typeof info.config)
      const run = async () => {
        for (const e of entries.slice(3)) await l.listen(e)
        await l.sync({ journal: 1, offset: (entries.at(-1) as JournalEntry).position.end })
      }
      await t.rejects(run(), { code: 'ERR_JETSTREAM_PUBLISH', retryable: true, message: /sealed stream/ })
      await t.rejects(run(), { code: 'ERR_JETSTREAM_MISMATCH', retryable: false, message: /stream SE is sealed/ })
      await l.close()
      const again = listenerFor(server, { stream: 'SE', subject: 'se.j' })
      await t.rejects(again.open(ctx()), { code: 'ERR_JETSTREAM_MISMATCH', retryable: false, message: /stream SE is sealed/ })
      await again.close()
    },
  )

  t.test('a publisher of the same server opening while another publishes into the stream: it goes on after the other, never a false mismatch', async (t) => {
    const { entries } = transactions(20_000, 1)
    const a = listenerFor(server, { stream: 'TWO', subject: 'two.j' })
    await a.open(ctx())
    let opening = true
    let sent = 0
    const publishing = (async () => {
      for (const e of entries) {
        if (!opening) break
        await a.listen(e)
        // A daemon reads between entries: the other's opens run meanwhile.
        if (++sent % 20 === 0) await sleep(0)
      }
      await a.sync({ journal: 1, offset: 0 })
    })()
    const failures: string[] = []
    for (let i = 0; i < 40; i++) {
      const b = listenerFor(server, { stream: 'TWO', subject: 'two.j' })
      await b.open(ctx()).catch((err: Error) => failures.push(err.message))
      await b.close()
    }
    opening = false
    await publishing
    await a.close()
    t.ok(sent < entries.length, `${sent} records published during 40 opens`)
    t.same(failures, [], 'every open read a consistent end of the stream')
    t.same(
      (await readAll(server, 'TWO')).map((m) => m.headers['Logdaemon-Position']),
      entries.slice(0, sent).map((e) => `${e.position.journal}/${e.position.offset}`),
      'each record once, in order',
    )
  })

  t.test('listen before open opens the listener; an entry without a journal number is refused', async (t) => {
    const l = listenerFor(server, { stream: 'U', subject: 'u.j' })
    const { entries } = transactions(1, 4)
    await publish(l, entries)
    t.equal(l.published, entries.length, 'published without an explicit open')
    const first = entries[0] as JournalEntry
    // What a reader of a file without a journal number (createJournalReader on a path) hands out.
    const unnumbered = new JournalEntry(first.raw, { ...first.position, journal: null })
    t.throws(() => l.listen(unnumbered), { code: 'ERR_JETSTREAM_GAP', retryable: false, message: /needs numbered journals/ })
    await l.close()
    t.equal((await readAll(server, 'U')).length, entries.length)
  })
})

t.test('the server killed and restarted mid-stream: the chain retries, every record lands once, in order', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const l = listenerFor(server, { stream: 'K', subject: 'k.j', ackTimeoutMs: 1000, maxInFlight: 64 })
  const chain = new ListenerChain({
    listeners: [l],
    commitIntervalMs: 20,
    quietMs: 0,
    retry: { retries: 30, minTimeout: 100, maxTimeout: 500, randomize: false },
  })
  const commits: JournalPosition[] = []
  chain.on('commit', (p: JournalPosition) => commits.push(p))
  const { entries, bytes } = transactions(3000, 1)
  let killed = false
  for (const [i, e] of entries.entries()) {
    if (!chain.write(e)) await new Promise((resolve) => chain.once('drain', resolve))
    if (i === 2000 && !killed) {
      killed = true
      await server.kill()
      await sleep(300)
      await server.start()
    }
  }
  chain.end()
  await new Promise<void>((resolve, reject) => chain.on('finish', resolve).on('error', reject))
  t.same(commits.at(-1), { journal: 1, offset: bytes.length }, 'the last position is committed')
  const stored = await readAll(server, 'K')
  t.equal(stored.length, entries.length, 'each record once')
  t.ok(Buffer.concat(stored.map((m) => m.data)).equals(bytes), 'the stream holds the journal bytes in order')
})

t.test('a nats-server restarted after a quiet longer than the duplicate window: publishing goes on', { skip: natsSkip }, async (t) => {
  // A restarted server knows the message ids of its duplicate window only: a publish that expected the last id was refused for good.
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const { entries, bytes } = transactions(20, 1)
  const l = listenerFor(server, { stream: 'Q', subject: 'q.j', duplicateWindowMs: 1000, ackTimeoutMs: 2000 })
  await l.open(ctx())
  await publish(l, entries.slice(0, 20))
  await sleep(1500)
  await server.stop()
  await server.start()
  const chain = new ListenerChain({
    listeners: [l],
    commitIntervalMs: 20,
    quietMs: 0,
    retry: { retries: 10, minTimeout: 100, maxTimeout: 300, randomize: false },
  })
  const failed = new Promise<Error>((resolve) => chain.once('error', resolve))
  for (const e of entries.slice(20)) if (!chain.write(e)) await new Promise((resolve) => chain.once('drain', resolve))
  chain.end()
  const outcome = await Promise.race([new Promise<null>((resolve) => chain.once('finish', () => resolve(null))), failed])
  t.equal(outcome, null, 'no error')
  const stored = await readAll(server, 'Q')
  t.equal(stored.length, entries.length, 'each record once')
  t.ok(Buffer.concat(stored.map((m) => m.data)).equals(bytes), 'the stream holds the journal bytes in order')
})

t.test('two publishers of different servers open on one empty stream at once: one publishes, the other is refused', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const a = listenerFor(server, { stream: 'R', subject: 'r.j', server: 'one' })
  const b = listenerFor(server, { stream: 'R', subject: 'r.j', server: 'two' })
  // Closed whatever happens: an open listener keeps reconnecting to the stopped server, and the file ran into tap's timeout.
  t.teardown(async () => {
    await a.close()
    await b.close()
  })
  // Both read the stream's end before either publishes: both see it empty.
  await Promise.all([a.open(ctx()), b.open(ctx())])
  const { entries } = transactions(10, 1)
  const results = await Promise.allSettled([publish(a, entries), publish(b, entries)])
  await a.close()
  await b.close()
  const stored = await readAll(server, 'R')
  t.equal(stored.length, entries.length, 'the journal once')
  t.equal(new Set(stored.map((m) => m.headers['Nats-Msg-Id']?.split(':')[0])).size, 1, 'from one publisher')
  const refused = results.filter((r) => r.status === 'rejected')
  t.equal(refused.length, 1, 'the other failed')
  t.match((refused[0] as PromiseRejectedResult | undefined)?.reason, { code: /ERR_JETSTREAM_(PUBLISH|MISMATCH)/ })
})

t.test(
  "a record larger than the stream's max_msg_size: a permanent error that says so, at once or once the stream was edited",
  { skip: natsSkip },
  async (t) => {
    const server = await startNats(t.testdir())
    t.teardown(() => server.stop())
    const { jsm } = await managerOf(t, server)
    const { entries } = entriesOf([
      { op: 'pv', version: 0, table: 'db.desc', fields: [1, 'small'] },
      { op: 'pv', version: 0, table: 'db.desc', fields: [2, 'x'.repeat(3000)] },
      { op: 'pv', version: 0, table: 'db.desc', fields: [3, 'after'] },
    ])
    await jsm.streams.add({ name: 'MS', subjects: ['ms.>'], storage: StorageType.File, max_msg_size: 2048 })
    const l = listenerFor(server, { stream: 'MS', subject: 'ms.j' })
    t.teardown(() => l.close())
    await l.open(ctx())
    await l.listen(entries[0] as JournalEntry)
    // Before, the stream refused it (err_code 10054) at every try, retried until the daemon gave up.
    t.throws(() => l.listen(entries[1] as JournalEntry), {
      code: 'ERR_JETSTREAM_PUBLISH',
      retryable: false,
      message: /is 30\d\d bytes \(\d+ with its headers\), more than stream MS's max_msg_size \(2048 bytes, headers included\): raise/,
    })
    await l.sync({ journal: 1, offset: (entries[0] as JournalEntry).position.end })
    await l.close()
    t.equal((await readAll(server, 'MS')).length, 1, 'the record before it is in the stream')
    // Lowered while the listener publishes: the stream refuses the next one, and the recovery finds out why.
    const running = listenerFor(server, { stream: 'MS2', subject: 'ms2.j' })
    t.teardown(() => running.close())
    await running.open(ctx())
    await publish(running, entries.slice(0, 1))
    const info = await jsm.streams.info('MS2')
    await jsm.streams.update('MS2', { ...info.config, max_msg_size: 2048 })
    await t.rejects(publish(running, entries.slice(1)), { code: 'ERR_JETSTREAM_PUBLISH', retryable: true, message: /message size exceeds maximum allowed/ })
    await t.rejects(publish(running, entries.slice(1)), { code: 'ERR_JETSTREAM_PUBLISH', retryable: false, message: /max_msg_size \(2048 bytes/ })
    await running.close()
  },
)

t.test("a record larger than the server's max_payload: a permanent error that says so, nothing published after it", { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir(), { conf: 'max_payload: 4096' })
  t.teardown(() => server.stop())
  const l = listenerFor(server, { stream: 'M', subject: 'm.j' })
  await l.open(ctx())
  const { entries } = entriesOf([
    { op: 'pv', version: 0, table: 'db.desc', fields: [1, 'small'] },
    { op: 'pv', version: 0, table: 'db.desc', fields: [2, 'x'.repeat(8000)] },
    { op: 'pv', version: 0, table: 'db.desc', fields: [3, 'after'] },
  ])
  await l.listen(entries[0] as JournalEntry)
  t.throws(() => l.listen(entries[1] as JournalEntry), {
    code: 'ERR_JETSTREAM_PUBLISH',
    retryable: false,
    message: /is 80\d\d bytes .*max_payload \(4096 bytes\): raise max_payload/,
  })
  await l.sync({ journal: 1, offset: (entries[0] as JournalEntry).position.end })
  await l.close()
  t.equal((await readAll(server, 'M')).length, 1, 'the record before it is in the stream')
})

t.test('a purged stream: the listener warns that it cannot see where the journal in it ended', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const { jsm } = await managerOf(t, server)
  const { entries } = transactions(3, 1)
  const first = listenerFor(server, { stream: 'P', subject: 'p.j', duplicateWindowMs: 1000 })
  await first.open(ctx())
  await publish(first, entries)
  await first.close()
  await jsm.streams.purge('P')
  await sleep(1100)
  const warnings: string[] = []
  const logger = { ...silent, warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)) }
  // A daemon resuming from a position behind the purged end (a kill -9 before its commit): the records go in again.
  const next = listenerFor(server, { stream: 'P', subject: 'p.j', duplicateWindowMs: 1000 })
  await next.open({ start: null, logger, signal: new AbortController().signal })
  await publish(next, entries)
  await next.close()
  t.equal(next.published, entries.length, 'published again: nothing in the stream tells where it ended')
  t.match(warnings, [
    /stream P is empty but held messages up to sequence 6 \(purged, or removed by max_age\).*go in again once the stream.s duplicate window has passed/,
  ])
  const fresh: string[] = []
  const empty = listenerFor(server, { stream: 'P0', subject: 'p0.j' })
  await empty.open(warnInto(fresh))
  await empty.close()
  t.same(fresh, [], 'no warning on a stream that never held a message')
})

t.test('started at the journal after the one the stream ends in: published, with a warning that it cannot check the end', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const first = listenerFor(server, { stream: 'N', subject: 'n.j' })
  await first.open(ctx())
  const two = transactions(6, 2).entries
  await publish(first, two.slice(0, 4))
  await first.close()
  const warnings: string[] = []
  const logger = { ...silent, warn: (_o: unknown, msg?: string) => void warnings.push(String(msg)) }
  const next = listenerFor(server, { stream: 'N', subject: 'n.j' })
  await next.open({ start: null, logger, signal: new AbortController().signal })
  await publish(next, transactions(2, 3).entries)
  await next.close()
  t.match(warnings, [/ends at 2\/\d+ and the daemon starts at 3\/0: if journal 2 is longer than \d+ bytes/])
  // Replaying from inside journal 2 instead: the listener sees where journal 2 ends before journal 3 starts.
  const other = listenerFor(server, { stream: 'N2', subject: 'n2.j' })
  await other.open(ctx())
  await publish(other, two.slice(0, 4))
  await other.close()
  const quiet: string[] = []
  const replay = listenerFor(server, { stream: 'N2', subject: 'n2.j' })
  await replay.open(warnInto(quiet))
  const three = transactions(2, 3).entries
  ;(three[0] as JournalEntry).didRotate = true
  await publish(replay, [...two.slice(2), ...three])
  await replay.close()
  t.equal(replay.skipped, 2)
  t.equal(replay.published, 12, 'the rest of journal 2, then journal 3')
  t.same(quiet, [], 'no warning without such a start')
})

t.test('an open that fails after the connection is up (no JetStream for the account) fails the same way when retried', { skip: natsSkip }, async (t) => {
  // JetStream is on for the server, not for this account: the connection comes up and the JetStream manager fails.
  const server = await startNats(t.testdir(), { conf: 'accounts { A: { users: [{ user: a, password: secret-a }] } }' })
  t.teardown(() => server.stop())
  const l = listenerFor(server, { user: 'a', password: 'secret-a' })
  t.teardown(() => l.close())
  const first = await l.open().catch((e: unknown) => e as Error)
  t.ok(first instanceof Error, 'the first open fails')
  t.notOk(first instanceof TypeError, `a JetStream error: ${String(first)}`)
  // The daemon's retry, on the same listener: before, the connection was up with no manager, and this was a
  // TypeError ("Cannot read properties of null (reading 'streams')"), which is never retried.
  const again = await l.open().catch((e: unknown) => e as Error)
  t.ok(again instanceof Error, 'the retry fails too')
  t.notOk(again instanceof TypeError, `the same kind of error, retryable: ${String(again)}`)
  t.equal(again instanceof Error ? again.message : '', first instanceof Error ? first.message : 'x')
})
