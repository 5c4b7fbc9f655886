import t from 'tap'
import { readdirSync, readlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough, Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { gzipSync } from 'node:zlib'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { EntryIterator } from '../../lib/journal/entry-iterator.js'
import { JournalEntryTransform } from '../../lib/journal/journal-entry-transform.js'
import { createJournalReader } from '../../lib/journal/read-journal.js'
import { fixtureNames, fixturesSkip, FIXTURE_DIR } from '../helpers/fixtures.js'
import { transactions } from '../helpers/entries.js'

type Seen = { raw: string; position: JournalEntry['position']; incomplete: boolean }

const view = (e: JournalEntry): Seen => ({ raw: e.raw.toString('latin1'), position: e.position, incomplete: e.incomplete })

/** The entries through pipe() into a Writable: the path for-await must match. */
async function piped(readable: Readable): Promise<Seen[]> {
  const seen: Seen[] = []
  await pipeline(
    readable,
    new Writable({
      objectMode: true,
      write(e: JournalEntry, _enc, cb) {
        seen.push(view(e))
        cb()
      },
    }),
  )
  return seen
}

async function iterated(readable: Readable): Promise<Seen[]> {
  const seen: Seen[] = []
  for await (const e of readable as AsyncIterable<JournalEntry>) seen.push(view(e))
  return seen
}

/** The descriptors of this process open on `path`. */
function fdsOn(path: string): string[] {
  const open: string[] = []
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) open.push(fd)
    } catch {
      // closed between the listing and the look
    }
  }
  return open
}

/** Several read chunks of records: batches of many entries, records across chunk edges. */
const big = transactions(10_000, 7)

t.test('for await over createJournalReader: the same entries as pipe(), in order (plain, gzip, several chunks)', async (t) => {
  const dir = t.testdir()
  const plain = join(dir, 'journal.7')
  const gz = join(dir, 'journal.7.gz')
  writeFileSync(plain, big.bytes)
  writeFileSync(gz, gzipSync(big.bytes))
  t.ok(big.bytes.length > 3 * 128 * 1024, 'more than a few read chunks')
  const want = await piped(createJournalReader(plain))
  t.equal(want.length, big.entries.length)
  t.same(await iterated(createJournalReader(plain)), want, 'plain')
  t.same(await iterated(createJournalReader(gz)), want, 'gzip')
  t.same(await iterated(new JournalEntryTransform({ journal: 7 }).end(big.bytes)), want, 'a JournalEntryTransform of its own')
})

t.test('for await over the real p4d files equals pipe()', { skip: fixturesSkip }, async (t) => {
  for (const name of fixtureNames()) {
    const file = join(FIXTURE_DIR, name)
    t.same(await iterated(createJournalReader(file, { allowIncomplete: true })), await piped(createJournalReader(file, { allowIncomplete: true })), name)
  }
})

t.test('break closes the file: no descriptor is left open on it', async (t) => {
  const file = join(t.testdir(), 'journal.7')
  writeFileSync(file, big.bytes)
  for (const stopAt of [1, 5_000]) {
    const reader = createJournalReader(file)
    let n = 0
    for await (const _e of reader) if (++n === stopAt) break
    t.ok(reader.destroyed, `destroyed by break after ${stopAt}`)
    if (!reader.closed) await new Promise((resolve) => reader.once('close', resolve))
    t.same(fdsOn(file), [], `no descriptor on the file after close (break after ${stopAt})`)
  }
  const reader = createJournalReader(file)
  await t.rejects(
    (async () => {
      for await (const _e of reader) throw new Error('the loop body failed')
    })(),
    /the loop body failed/,
  )
  if (!reader.closed) await new Promise((resolve) => reader.once('close', resolve))
  t.same(fdsOn(file), [], 'a throw in the loop body closes it too')
})

t.test('an error after N good entries: the N entries, then the error (as pipe and read() see it)', async (t) => {
  const good = big.bytes.subarray(0, big.entries[5_999]!.position.end)
  const bytes = Buffer.concat([good, Buffer.from('this is not a record\n'), big.bytes.subarray(good.length)])
  const file = join(t.testdir(), 'journal.7')
  writeFileSync(file, bytes)
  const seen: JournalEntry[] = []
  let caught: unknown = null
  try {
    for await (const e of createJournalReader(file) as AsyncIterable<JournalEntry>) seen.push(e)
  } catch (err) {
    caught = err
  }
  t.equal(seen.length, 6_000, 'every entry before the bad bytes')
  t.equal(seen.at(-1)?.position.end, good.length)
  t.match(caught, { code: 'ERR_JOURNAL_MALFORMED' })
  // A trailing partial record: the entries, then ERR_JOURNAL_INCOMPLETE.
  const cut = createJournalReader(null, { input: Readable.from([big.bytes.subarray(0, big.entries[2]!.position.end + 5)]) })
  const got: JournalEntry[] = []
  await t.rejects(
    (async () => {
      for await (const e of cut as AsyncIterable<JournalEntry>) got.push(e)
    })(),
    { code: 'ERR_JOURNAL_INCOMPLETE' },
  )
  t.equal(got.length, 3)
})

t.test('an input that fails: the error reaches the loop; a stream destroyed without one is a premature close', async (t) => {
  const input = new PassThrough()
  const reader = createJournalReader(null, { input })
  input.write(big.bytes.subarray(0, big.entries[1]!.position.end))
  const it = reader[Symbol.asyncIterator]() as AsyncIterator<JournalEntry>
  t.equal((await it.next()).value?.position.offset, 0)
  t.equal((await it.next()).value?.position.offset, big.entries[1]!.position.offset)
  const pending = it.next()
  input.destroy(new Error('disk gone'))
  await t.rejects(pending, /disk gone/)
  t.same(await it.next(), { value: undefined, done: true }, 'done after the error')

  const t2 = new JournalEntryTransform()
  const it2 = t2[Symbol.asyncIterator]()
  const waiting = it2.next()
  t2.destroy()
  await t.rejects(waiting, { code: 'ERR_STREAM_PREMATURE_CLOSE' })
})

t.test('EntryIterator: overlapping next() calls come in order; return() ends a waiting call; single entries and empty batches', async (t) => {
  const { entries } = transactions(3)
  const stream = new Readable({ objectMode: true, read() {} })
  const it = new EntryIterator(stream)
  t.equal(it[Symbol.asyncIterator](), it)
  const calls = [it.next(), it.next(), it.next(), it.next()]
  stream.push([])
  stream.push(entries.slice(0, 2))
  stream.push(entries[2])
  await sleep(5)
  stream.push(entries.slice(3, 5))
  const got = await Promise.all(calls)
  t.same(
    got.map((r) => (r.value as JournalEntry).position.offset),
    entries.slice(0, 4).map((e) => e.position.offset),
    'in order across batches and single entries',
  )
  const last = it.next()
  t.same(await last, { value: entries[4], done: false })
  const waiting = it.next()
  t.same(await Promise.all([it.return(), waiting]), [
    { value: undefined, done: true },
    { value: undefined, done: true },
  ])
  t.ok(stream.destroyed, 'return() destroys the stream')
  t.same(await it.next(), { value: undefined, done: true })

  const ended = new Readable({ objectMode: true, read() {} })
  const it2 = new EntryIterator(ended)
  ended.push(entries.slice(0, 1))
  ended.push(null)
  t.equal((await it2.next()).value, entries[0])
  t.same(await it2.next(), { value: undefined, done: true }, 'the end')

  const quiet = new Readable({ objectMode: true, read() {} })
  const it3 = new EntryIterator(quiet, { endOnDestroy: true })
  const w = it3.next()
  quiet.destroy()
  t.same(await w, { value: undefined, done: true }, 'endOnDestroy: a destroy without an error ends the loop')
})

t.test('batch: true: for await yields the arrays, as before', async (t) => {
  const reader = createJournalReader(null, { input: Readable.from([big.bytes]), batch: true })
  let n = 0
  for await (const batch of reader as AsyncIterable<JournalEntry[]>) {
    t.ok(Array.isArray(batch))
    n += batch.length
  }
  t.equal(n, big.entries.length)
})

t.test('an entry handed out is not kept by the batch it came from (it dies in the loop body, not with the batch)', async (t) => {
  // The batch is one chunk's entries: were it to keep those handed out, each scavenge found them alive, and V8 grew its
  // young generation by what survived (a 1 GiB for-await-source peaked 17 MB higher than a 200 MB one).
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  const bytes = Buffer.from(Array.from({ length: 100 }, (_, i) => `@ex@ ${i} 2\n`).join(''))
  for (const [name, make] of [
    ['JournalEntryTransform', () => Readable.from([bytes]).pipe(new JournalEntryTransform({ journal: 1 }))],
    ['createJournalReader', () => createJournalReader(null, { input: Readable.from([bytes]) })],
  ] as const) {
    let first: WeakRef<JournalEntry> | null = null
    let n = 0
    for await (const e of make() as AsyncIterable<JournalEntry>) {
      if (n++ === 0) {
        first = new WeakRef(e)
        continue
      }
      if (n === 50) {
        // Out of this job (a WeakRef keeps its target until the job ends), then a full collection.
        await new Promise((resolve) => setImmediate(resolve))
        gc()
        t.equal(first?.deref(), undefined, `${name}: the first entry is collected while its batch is still being handed out`)
      }
    }
    t.equal(n, 100, `${name}: every entry`)
  }
})

t.test('the batch in hand when the stream ends (and is auto-destroyed) is handed out whole', async (t) => {
  // A pipe whose input is one chunk: the stream has ended before the loop takes the second entry.
  for (const count of [1, 2, 3, 50]) {
    const bytes = Buffer.from(Array.from({ length: count }, (_, i) => `@ex@ ${i} 2\n`).join(''))
    const seen: number[] = []
    for await (const e of Readable.from([bytes]).pipe(new JournalEntryTransform({ journal: 1 }))) seen.push(e.position.offset)
    t.equal(seen.length, count, `${count} record(s) in one chunk through pipe()`)
  }
})

t.test('destroy() inside for await over a reader: no entry after it, though a batch was in hand', async (t) => {
  // One chunk: every entry is in the batch in hand when the loop body destroys the reader.
  const reader = createJournalReader(null, { input: Readable.from([big.bytes]) })
  let n = 0
  await t.rejects(
    (async () => {
      for await (const _e of reader as AsyncIterable<JournalEntry>) if (++n === 10) reader.destroy()
    })(),
    { code: 'ERR_STREAM_PREMATURE_CLOSE' },
  )
  t.equal(n, 10, 'the loop stopped at the destroy')
  t.ok(big.entries.length > 10)
})
