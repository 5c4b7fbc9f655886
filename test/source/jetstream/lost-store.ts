import t, { type Test } from 'tap'
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { JetStreamListener } from '../../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../../lib/listeners/builtin/jetstream/jetstream-options.js'
import type { JournalEntry } from '../../../lib/journal/entry.js'
import { JetStreamJournalSource, type JetStreamJournalSourceOptions } from '../../../lib/source/jetstream/jetstream-journal-source.js'
import { transactions } from '../../helpers/entries.js'
import { natsSkip, startNats, type NatsServer } from '../../helpers/nats.js'

/**
 * A consumer's position lives in the nats-server's store with the stream.
 * When the store is lost, the publisher makes the stream again from its
 * own committed position and a new durable consumer starts at its first
 * message: a consumer that was behind lost the records between, with no
 * error (a probe: 296 KB of records). The reader's state file on its own
 * host (the `state` option; the daemon's `state`) keeps the position.
 */

const silent = { debug() {}, info() {}, warn() {}, error() {} }
const STREAM = 'P4'
/** 40 transactions of journal 4: 80 records, every second one an `@ex@` (a consistency point). */
const all = transactions(40, 4).entries
const at = (i: number): JournalEntry => all[i] as JournalEntry

/** What the publishing daemon sends from its committed position on: `entries` into the stream (made when missing). */
async function publish(server: NatsServer, entries: readonly JournalEntry[]): Promise<void> {
  const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: STREAM, server: 'm' }))
  await l.open({ start: null, logger: silent, signal: new AbortController().signal })
  for (const e of entries) await l.listen(e)
  await l.sync({ journal: 4, offset: (entries.at(-1) as JournalEntry).position.end })
  await l.close()
}

/** The nats-server stopped, its store removed, started again: every stream and consumer gone. */
async function loseStore(server: NatsServer): Promise<void> {
  await server.stop()
  rmSync(server.store, { recursive: true, force: true })
  await server.start()
}

function source(server: NatsServer, extra: Partial<JetStreamJournalSourceOptions>): JetStreamJournalSource {
  return new JetStreamJournalSource({
    servers: server.url,
    stream: STREAM,
    durable: 'reader',
    quietMs: 200,
    untilEnd: true,
    retry: { retries: 2, minTimeout: 50, maxTimeout: 100, randomize: false },
    ...extra,
  })
}

/** Reads to the end (or an error), committing each consistency point; the records handed out and the error. */
async function readAll(
  s: JetStreamJournalSource,
): Promise<{ got: JournalEntry[]; err: (Error & { code?: string; offset?: number }) | null; events: unknown[] }> {
  const got: JournalEntry[] = []
  const events: unknown[] = []
  s.on('skipped', (e) => events.push({ skipped: e }))
  s.on('stateAhead', (e) => events.push({ stateAhead: e }))
  s.on('retry', (e: { err: Error }) => events.push({ retry: e.err.message }))
  let err: (Error & { code?: string }) | null = null
  try {
    for await (const e of s) {
      got.push(e)
      if (e.consistent) s.commit(e)
    }
    await s.flushState()
  } catch (e) {
    err = e as Error & { code?: string }
  }
  s.destroy()
  await new Promise((resolve) => (s.closed ? resolve(null) : s.once('close', resolve)))
  return { got, err, events }
}

/** Reads records up to and including index `last`, commits there, and stops (a daemon stopped there). */
async function readThrough(s: JetStreamJournalSource, last: number): Promise<void> {
  for await (const e of s) {
    if (e.position.end !== at(last).position.end) continue
    s.commit(e)
    break
  }
  await s.flushState()
  s.destroy()
  await new Promise((resolve) => (s.closed ? resolve(null) : s.once('close', resolve)))
}

/** A nats-server holding every record, and a reader with the state file `state` that committed through record `last`. */
async function readerAt(t: Test, last: number): Promise<{ dir: string; server: NatsServer; state: string }> {
  const dir = t.testdir()
  const server = await startNats(join(dir, 'nats'))
  t.teardown(() => server.stop())
  await publish(server, all)
  const state = join(dir, 'state.json')
  await readThrough(source(server, { state }), last)
  return { dir, server, state }
}

t.test('a nats-server that lost its store: the state file keeps the position, no record lost or handed out twice', { skip: natsSkip }, async (t) => {
  const dir = t.testdir()
  const server = await startNats(join(dir, 'nats'))
  t.teardown(() => server.stop())

  const cases = [
    // The consumer was behind what the publisher had committed: records 40..59 are in no stream any more.
    { name: 'behind the new stream', readThrough: 39, republishFrom: 60 },
    // The consumer had read past the publisher's committed position: the new stream sends 40..59 again.
    { name: 'ahead of the new stream', readThrough: 59, republishFrom: 40 },
    // Level: the new stream starts where the consumer stopped.
    { name: 'level with the new stream', readThrough: 59, republishFrom: 60 },
  ]
  for (const c of cases) {
    const state = join(dir, `${c.readThrough}-${c.republishFrom}.state.json`)
    await publish(server, all)
    await readThrough(source(server, { state }), c.readThrough)
    // A reader beside it with no state file, as far: what readers did before.
    await readThrough(source(server, { durable: 'blind' }), c.readThrough)
    const saved = JSON.parse(readFileSync(state, 'utf8')) as { position: string; stream: string; durable: string }
    t.equal(saved.position, `4/${at(c.readThrough).position.end}`, `${c.name}: the state file holds the committed position`)

    await loseStore(server)
    await publish(server, all.slice(c.republishFrom))

    const r = await readAll(source(server, { state }))
    const blind = await readAll(source(server, { durable: 'blind' }))
    t.equal(blind.err, null, `${c.name}: without a state file the reader cannot tell`)
    t.equal(blind.got[0]?.position.offset, at(c.republishFrom).position.offset, `${c.name}: without a state file it starts at the new stream's first record`)
    if (c.readThrough + 1 < c.republishFrom) {
      t.equal(r.err?.code, 'ERR_JETSTREAM_GAP', `${c.name}: ERR_JETSTREAM_GAP (${r.err?.message})`)
      t.equal(r.got.length, 0, `${c.name}: nothing handed out past the hole`)
      t.notOk(
        r.events.some((e) => 'retry' in (e as object)),
        `${c.name}: not retried (no "retrying" warning for a hole that stays)`,
      )
      t.match(
        r.err?.message,
        `ended at 4/${at(c.readThrough).position.end} (where the state file ${state} says the listeners committed through)`,
        `${c.name}: the message names where the committed records ended, from the state file`,
      )
      t.equal(r.err?.offset, at(c.republishFrom).position.offset, `${c.name}: the error's position is the first record the stream has`)
    } else {
      t.equal(r.err, null, `${c.name}: no error`)
      t.same(
        r.got.map((e) => e.position.offset),
        all.slice(c.readThrough + 1).map((e) => e.position.offset),
        `${c.name}: every record after the committed position, once, in order`,
      )
      t.same(
        r.got.map((e) => e.raw.toString('latin1')),
        all.slice(c.readThrough + 1).map((e) => e.raw.toString('latin1')),
        `${c.name}: byte for byte`,
      )
      t.equal(r.got[0]?.didRotate, false, `${c.name}: the first record continues journal 4`)
      const skipped = r.events.find((e) => 'skipped' in (e as object)) as { skipped: { messages: number } } | undefined
      t.equal(skipped?.skipped.messages ?? 0, c.readThrough + 1 - c.republishFrom, `${c.name}: the records committed before are the ones not handed out`)
    }
    t.ok(
      r.events.some((e) => 'stateAhead' in (e as object)),
      `${c.name}: the source says the state file is past what the new consumer acknowledged`,
    )
    await loseStore(server)
  }
})

t.test(
  'the state file past the acknowledgement (a run stopped between the save and the ack): those records are not handed out again',
  { skip: natsSkip },
  async (t) => {
    const { server, state } = await readerAt(t, 39)
    // What a run killed after saving 49 and before acknowledging it leaves: the file ahead of the consumer's floor.
    const saved = JSON.parse(readFileSync(state, 'utf8')) as Record<string, unknown>
    writeFileSync(state, JSON.stringify({ ...saved, position: `4/${at(49).position.end}` }))
    const s = source(server, { state })
    const r = await readAll(s)
    t.equal(r.err, null)
    t.same(
      r.got.map((e) => e.position.offset),
      all.slice(50).map((e) => e.position.offset),
      'reading goes on after the saved position',
    )
    t.equal(s.start?.how, 'state', 'the start says it came from the state file')
    t.same(
      r.events,
      [{ skipped: { messages: 10, through: { journal: 4, offset: at(49).position.end } } }],
      'ten records skipped, and no warning: the same stream and consumer',
    )
  },
)

t.test('records skipped as committed are acknowledged, not sent again every ack wait', { skip: natsSkip }, async (t) => {
  const { server, state } = await readerAt(t, 59)
  await loseStore(server)
  // The new stream holds only records the consumer had committed.
  await publish(server, all.slice(40, 60))
  const r = await readAll(source(server, { state }))
  t.equal(r.err, null)
  t.equal(r.got.length, 0, 'nothing handed out: all of it was committed')
  const nc = await connect({ servers: server.url })
  t.teardown(() => nc.close())
  const info = await (await jetstreamManager(nc)).consumers.info(STREAM, 'reader')
  t.equal(info.ack_floor.stream_seq, 20, 'the new consumer acknowledged every message skipped')
  t.equal(info.num_ack_pending, 0, 'none waits to be sent again')
})

t.test("the state file is the reader's alone: another consumer's, a file source's, a damaged one, a second reader", { skip: natsSkip }, async (t) => {
  const { dir, server, state } = await readerAt(t, 19)

  const other = await readAll(source(server, { state, durable: 'other' }))
  t.equal(other.err?.code, 'ERR_STATE_MISMATCH', `another durable consumer's file is refused (${other.err?.message})`)
  t.match(other.err?.message, /durable consumer reader of stream P4/)

  const fileState = join(dir, 'file-source.json')
  writeFileSync(fileState, JSON.stringify({ format: 'logdaemon-state', version: 1, position: '4/0' }))
  const files = await readAll(source(server, { state: fileState }))
  t.equal(files.err?.code, 'ERR_STATE_MISMATCH', `a journal-file daemon's state is refused (${files.err?.message})`)

  const damaged = join(dir, 'damaged.json')
  writeFileSync(damaged, '{"format":"logdaemon-jetstream-state","version":1,"stream":"P4","durable":"reader","position":"4/x"}')
  const d = await readAll(source(server, { state: damaged }))
  t.equal(d.err?.code, 'ERR_STATE_CORRUPT', `a damaged file is refused, not replaced (${d.err?.message})`)
  t.match(readFileSync(damaged, 'utf8'), /4\/x/, 'and left as it was')

  const first = source(server, { state, untilEnd: false })
  await first.open()
  const second = await readAll(source(server, { state, exclusive: false }))
  t.equal(second.err?.code, 'ERR_LOCKED', `a second reader of the same state file is refused (${second.err?.message})`)
  first.destroy()
  await new Promise((resolve) => first.once('close', resolve))

  t.throws(() => source(server, { state, durable: undefined }), /a state file needs a durable consumer/)
})

t.test('destroyed while it waits for its stream: the state file lock is gone once the source closes', { skip: natsSkip }, async (t) => {
  const dir = t.testdir()
  const server = await startNats(join(dir, 'nats'))
  t.teardown(() => server.stop())
  const state = join(dir, 'state.json')
  const s = new JetStreamJournalSource({
    servers: server.url,
    stream: 'NOT_YET',
    durable: 'reader',
    state,
    waitForStream: true,
    retry: { minTimeout: 50, maxTimeout: 100 },
  })
  const opening = s.open().catch((err: Error) => err)
  // It has taken the lock and waits (retrying) for the stream.
  while (!existsSync(`${state}.lock`)) await new Promise((resolve) => setTimeout(resolve, 20))
  await new Promise((resolve) => setTimeout(resolve, 300))
  s.destroy()
  await new Promise((resolve) => s.once('close', resolve))
  t.notOk(existsSync(`${state}.lock`), 'no lock left when close comes (a daemon exits then)')
  t.same(
    readdirSync(dir).filter((f) => f.startsWith('state.json')),
    [],
    'nor its socket',
  )
  await opening
})

t.test('a state file whose position is inside a record is refused, filtered or not: no record handed out', { skip: natsSkip }, async (t) => {
  const dir = t.testdir()
  const server = await startNats(join(dir, 'nats'))
  t.teardown(() => server.stop())
  await publish(server, all)
  const inside = at(49).position.end + 3
  for (const c of [
    { durable: 'plain', extra: {} },
    { durable: 'filtered', extra: { filter: 'p4.journal.>' } },
  ]) {
    const state = join(dir, `${c.durable}.json`)
    await readThrough(source(server, { state, durable: c.durable, ...c.extra }), 39)
    // Edited (or another journal history's): 3 bytes into record 50, no record of the stream ends there.
    const saved = JSON.parse(readFileSync(state, 'utf8')) as Record<string, unknown>
    writeFileSync(state, JSON.stringify({ ...saved, position: `4/${inside}` }))
    const r = await readAll(source(server, { state, durable: c.durable, ...c.extra }))
    t.equal(r.err?.code, 'ERR_STATE_MISMATCH', `${c.durable}: refused (${r.err?.message})`)
    t.match(r.err?.message, `across 4/${inside}, where the state file ${state} says the listeners committed through: no record of this stream ends there`)
    t.equal(r.got.length, 0, `${c.durable}: the record across the position is not handed out`)
  }
})

t.test("a state file past the stream's last record warns (stateAhead), the same stream and consumer or not", { skip: natsSkip }, async (t) => {
  const dir = t.testdir()
  const server = await startNats(join(dir, 'nats'))
  t.teardown(() => server.stop())
  await publish(server, all)
  const state = join(dir, 'state.json')
  await readThrough(source(server, { state }), 39)
  // Edited, or another host's: far past anything the stream holds. Every record up to there is skipped.
  const saved = JSON.parse(readFileSync(state, 'utf8')) as Record<string, unknown>
  writeFileSync(state, JSON.stringify({ ...saved, position: '9/0' }))
  const r = await readAll(source(server, { state }))
  t.equal(r.err, null)
  t.equal(r.got.length, 0, 'nothing handed out: the file says all of it was committed')
  const ahead = r.events.find((e) => 'stateAhead' in (e as object)) as { stateAhead: { streamEnd: unknown; acknowledged: number } } | undefined
  t.ok(ahead, 'a warning, though the consumer acknowledged messages of this same stream')
  t.same(ahead?.stateAhead.streamEnd, { journal: 4, offset: at(79).position.end }, "it names where the stream's last record ends")
  t.equal(ahead?.stateAhead.acknowledged, 40)
})

t.test('a commit after the source closed saves nothing: its lock is given back', { skip: natsSkip }, async (t) => {
  const { server, state } = await readerAt(t, 19)
  const before = readFileSync(state, 'utf8')
  const s = source(server, { state, untilEnd: false })
  let last: JournalEntry | null = null
  for await (const e of s) {
    last = e
    if (e.position.end === at(39).position.end) break
  }
  // The loop's end destroyed the source; a listener that finishes later commits what it had.
  await new Promise((resolve) => (s.closed ? resolve(null) : s.once('close', resolve)))
  t.notOk(existsSync(`${state}.lock`), 'the lock is given back')
  s.commit(last as JournalEntry)
  await s.flushState()
  t.equal(readFileSync(state, 'utf8'), before, 'the file is as it was (the records come again next time)')
})

t.test('a filtered reader behind a stream made again is told the records between are in no stream', { skip: natsSkip }, async (t) => {
  const dir = t.testdir()
  const server = await startNats(join(dir, 'nats'))
  t.teardown(() => server.stop())
  // Only the counter records (`@pv@`), as a reader of one table would: the filter is the consumer's.
  const filter = 'p4.journal.pv.db.counters'
  for (const c of [
    { name: 'behind', readThrough: 38, republishFrom: 60 },
    { name: 'level', readThrough: 58, republishFrom: 59 },
  ]) {
    const state = join(dir, `${c.name}.json`)
    await publish(server, all)
    await readThrough(source(server, { state, filter }), c.readThrough)
    await loseStore(server)
    await publish(server, all.slice(c.republishFrom))
    const r = await readAll(source(server, { state, filter }))
    t.equal(r.err, null, `${c.name}: a filtered reader goes on (it cannot tell whether it needed the records between)`)
    t.same(
      r.got.map((e) => e.position.offset),
      all
        .slice(c.republishFrom)
        .filter((e) => e.op === 'pv')
        .map((e) => e.position.offset),
      `${c.name}: every record of its subjects in the new stream, once`,
    )
    const ahead = r.events.find((e) => 'stateAhead' in (e as object)) as { stateAhead: { streamStart: unknown } } | undefined
    t.same(
      ahead?.stateAhead.streamStart,
      c.name === 'behind' ? { journal: 4, offset: at(c.republishFrom).position.offset } : null,
      `${c.name}: ${c.name === 'behind' ? 'the warning says where the stream now starts' : 'no hole to speak of (the stream starts right after the position)'}`,
    )
    await loseStore(server)
  }
})

t.test('a long skip after the durable consumer is made again says how far it got while it goes on', { skip: natsSkip }, async (t) => {
  const dir = t.testdir()
  const server = await startNats(join(dir, 'nats'))
  t.teardown(() => server.stop())
  // 1500 transactions: 3000 records, every one of which is read again to be skipped.
  const many = transactions(1500, 4).entries
  await publish(server, many)
  const state = join(dir, 'state.json')
  const last = many[2599] as JournalEntry
  const first = source(server, { state })
  for await (const e of first) {
    if (e.position.end !== last.position.end) continue
    first.commit(e)
    break
  }
  await first.flushState()
  first.destroy()
  await new Promise((resolve) => (first.closed ? resolve(null) : first.once('close', resolve)))
  // The durable consumer deleted (and made again by the next run): it starts at the stream's first message.
  const nc = await connect({ servers: server.url })
  await (await jetstreamManager(nc)).consumers.delete(STREAM, 'reader')
  await nc.close()

  const s = source(server, { state, skipProgressMs: 0 })
  const progress: { messages: number; at: { journal: number; offset: number }; through: { journal: number; offset: number } }[] = []
  s.on('skipping', (e) => progress.push(e))
  const r = await readAll(s)
  t.equal(r.err, null)
  const through = { journal: 4, offset: last.position.end }
  t.same(
    progress.map((e) => e.messages),
    [1024, 2048],
    'a progress event while the skip goes on (every look at the clock, with skipProgressMs 0)',
  )
  t.same(
    progress.map((e) => e.at),
    [1023, 2047].map((i) => ({ journal: 4, offset: (many[i] as JournalEntry).position.end })),
    'each says where the skip is: the end of the last record skipped',
  )
  t.ok(
    progress.every((e) => e.through.journal === through.journal && e.through.offset === through.offset),
    'and where it stops',
  )
  t.same(
    r.events.filter((e) => 'skipped' in (e as object)),
    [{ skipped: { messages: 2600, through } }],
    'then the line at the end',
  )
  t.same(
    r.got.map((e) => e.position.offset),
    many.slice(2600).map((e) => e.position.offset),
    'and the records after the position, each once',
  )

  const quiet = await readerAt(t, 79)
  const n = await connect({ servers: quiet.server.url })
  await (await jetstreamManager(n)).consumers.delete(STREAM, 'reader')
  await n.close()
  const q = source(quiet.server, { state: quiet.state })
  const events: unknown[] = []
  q.on('skipping', (e) => events.push(e))
  await readAll(q)
  t.same(events, [], 'a skip of 80 messages (the clock looked at every 1024): no progress event')
})
