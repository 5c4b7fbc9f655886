import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { JetStreamListener } from '../../../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../../../lib/listeners/builtin/jetstream/jetstream-options.js'
import type { JournalEntry } from '../../../../lib/journal/entry.js'
import { JetStreamJournalSource } from '../../../../lib/source/jetstream/jetstream-journal-source.js'
import { transactions } from '../../../helpers/entries.js'
import { natsSkip, startNats } from '../../../helpers/nats.js'

const silent = { debug() {}, info() {}, warn() {}, error() {} }
const context = () => ({ start: null, logger: silent, signal: new AbortController().signal })
const described = (e: JournalEntry) => [e.position.journal, e.position.offset, e.raw.toString()]

/** A nats-server whose stream S holds journal 4 (five transactions), published by one run; journal 6's entries, not published. */
async function journalFourPublished(t: Test) {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const four = transactions(5, 4).entries
  const six = transactions(5, 6).entries
  ;(six[0] as JournalEntry).didRotate = true
  const end = (e: readonly JournalEntry[]) => (e.at(-1) as JournalEntry).position.end
  const options = () => optionsSchema.parse({ servers: server.url, stream: 'S', server: 'm' })
  const first = new JetStreamListener(options())
  t.teardown(() => first.close())
  await first.open(context())
  for (const e of four) await first.listen(e)
  await first.sync({ journal: 4, offset: end(four) })
  await first.close()
  return { server, four, six, end, options }
}

/** What a consumer reads from the stream, to its end. */
async function readBack(t: Test, servers: string): Promise<JournalEntry[]> {
  const source = new JetStreamJournalSource({ servers, stream: 'S', quietMs: 200, untilEnd: true })
  t.teardown(() => source.destroy())
  const got: JournalEntry[] = []
  for await (const e of source) got.push(e)
  return got
}

/**
 * A journal with no record: p4d rotated twice with nothing written between
 * (`p4d -jj` on an idle server). The file source reads it as an empty
 * journal and hands the listeners journal 4's last record, then journal 6's
 * first. The publisher took 6/0 for a hole after 4's end, a permanent
 * ERR_JETSTREAM_GAP at every start (a probe: a publishing daemon that never
 * got past it), and a consumer would have done the same.
 */
t.test('an empty journal between two: published, and read back, without a false ERR_JETSTREAM_GAP', { skip: natsSkip }, async (t) => {
  // One run publishes journal 4 only; the next (the daemon restarted from 4/0) replays it, then journal 6 follows.
  const { server, four, six, end, options } = await journalFourPublished(t)
  const second = new JetStreamListener(options())
  t.teardown(() => second.close())
  await second.open(context())
  for (const e of [...four, ...six]) await second.listen(e)
  await second.sync({ journal: 6, offset: end(six) })
  await second.close()
  t.equal(second.skipped, four.length, 'the replay of journal 4 is skipped')
  t.equal(second.published, six.length, 'journal 6 is published after it')

  const got = await readBack(t, server.url)
  t.same(got.map(described), [...four, ...six].map(described), 'the consumer reads both journals, no error')
  t.ok(got[four.length]?.didRotate, 'journal 6 starts with a rotation')

  // A true hole is still one: journal 8 after 6 with no entry of the daemon before it in this run.
  const third = new JetStreamListener(options())
  t.teardown(() => third.close())
  await third.open(context())
  await t.rejects(
    Promise.resolve().then(() => third.listen(transactions(1, 8).entries[0] as JournalEntry)),
    { code: 'ERR_JETSTREAM_GAP' },
    'a jump with nothing before it in this run is a hole',
  )
  await third.close()
})

/**
 * The restart case: the daemon, killed after it committed the start of
 * the empty journal 5 (its state: 5/0, journal 4 ended at its length),
 * resumes there with no entry before journal 6's first in its run. Its
 * state says where journal 4 ended (ListenerContext.previousEnd): the
 * publisher takes the step from there. Before, a permanent ERR_JETSTREAM_GAP
 * at every start.
 */
t.test('resumed at the start of an empty journal: the state says where the last journal ended, no false ERR_JETSTREAM_GAP', { skip: natsSkip }, async (t) => {
  const { server, four, six, end, options } = await journalFourPublished(t)

  // Without what the state says, the jump is a hole (as before); nor does a state whose journal before ended elsewhere
  // than the stream vouch for it.
  for (const previousEnd of [undefined, { journal: 4, offset: end(four) + 10 }]) {
    const l = new JetStreamListener(options())
    t.teardown(() => l.close())
    await l.open({ ...context(), start: { journal: 5, offset: 0 }, ...(previousEnd ? { previousEnd } : {}) })
    await t.rejects(
      Promise.resolve().then(() => l.listen(six[0] as JournalEntry)),
      { code: 'ERR_JETSTREAM_GAP' },
      `previousEnd ${JSON.stringify(previousEnd)}`,
    )
    await l.close()
  }

  const resumed = new JetStreamListener(options())
  t.teardown(() => resumed.close())
  await resumed.open({ ...context(), start: { journal: 5, offset: 0 }, previousEnd: { journal: 4, offset: end(four) } })
  for (const e of six) await resumed.listen(e)
  await resumed.sync({ journal: 6, offset: end(six) })
  await resumed.close()
  t.equal(resumed.published, six.length, 'journal 6 is published')

  const got = await readBack(t, server.url)
  t.same(got.map(described), [...four, ...six].map(described), 'the consumer reads both journals, no error')
})

/**
 * Resumed inside a journal: the daemon's state at journal 4's end (4/L, not
 * 5/0: nothing after journal 4 was committed), then p4d rotated twice with
 * nothing written (journal 5 empty). The record before journal 6's first
 * ended at the start. Before, the publisher took 6/0 for a hole after the
 * stream's tail at every start (a probe); and in a stream made again after
 * a nats-server lost its store, 6/0 went out with no Journal-End header, so
 * a consumer whose state file stood at 4/L stopped with a false
 * ERR_JETSTREAM_GAP.
 */
t.test('resumed at the end of a journal, the next one empty: no false ERR_JETSTREAM_GAP, published or read back', { skip: natsSkip }, async (t) => {
  const { server, four, six, end, options } = await journalFourPublished(t)
  const resumed = new JetStreamListener(options())
  t.teardown(() => resumed.close())
  await resumed.open({ ...context(), start: { journal: 4, offset: end(four) } })
  for (const e of six) await resumed.listen(e)
  await resumed.sync({ journal: 6, offset: end(six) })
  await resumed.close()
  t.equal(resumed.published, six.length, 'journal 6 is published after the stream tail 4/L')
  t.same((await readBack(t, server.url)).map(described), [...four, ...six].map(described), 'read back, no error')

  // A stream made again (the store lost) from the publisher's state at 4/L; a consumer whose state file is at 4/L.
  const again = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: 'S2', subject: 'q4.journal', server: 'm' }))
  t.teardown(() => again.close())
  await again.open({ ...context(), start: { journal: 4, offset: end(four) } })
  for (const e of six) await again.listen(e)
  await again.sync({ journal: 6, offset: end(six) })
  await again.close()
  const state = join(t.testdir(), 'consumer.state.json')
  writeFileSync(
    state,
    JSON.stringify({
      format: 'logdaemon-jetstream-state',
      version: 1,
      stream: 'S2',
      durable: 'c',
      position: `4/${end(four)}`,
      streamCreated: null,
      savedAt: '',
    }),
  )
  const source = new JetStreamJournalSource({ servers: server.url, stream: 'S2', subject: 'q4.journal', durable: 'c', state, quietMs: 200, untilEnd: true })
  t.teardown(() => source.destroy())
  const got: JournalEntry[] = []
  for await (const e of source) got.push(e)
  t.same(got.map(described), six.map(described), 'the consumer goes on from its state file with journal 6')
})
