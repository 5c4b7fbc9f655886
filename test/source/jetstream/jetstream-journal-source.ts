import t from 'tap'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream'
import { connect, headers } from '@nats-io/transport-node'
import { JetStreamListener } from '../../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../../lib/listeners/builtin/jetstream/jetstream-options.js'
import type { JournalEntry } from '../../../lib/journal/entry.js'
import { JetStreamJournalSource, type JetStreamJournalSourceOptions } from '../../../lib/source/jetstream/jetstream-journal-source.js'
import { transactions } from '../../helpers/entries.js'
import { natsSkip, startNats, type NatsServer } from '../../helpers/nats.js'
import { tsNodeArgs, tsNodeEnv } from '../../helpers/spawn-ts.js'

const silent = { debug() {}, info() {}, warn() {}, error() {} }

/** Journal 4 (30 transactions) then journal 5 (10), published once into stream S. */
async function publishJournals(server: NatsServer): Promise<JournalEntry[]> {
  const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: 'S', server: 'm' }))
  await l.open({ start: null, logger: silent, signal: new AbortController().signal })
  const four = transactions(30, 4).entries
  const five = transactions(10, 5).entries
  ;(five[0] as JournalEntry).didRotate = true
  const all = [...four, ...five]
  for (const e of all) await l.listen(e)
  await l.sync({ journal: 5, offset: (all.at(-1) as JournalEntry).position.end })
  await l.close()
  return all
}

async function take(source: JetStreamJournalSource, n: number): Promise<JournalEntry[]> {
  const out: JournalEntry[] = []
  if (n === 0) return out
  for await (const e of source) {
    out.push(e)
    if (out.length === n) break
  }
  return out
}

function sourceFor(server: NatsServer, extra: Partial<JetStreamJournalSourceOptions> = {}): JetStreamJournalSource {
  // The iterator's break destroys the source: keep it open with destroyOnReturn false where needed.
  return new JetStreamJournalSource({ servers: server.url, stream: 'S', quietMs: 200, ...extra })
}

t.test('JetStreamJournalSource against a real nats-server', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const published = await publishJournals(server)

  t.test('entries come back with their bytes, positions, didRotate and consistent; commit acks; a restart resumes after it', async (t) => {
    const first = sourceFor(server, { durable: 'mirror' })
    t.same(await first.open(), { journal: 4, offset: 0, line: 1, how: 'stream', seq: 1 }, 'a new consumer starts at the stream start')
    t.same(first.start, { journal: 4, offset: 0, line: 1, how: 'stream', seq: 1 }, 'and says so once open')
    const got: JournalEntry[] = []
    for await (const e of first.iterator({ destroyOnReturn: false })) {
      got.push(e as JournalEntry)
      if (got.length === 70) break
    }
    for (const [i, e] of got.entries()) {
      const want = published[i] as JournalEntry
      if (
        !e.raw.equals(want.raw) ||
        e.position.offset !== want.position.offset ||
        e.position.journal !== want.position.journal ||
        e.position.line !== want.position.line ||
        e.position.end !== want.position.end
      ) {
        t.fail(`entry ${i} differs`)
      }
      if (e.consistent !== want.consistent) t.fail(`entry ${i}: consistent ${e.consistent}`)
    }
    t.equal(got.filter((e) => e.didRotate).length, 1, 'one rotation')
    t.equal(got[60]?.didRotate, true, 'on the first entry of journal 5')
    // Commit after the 40th entry (a consistency point), read on (unacknowledged), then stop.
    first.commit(got[39] as JournalEntry)
    await first.flushState()
    // What the status page shows: the commit, its acknowledgement, and how far the source has read (it reads ahead).
    const status = first.status
    const committed = { journal: 4, offset: (got[39] as JournalEntry).position.end }
    t.same(status.committed, committed, 'status: the committed position')
    t.same(status.acked, committed, 'status: acknowledged up to it')
    t.ok(status.entries >= 70 && status.entries <= published.length, `status: the entries delivered (${status.entries})`)
    const read = published[status.entries - 1] as JournalEntry
    t.same(status.position, { journal: read.position.journal, offset: read.position.end }, 'status: the end of the last one')
    t.ok(status.lastDataAt instanceof Date, 'status: when data last came')
    t.equal(status.live, null, 'status: no live file')
    first.destroy()
    await new Promise((resolve) => first.once('close', resolve))

    const second = sourceFor(server, { durable: 'mirror' })
    const start = await second.open()
    t.same(
      start,
      { journal: 4, offset: (published[39] as JournalEntry).position.end, line: (published[40] as JournalEntry).position.line, how: 'acked', seq: 41 },
      'resumes after the acknowledged record',
    )
    const rest = await take(second, published.length - 40)
    t.same(
      rest.map((e) => `${e.position.journal}/${e.position.offset}`),
      published.slice(40).map((e) => `${e.position.journal}/${e.position.offset}`),
      'the records after it, once each, in order (those delivered before the restart are read again)',
    )
    t.equal(rest[20]?.didRotate, true)
  })

  t.test('quiet at the stream end, and what comes later', async (t) => {
    const s = sourceFor(server, { durable: 'q' })
    await take(s, 0)
    const it = s.iterator({ destroyOnReturn: false })
    for (let i = 0; i < published.length; i++) await it.next()
    const quiet = await new Promise<boolean>((resolve) => s.once('quiet', resolve))
    t.equal(quiet, true, 'quiet (hadData) once caught up')
    s.destroy()
  })

  t.test('filters: one on the consumer, several in the source; without a durable nothing is acknowledged', async (t) => {
    const one = sourceFor(server, { filter: 'p4.journal.ex' })
    const exs = await take(one, 40)
    t.ok(
      exs.every((e) => e.op === 'ex'),
      'only ex records',
    )
    const both = sourceFor(server, { filter: ['p4.journal.pv.>', 'p4.journal.ex'] })
    const all = await take(both, published.length)
    t.equal(all.length, published.length)
    const pvs = sourceFor(server, { filter: ['p4.journal.pv.db.counters', 'p4.journal.nothing'] })
    const got = await take(pvs, 40)
    t.ok(
      got.every((e) => e.op === 'pv' && e.table === 'db.counters'),
      'only pv records of db.counters',
    )
  })

  t.test('a durable consumer with another filter, a missing stream', async (t) => {
    const other = sourceFor(server, { durable: 'mirror', filter: 'p4.journal.ex' })
    await t.rejects(other.open(), { code: 'ERR_JETSTREAM_MISMATCH', message: /filters/ })
    other.destroy()
    const missing = sourceFor(server, { stream: 'NOPE', durable: 'x' })
    await t.rejects(missing.open(), { code: 'ERR_JETSTREAM_MISMATCH', message: /does not exist/ })
    missing.destroy()
  })

  t.test('limits removed the last acknowledged message: the next read must be the message after it, or ERR_JETSTREAM_GAP', async (t) => {
    const nc = await connect({ servers: server.url })
    t.teardown(() => nc.close())
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'L', subjects: ['l.j.>'], storage: StorageType.File, max_msgs: 20 })
    const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: 'L', server: 'm', subject: 'l.j' }))
    await l.open({ start: null, logger: silent, signal: new AbortController().signal })
    t.teardown(() => l.close())
    const all = transactions(30, 4).entries
    const publish = async (from: number, to: number) => {
      for (const e of all.slice(from, to)) await l.listen(e)
      await l.sync({ journal: 4, offset: (all[to - 1] as JournalEntry).position.end })
    }
    const readAndAck = async (durable: string, n: number) => {
      const s = new JetStreamJournalSource({ servers: server.url, stream: 'L', subject: 'l.j', quietMs: 200, durable })
      const got: JournalEntry[] = []
      for await (const e of s.iterator({ destroyOnReturn: false })) {
        got.push(e as JournalEntry)
        if (got.length === n) break
      }
      s.commit(got.at(-1) as JournalEntry)
      await s.flushState()
      s.destroy()
      await new Promise((resolve) => s.once('close', resolve))
      return got
    }
    await publish(0, 10)
    t.equal((await readAndAck('behind', 10)).length, 10, 'the lagging consumer acknowledged messages 1 to 10')
    await publish(10, 40)
    // The stream keeps 21..40: 10 went with 11..20, which the lagging consumer never read.
    const caughtUp = await readAndAck('ahead', 20)
    t.equal(caughtUp[0]?.position.offset, (all[20] as JournalEntry).position.offset, 'a new consumer starts at the stream start')
    const behind = new JetStreamJournalSource({ servers: server.url, stream: 'L', subject: 'l.j', quietMs: 200, durable: 'behind' })
    await t.rejects(take(behind, 1), {
      code: 'ERR_JETSTREAM_GAP',
      message: /comes after message 10, the last this consumer acknowledged, but the stream removed messages 11 to 20 unread/,
    })
    await publish(40, 60)
    // 41..60 now: the message 'ahead' acknowledged (40) is gone too, but nothing after it.
    const ahead = new JetStreamJournalSource({ servers: server.url, stream: 'L', subject: 'l.j', quietMs: 200, durable: 'ahead' })
    const rest = await take(ahead, 20)
    t.same(
      rest.map((e) => e.position.offset),
      all.slice(40, 60).map((e) => e.position.offset),
      'the records after the removed acknowledged one, in order',
    )
  })

  t.test('a stream trimmed by limits: the removed messages are skipped in one step, and no quiet comes before the first entry', async (t) => {
    const nc = await connect({ servers: server.url })
    t.teardown(() => nc.close())
    const jsm = await jetstreamManager(nc)
    await jsm.streams.add({ name: 'T', subjects: ['t.j.>'], storage: StorageType.File, max_msgs: 10 })
    const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: 'T', server: 'm', subject: 't.j' }))
    await l.open({ start: null, logger: silent, signal: new AbortController().signal })
    t.teardown(() => l.close())
    const all = transactions(1500, 4).entries
    const publish = async (from: number, to: number) => {
      for (const e of all.slice(from, to)) await l.listen(e)
      await l.sync({ journal: 4, offset: (all[to - 1] as JournalEntry).position.end })
    }
    await publish(0, 10)
    const behind = new JetStreamJournalSource({ servers: server.url, stream: 'T', subject: 't.j', quietMs: 200, durable: 'behind' })
    const read: JournalEntry[] = []
    for await (const e of behind.iterator({ destroyOnReturn: false })) if (read.push(e as JournalEntry) === 10) break
    behind.commit(read.at(-1) as JournalEntry)
    await behind.flushState()
    behind.destroy()
    await new Promise((resolve) => behind.once('close', resolve))
    await publish(10, 3000)
    t.equal((await jsm.streams.info('T')).state.first_seq, 2991)
    // Every request for a stream message, whoever sends it (a subscriber of an API subject gets a copy).
    let gets = 0
    nc.subscribe('$JS.API.STREAM.MSG.GET.T', {
      callback: () => {
        gets++
      },
    })
    await nc.flush()

    // A new consumer: asked for each of the 2990 removed messages, and its quiet (after 50 ms with nothing handed
    // out) came first, which --until-caught-up took for caught up, having read nothing.
    const fresh = new JetStreamJournalSource({ servers: server.url, stream: 'T', subject: 't.j', quietMs: 50, durable: 'fresh' })
    const events: string[] = []
    fresh.on('quiet', () => events.push('quiet'))
    const got: JournalEntry[] = []
    for await (const e of fresh.iterator({ destroyOnReturn: false })) {
      if (got.length === 0) events.push('entry')
      got.push(e as JournalEntry)
      if (got.length === 10) break
    }
    await new Promise((resolve) => fresh.once('quiet', resolve))
    fresh.destroy()
    t.same(
      got.map((e) => e.position.offset),
      all.slice(2990).map((e) => e.position.offset),
      'the ten messages the stream holds, in order',
    )
    t.equal(events[0], 'entry', 'no quiet before the first entry')
    t.ok(gets < 10, `${gets} message requests, not one per removed message`)

    // The durable consumer acknowledged message 10: 11..2990 went unread, which is a gap, found without asking for each.
    gets = 0
    const late = new JetStreamJournalSource({ servers: server.url, stream: 'T', subject: 't.j', quietMs: 50, durable: 'behind' })
    late.on('quiet', () => events.push('late quiet'))
    await t.rejects(take(late, 1), {
      code: 'ERR_JETSTREAM_GAP',
      message: /comes after message 10, the last this consumer acknowledged, but the stream removed messages 11 to 2990 unread/,
    })
    t.ok(gets < 10, `${gets} message requests`)
    t.notOk(events.includes('late quiet'), 'no quiet either')
  })

  t.test('a hole in the stream, a foreign message, an empty stream, an abort', async (t) => {
    const nc = await connect({ servers: server.url })
    const jsm = await jetstreamManager(nc)
    const js = jetstream(nc)
    await jsm.streams.add({ name: 'H', subjects: ['h.j.>'], storage: StorageType.File })
    await jsm.streams.add({ name: 'E', subjects: ['e.j.>'], storage: StorageType.File })
    const put = async (subject: string, position: string | null, data: string) => {
      const h = headers()
      if (position) h.set('Logdaemon-Position', position)
      await js.publish(subject, data, { headers: h })
    }
    await put('h.j.ex', '1/0', '@ex@ 1 2\n')
    await put('h.j.ex', '1/100', '@ex@ 1 2\n')
    const gap = sourceFor(server, { stream: 'H', subject: 'h.j' })
    await t.rejects(take(gap, 2), { code: 'ERR_JETSTREAM_GAP', message: /starts at 1\/100, but the record before it ended at 1\/9/ })
    await jsm.streams.purge('H')
    await put('h.j.ex', null, 'hello\n')
    const foreign = sourceFor(server, { stream: 'H', subject: 'h.j' })
    await t.rejects(take(foreign, 1), { code: 'ERR_JETSTREAM_MISMATCH', message: /no Logdaemon-Position header/ })

    const empty = sourceFor(server, { stream: 'E', subject: 'e.j', untilEnd: true })
    t.equal(await empty.open(), null, 'an empty stream has no start')
    t.equal(empty.start, null)
    t.same(await take(empty, 1000), [], 'untilEnd: an empty stream ends at once')

    const abort = new AbortController()
    const waiting = sourceFor(server, { stream: 'E', subject: 'e.j', durable: 'w', signal: abort.signal })
    const read = take(waiting, 1)
    setTimeout(() => abort.abort(), 300)
    t.same(await read, [], 'an abort ends a source waiting at the stream end')
    await nc.close()
  })
})

t.test('one reader per durable consumer: a second live reader is refused, a dead one replaced', { skip: natsSkip }, async (t) => {
  const { LOCK_STREAM } = await import('../../../lib/source/jetstream/durable-lock.js')
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  await publishJournals(server)
  const nc = await connect({ servers: server.url })
  t.teardown(() => nc.close())
  const jsm = await jetstreamManager(nc)
  const js = jetstream(nc)
  // A short lease, so the waits below stay short: the lock stream's max age is the lease.
  await jsm.streams.add({ name: LOCK_STREAM, subjects: ['logdaemon.lock.>'], max_msgs_per_subject: 1, max_age: 2_000_000_000, storage: StorageType.Memory })
  const closed = (s: JetStreamJournalSource) => new Promise((resolve) => (s.closed ? resolve(null) : s.once('close', resolve)))
  const lockOf = (durable: string) => `logdaemon.lock.S.${durable}`
  const holder = (extra: Record<string, unknown>) =>
    JSON.stringify({
      format: 'logdaemon-lock',
      pid: 1,
      host: 'elsewhere',
      bootId: null,
      started: null,
      pidNs: null,
      socket: null,
      command: 'logdaemon',
      since: 'then',
      nonce: 'n',
      ...extra,
    })

  // Two readers starting at the same instant: exactly one gets the durable.
  const racers = [sourceFor(server, { durable: 'race' }), sourceFor(server, { durable: 'race' })]
  const results = await Promise.allSettled(racers.map((s) => s.open()))
  t.equal(results.filter((r) => r.status === 'fulfilled').length, 1, 'one of two simultaneous readers wins')
  t.match(
    results.find((r) => r.status === 'rejected'),
    { reason: { code: 'ERR_LOCKED' } },
  )
  for (const s of racers) s.destroy()

  const first = sourceFor(server, { durable: 'shared' })
  await first.open()
  const second = sourceFor(server, { durable: 'shared' })
  await t.rejects(second.open(), { code: 'ERR_LOCKED', details: { durable: 'shared', pid: process.pid }, message: /in use by process \d+/ })
  second.destroy()
  const info = await jsm.consumers.info('S', 'shared')
  t.equal(info.num_waiting, 0, 'the server alone could not have told: no pull is waiting between pulls')
  first.destroy()
  await closed(first)
  const third = sourceFor(server, { durable: 'shared' })
  t.ok(await third.open(), 'released when the first reader ended: taken at once')
  third.destroy()
  await closed(third)

  // Killed with kill -9 on this host: its pid is gone, so the lock is taken at once.
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  await js.publish(lockOf('killed'), holder({ pid: Number(gone.stdout), host: hostname() }))
  const afterKill = sourceFor(server, { durable: 'killed' })
  await afterKill.open()
  t.pass('a dead holder on this host: taken over')
  afterKill.destroy()

  // On another host: alive while it renews its lease.
  const renewing = setInterval(() => void js.publish(lockOf('remote'), holder({})).catch(() => {}), 300)
  await js.publish(lockOf('remote'), holder({}))
  const refused = sourceFor(server, { durable: 'remote' })
  await t.rejects(refused.open(), { code: 'ERR_LOCKED', message: /logdaemon on elsewhere.*renewed its lock/ })
  refused.destroy()
  clearInterval(renewing)
  // It stops renewing (that host died): the lease expires and the lock is taken.
  const taken = sourceFor(server, { durable: 'remote' })
  await taken.open()
  t.pass('a holder that stopped renewing: taken once its lease ran out')

  // The lease taken by someone else while held (renewals failed for too long): the reader stops.
  const lost = new Promise<Error>((resolve) => taken.once('error', resolve))
  taken.resume()
  await js.publish(lockOf('remote'), holder({ host: 'thief' }))
  t.match(await lost, { code: 'ERR_LOCKED', message: /on thief.*took the lock/ })
  const again = sourceFor(server, { durable: 'overwritten' })
  await again.open()
  const lostAgain = new Promise<Error>((resolve) => again.once('error', resolve))
  again.resume()
  await js.publish(lockOf('overwritten'), 'garbage')
  t.match(await lostAgain, { code: 'ERR_LOCKED', message: /not logdaemon on an unknown host/ }, 'overwritten by something else: stops too')

  await js.publish(lockOf('foreign'), 'not a logdaemon lock')
  const foreign = sourceFor(server, { durable: 'foreign' })
  await foreign.open()
  t.pass('a message that is not a logdaemon lock is taken over')
  foreign.destroy()

  const free = sourceFor(server, { durable: 'free', exclusive: false })
  await free.open()
  t.equal((await jsm.streams.getMessage(LOCK_STREAM, { last_by_subj: lockOf('free') }).catch(() => null)) ?? null, null, 'exclusive: false takes no lock')
  free.destroy()
})

t.test('an open that fails after the connection is up lets the process exit without a destroy', { skip: natsSkip }, async (t) => {
  // JetStream is on for the server, not for this account: the connection comes up and the JetStream manager fails.
  const server = await startNats(t.testdir(), { conf: 'accounts { A: { users: [{ user: a, password: secret-a }] } }' })
  t.teardown(() => server.stop())
  const module = new URL('../../../lib/source/jetstream/jetstream-journal-source.ts', import.meta.url).href
  const script = [
    `import { JetStreamJournalSource } from ${JSON.stringify(module)}`,
    `const s = new JetStreamJournalSource({ servers: ${JSON.stringify(server.url)}, stream: 'S', user: 'a', password: 'secret-a', retry: { retries: 0 } })`,
    `await s.open().then(() => console.log('opened'), (e) => console.log('rejected: ' + e.message))`,
  ].join('\n')
  const file = `${t.testdir()}/open.mts`
  writeFileSync(file, script)
  // Before, the connection stayed open after the rejection and kept the process alive until killed.
  const run = spawnSync(process.execPath, [...tsNodeArgs(), file], { env: tsNodeEnv(), encoding: 'utf8', timeout: 20_000 })
  t.match(run.stdout, /^rejected: /, `open() rejects: ${run.stdout}${run.stderr}`)
  t.equal(run.signal, null, 'the process exited by itself (not killed at the timeout)')
  t.equal(run.status, 0)
})

t.test('an open that fails after the lease was taken gives the lease back, destroyed or not', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  await publishJournals(server)
  // The durable consumer `mirror` reads everything; an open that asks it for one subject is refused after the lease.
  const first = sourceFor(server, { durable: 'mirror' })
  await first.open()
  first.destroy()
  const wrong = sourceFor(server, { durable: 'mirror', filter: 'p4.journal.ex' })
  await t.rejects(wrong.open(), { code: 'ERR_JETSTREAM_MISMATCH', message: /filters/ })
  // Not destroyed (a caller that only awaited open()): before, its lease stayed held and renewed, and the next reader
  // of `mirror`, even in this process, was refused with ERR_LOCKED for as long as the process lived.
  const next = sourceFor(server, { durable: 'mirror' })
  t.teardown(() => next.destroy())
  await t.resolves(next.open(), 'the next reader of the durable opens')
  wrong.destroy()
})
