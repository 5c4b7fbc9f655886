import t, { type Test } from 'tap'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { readState } from '../../lib/files/state-file.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import { CHUNK_BYTES } from '../../lib/source/archive-reader.js'
import { ConsistencyTracker } from '../../lib/source/consistency.js'
import { RotatingJournalSource, type SourceSkipReport } from '../../lib/source/rotating-journal-source.js'
import { consume, sawEverything, Seen, until } from '../helpers/follow.js'

async function server(t: Test, seed: number, journals: number[]): Promise<{ root: string; sim: SimulatedP4d }> {
  const root = t.testdir()
  const sim = new SimulatedP4d({ root, seed, startJournal: journals[0] ?? 1 })
  for (const [i] of journals.entries()) {
    for (let k = 0; k < 20; k++) await sim.appendTransaction()
    if (i < journals.length - 1) await sim.rotate('rename')
  }
  t.teardown(() => sim.close())
  return { root, sim }
}

/** Resolves when the source has closed: its last state write is done. */
async function closed(source: RotatingJournalSource): Promise<void> {
  // Not events.once: a for-await `break` destroys with an AbortError, which it would reject with.
  if (!source.closed) await new Promise((resolve) => source.once('close', resolve))
}

async function failure(source: RotatingJournalSource): Promise<Error & { code?: string }> {
  const c = consume(source)
  await c.done
  return c.error() ?? new Error('no error')
}

t.test('from N: archives then the live journal, every entry with its journal, didRotate, consistent', async (t) => {
  const { root, sim } = await server(t, 11, [3, 4, 5])
  const source = new RotatingJournalSource({ root, from: 3, pollMs: 100 })
  const starts: unknown[] = []
  source.on('start', (s) => starts.push(s))
  const c = consume(source)
  await until(() => c.seen.caughtUp(sim))
  t.same(starts, [{ journal: 3, offset: 0, line: 1, how: 'from' }])
  t.same(source.status.phase, 'live')
  t.same(source.status.live?.journal, 5)
  t.same(source.status.start, starts[0])
  await c.stop()
  t.ok(sawEverything(sim, c.seen, 3).ok)
  const tracker = new ConsistencyTracker()
  t.ok(
    c.seen.entries.every((e) => e.consistent === tracker.update(e)),
    'consistent exactly at consistency points',
  )
  let line = 1
  let prev = { journal: 3, end: 0 }
  let contiguous = true
  for (const e of c.seen.entries) {
    if (e.position.journal !== prev.journal) line = 1
    const offset = e.position.journal === prev.journal ? prev.end : 0
    if (e.position.offset !== offset || e.position.line !== line) contiguous = false
    line += e.raw.toString('latin1').split('\n').length - 1
    prev = { journal: e.position.journal as number, end: e.position.end }
  }
  t.ok(contiguous, 'offsets and lines contiguous within each journal')
  t.equal(source.status.phase, 'closed')
})

t.test("from 'end': only what is written after the start", async (t) => {
  const { root, sim } = await server(t, 12, [2, 3])
  await sim.appendBytes(Buffer.from('@pv@ 1 @db.x@ @half'))
  const source = new RotatingJournalSource({ root, from: 'end', pollMs: 100 })
  const start = await source.open()
  const before = sim.journalBytes(3).length
  t.equal(start.journal, 3)
  t.equal(start.offset, before - '@pv@ 1 @db.x@ @half'.length, 'at the start of the half-written record')
  const c = consume(source)
  await sim.appendBytes(Buffer.from('@ \n'))
  await sim.appendTransaction()
  await until(() => c.seen.entries.at(-1)?.position.end === sim.journalBytes(3).length)
  await c.stop()
  t.equal(c.seen.entries[0]?.text(), '@pv@ 1 @db.x@ @half@ \n', 'the half-written record, whole')
  t.equal(c.seen.entries[0]?.position.offset, start.offset)
})

t.test('no start point, a gap: the stream fails with the code', async (t) => {
  t.equal((await failure(new RotatingJournalSource({ root: t.testdir() }))).code, 'ERR_NO_START')
  const root = t.testdir({ 'journal.1': '', 'journal.3': '', journal: '' })
  const err = await failure(new RotatingJournalSource({ root, from: 1 }))
  t.equal(err.code, 'ERR_JOURNAL_GAP')
  t.match(err.message, /journal 2 is missing.*--from 3/)
})

t.test('state: resumes after the last saved consistency point, replaying at most one transaction', async (t) => {
  const { root, sim } = await server(t, 13, [3, 4])
  const state = join(root, 'logdaemon.state')
  const a = new RotatingJournalSource({ root, from: 3, state, pollMs: 100 })
  // Stopped at entry 301, inside journal 3 (~416 records): stopped by polling, a loaded machine had read on into
  // journal 4 and committed there, and the resumed reader, which must see journal 4 whole, never caught up (CI).
  let release = (): void => {}
  class StopAt extends Seen {
    override add(e: JournalEntry): void {
      super.add(e)
      if (this.entries.length === 301) release = first.hold()
    }
  }
  const first = consume(a, { seen: new StopAt() })
  await until(() => first.seen.entries.length > 300)
  const stopping = first.stop()
  release()
  await stopping
  t.ok(
    first.seen.entries.every((e) => e.position.journal === 3),
    'the first reader stopped inside journal 3',
  )
  const saved = await readState(state)
  t.ok(saved, 'saved on destroy')
  const last = first.seen.entries.at(-1)
  const point = first.seen.entries.find((e) => e.position.journal === saved?.journal && e.position.end === saved?.offset)
  t.ok(point?.consistent || saved?.offset === 0, 'the saved position is a consistency point')
  const lastPoint = [...first.seen.entries].reverse().find((e) => e.consistent)
  // The end of journal 3 may be saved as the start of journal 4 (the same point) once the reader has opened journal 4.
  const endOf3 = lastPoint?.position.journal === 3 && lastPoint.position.end === sim.journalBytes(3).length
  const newest = endOf3 && saved?.journal === 4 ? [4, 0] : [lastPoint?.position.journal, lastPoint?.position.end]
  t.same([saved?.journal, saved?.offset], newest, 'the newest committed one')
  t.ok(last && lastPoint && last.position.end - lastPoint.position.end < 100_000, 'little to replay')
  // Inside a journal it says it is a consistency point (the journal has markers); a journal's start needs no saying.
  t.equal(saved?.consistent, saved!.offset > 0 ? true : undefined, 'recorded as a consistency point')
  const b = new RotatingJournalSource({ root, from: 'end', state, pollMs: 100 })
  const opened = await b.open()
  t.equal(opened.consistent, saved!.offset > 0 ? true : undefined, 'and the start says so')
  const second = consume(b)
  await until(() => second.seen.caughtUp(sim))
  await second.stop()
  const resumed = second.seen.entries[0]?.position
  // At the very end of journal 3, the next record is journal 4's first.
  const atEnd = saved?.journal === 3 && saved.offset === sim.journalBytes(3).length
  const expected = atEnd ? [4, 0, 1] : [saved?.journal, saved?.offset, saved?.line]
  t.same([resumed?.journal, resumed?.offset, resumed?.line], expected, 'resumed there, with its line number', {
    first: first.seen.entries.at(-1)?.position,
    saved,
    error: second.error(),
  })
  const union = new Map<number, Buffer>()
  for (const e of [
    ...first.seen.entries.filter((e) => e.position.journal! < saved!.journal || (e.position.journal === saved!.journal && e.position.end <= saved!.offset)),
    ...second.seen.entries,
  ]) {
    union.set(e.position.journal as number, Buffer.concat([union.get(e.position.journal as number) ?? Buffer.alloc(0), e.raw]))
  }
  t.same(union.get(3), sim.journalBytes(3))
  t.same(union.get(4), sim.journalBytes(4))
})

t.test('a first start with a state file saves the start at once', async (t) => {
  const { root, sim } = await server(t, 14, [2, 3])
  const state = join(root, 'logdaemon.state')
  const source = new RotatingJournalSource({ root, from: 'end', state })
  await source.open()
  const s = await readState(state)
  t.same([s?.journal, s?.offset], [3, sim.journalBytes(3).length])
  t.equal(s?.consistent, undefined, 'the end of the last record is not known to be a consistency point')
  source.destroy()
})

t.test('a first start from journal N saves the start too, while reading begins', async (t) => {
  const { root } = await server(t, 14, [2, 3])
  const state = join(root, 'logdaemon.state')
  const source = new RotatingJournalSource({ root, from: 2, state })
  const saved = once(source, 'state')
  const c = consume(source)
  const [s] = (await saved) as [{ journal: number; offset: number }]
  t.same([s.journal, s.offset], [2, 0])
  const onDisk = await readState(state)
  t.ok(onDisk && onDisk.journal >= 2, 'the state file is there')
  await until(() => c.seen.entries.length > 0)
  await c.stop()
})

t.test('state mismatch: other content, or an offset past the end; the state file is left alone', async (t) => {
  const { root } = await server(t, 15, [3])
  const state = join(root, 'logdaemon.state')
  const a = new RotatingJournalSource({ root, from: 3, state })
  const c = consume(a)
  await until(() => c.seen.entries.length > 100)
  await c.stop()
  const text = readFileSync(state, 'utf8')
  const saved = await readState(state)
  const live = join(root, 'journal')
  const original = readFileSync(live)
  const changed = Buffer.from(original)
  const at = (saved?.offset ?? 1) - 2
  changed[at] = (changed[at] as number) ^ 0x01
  writeFileSync(live, changed)
  let err = await failure(new RotatingJournalSource({ root, state }))
  t.equal(err.code, 'ERR_STATE_MISMATCH', 'content changed')
  t.match(err.message, /are not the ones saved/)
  t.equal(readFileSync(state, 'utf8'), text)
  writeFileSync(live, original.subarray(0, (saved?.offset ?? 1) - 1))
  err = await failure(new RotatingJournalSource({ root, state }))
  t.equal(err.code, 'ERR_STATE_MISMATCH', 'offset past the end')
  t.match(err.message, /ends before offset/)
  t.equal(readFileSync(state, 'utf8'), text)
})

t.test('corrupt state: ERR_STATE_CORRUPT, never replaced', async (t) => {
  const { root } = await server(t, 16, [3])
  const state = join(root, 'logdaemon.state')
  writeFileSync(state, '{"format":"logdaemon-state"')
  const err = await failure(new RotatingJournalSource({ root, state, from: 3 }))
  t.equal(err.code, 'ERR_STATE_CORRUPT')
  t.equal(readFileSync(state, 'utf8'), '{"format":"logdaemon-state"')
})

t.test('a state write that fails stops the stream with ERR_STATE_WRITE', async (t) => {
  const { root, sim } = await server(t, 17, [3])
  const dir = join(root, 'state-dir')
  mkdirSync(join(dir, 'sub'), { recursive: true })
  const state = join(dir, 'sub', 'state')
  const source = new RotatingJournalSource({ root, from: 3, state, saveIntervalMs: 0, pollMs: 50 })
  const c = consume(source)
  await until(() => c.seen.caughtUp(sim))
  // Root can write anywhere, but not under a regular file. Retried: the save of the last entries may still be writing
  // its temporary file there (ENOTEMPTY, seen once).
  rmSync(join(dir, 'sub'), { recursive: true, maxRetries: 20, retryDelay: 10 })
  writeFileSync(join(dir, 'sub'), 'now a file')
  for (let i = 0; i < 5; i++) await sim.appendTransaction()
  await c.done
  t.equal((c.error() as { code?: string } | null)?.code, 'ERR_STATE_WRITE')
  await t.rejects(source.flushState(), { code: 'ERR_STATE_WRITE' })
})

t.test('flushState makes the newest committed point durable; quiet events; status', async (t) => {
  const { root, sim } = await server(t, 18, [3])
  const state = join(root, 'logdaemon.state')
  const source = new RotatingJournalSource({ root, from: 3, state, quietMs: 60, pollMs: 1000, saveIntervalMs: 60_000 })
  const quiet: boolean[] = []
  const saves: string[] = []
  source.on('quiet', (hadData) => quiet.push(hadData))
  source.on('state', (s) => saves.push(`${s.journal}/${s.offset}`))
  const c = consume(source)
  await until(() => quiet.length >= 3)
  t.same(quiet.slice(0, 3), [true, false, false], 'true after data, then false while quiet')
  // The save is written (and synced) after the quiet event: wait for it, not for a fixed time (saveIntervalMs is a minute).
  await until(() => saves.at(-1) === `3/${sim.journalBytes(3).length}`, 10_000, 'saved on quiet despite the long interval')
  t.pass('saved on quiet despite the long interval')
  await sim.appendTransaction()
  await until(() => c.seen.caughtUp(sim))
  await source.flushState()
  t.equal(saves.at(-1), `3/${sim.journalBytes(3).length}`, 'flushState saved the newest commit')
  const st = source.status
  t.same([st.committed, st.saved, st.position], Array(3).fill({ journal: 3, offset: sim.journalBytes(3).length }))
  t.ok(st.lastDataAt instanceof Date)
  t.equal(st.entries, c.seen.entries.length)
  await c.stop()
})

t.test('consistentOnly: false saves the end of the committed entry, whatever it is', async (t) => {
  const { root } = await server(t, 19, [3])
  const state = join(root, 'logdaemon.state')
  const source = new RotatingJournalSource({ root, from: 3, state, consistentOnly: false })
  let n = 0
  let target: { journal: number | null; end: number } | null = null
  for await (const e of source) {
    if (!e.consistent && ++n === 50) {
      source.commit(e)
      target = e.position
      break
    }
  }
  await closed(source)
  const s = await readState(state)
  t.same([s?.journal, s?.offset], [target?.journal, target?.end])
})

t.test('commit accepts entries, entry positions and N/offset positions; older commits are ignored', async (t) => {
  const { root } = await server(t, 20, [3])
  const state = join(root, 'logdaemon.state')
  const source = new RotatingJournalSource({ root, from: 3, state })
  const points: number[] = []
  for await (const e of source) {
    if (e.consistent) points.push(e.position.end)
    if (points.length === 3) break
  }
  await closed(source)
  const s0 = await readState(state)
  t.same([s0?.offset], [0], 'nothing committed: the start stands')
  const b = new RotatingJournalSource({ root, state })
  const seen: number[] = []
  for await (const e of b) {
    if (e.consistent) seen.push(e.position.end)
    if (seen.length === 1) b.commit(e.position)
    if (seen.length === 2) b.commit({ journal: 3, offset: (seen[1] as number) + 1 })
    if (seen.length === 3) {
      b.commit({ journal: 3, offset: 5 })
      break
    }
  }
  await closed(b)
  t.same((await readState(state))?.offset, seen[1], 'the point at or before the newest commit')
  t.same(b.status.committed, { journal: 3, offset: (seen[1] as number) + 1 })
})

t.test('a garbled last record of a rotated journal: ERR_JOURNAL_INCOMPLETE after the records before it, or skipped', async (t) => {
  const root = t.testdir()
  const sim = new SimulatedP4d({ root, seed: 21, startJournal: 3 })
  await sim.appendTransaction()
  await sim.appendBytes(Buffer.from('@pv@ 1 @db.rev@ @//depot/crash'))
  await sim.rotate('rename')
  await sim.appendTransaction()
  await sim.close()
  const strict = consume(new RotatingJournalSource({ root, from: 3, pollMs: 50 }))
  await strict.done
  t.equal((strict.error() as { code?: string } | null)?.code, 'ERR_JOURNAL_INCOMPLETE')
  t.ok(strict.seen.entries.length > 0 && strict.seen.entries.every((e) => e.position.journal === 3), 'the records before it came first')
  const skips: SourceSkipReport[] = []
  const lenient = new RotatingJournalSource({ root, from: 3, skipMalformed: true, pollMs: 50 })
  lenient.on('skip', (r) => skips.push(r))
  const c = consume(lenient)
  await until(() => c.seen.entries.some((e) => e.position.journal === 4) && c.seen.journal(4).length === sim.journalBytes(4).length)
  await c.stop()
  t.equal(skips.length, 1)
  t.match(skips[0], { journal: 3, code: 'ERR_JOURNAL_MALFORMED', reason: /ends inside a record/ })
})

t.test('destroy: idempotent, a waiting for-await ends, and so does an abort signal', async (t) => {
  const { root } = await server(t, 22, [3])
  // The poll would come after the largest timer Node has: the loop ending at all shows destroy() released the wait.
  const source = new RotatingJournalSource({ root, from: 'end', pollMs: 2 ** 31 - 1 })
  const c = consume(source)
  await source.open()
  await sleep(30)
  source.destroy()
  source.destroy()
  await c.done
  t.equal(c.error(), null, 'ended without an error, at once, not at the next poll')
  const ac = new AbortController()
  const s2 = new RotatingJournalSource({ root, from: 'end', signal: ac.signal })
  const c2 = consume(s2)
  await s2.open()
  ac.abort()
  await c2.done
  t.equal(c2.error(), null)
  t.ok(s2.destroyed)
  const pre = new AbortController()
  pre.abort()
  const s3 = new RotatingJournalSource({ root, from: 'end', signal: pre.signal })
  await consume(s3).done
  t.ok(s3.destroyed, 'an aborted signal ends it at once')
})

t.test('backpressure: a consumer that stops stops the reading', async (t) => {
  const { root, sim } = await server(t, 23, [3])
  for (let i = 0; i < 300; i++) await sim.appendTransaction()
  const source = new RotatingJournalSource({ root, from: 3, highWaterMark: 4 })
  const c = consume(source)
  const release = c.hold()
  // Stopped: its buffer full (or, were the journal to fit in it, everything read), however long that takes.
  await until(() => source.readableLength >= 4 || (source.status.read?.offset ?? 0) >= sim.journalBytes(3).length)
  const { read, position } = source.status
  t.ok(read && position, 'reading started')
  // A for-await reads batches (a chunk's entries each): highWaterMark (4) batches buffered and the one in hand.
  const ahead = (read?.offset ?? 0) - (c.seen.entries.at(-1)?.position.end ?? 0)
  t.ok(ahead <= 5 * CHUNK_BYTES, `read ahead ${ahead} bytes: highWaterMark chunks and the one in hand`)
  await sleep(100)
  t.same(source.status.read, read, 'no more read while the consumer waits')
  release()
  await until(() => c.seen.caughtUp(sim))
  await c.stop()
  t.ok(sawEverything(sim, c.seen, 3).ok)
})

for (const second of ['rename', 'rename-gzip'] as const) {
  t.test(`held inside journal N while N is copied and truncated and N+1 is rotated by ${second}: the rest of N comes from its copy`, async (t) => {
    // A probe: the held descriptor's file became journal N+1 (truncated, written again, renamed); it was drained as N.
    const { root, sim } = await server(t, 31, [3])
    for (let i = 0; i < 400; i++) await sim.appendTransaction()
    const source = new RotatingJournalSource({ root, from: 3, highWaterMark: 2 })
    const c = consume(source)
    const release = c.hold()
    await until(() => source.readableLength >= 2)
    t.ok((source.status.read?.offset ?? 0) < sim.journalBytes(3).length, 'held inside journal 3')
    await (await sim.rotate('copy-truncate')).done
    for (let i = 0; i < 400; i++) await sim.appendTransaction()
    await (await sim.rotate(second)).done
    for (let i = 0; i < 20; i++) await sim.appendTransaction()
    release()
    await until(() => c.seen.caughtUp(sim) || c.error() !== null, 20_000)
    await c.stop()
    t.equal(c.error(), null)
    const all = sawEverything(sim, c.seen, 3)
    t.ok(all.ok, all.detail)
  })
}

for (const rotations of [
  ['copy-truncate', 'rename'],
  ['copy-truncate', 'rename-gzip'],
  ['copy-truncate', 'copy-truncate', 'rename'],
  ['copy-truncate', 'rename', 'copy-truncate'],
] as const) {
  t.test(`opened at offset 0 of journal N, nothing read, then ${rotations.join(', ')}: every journal under its own number`, async (t) => {
    // A probe: with no bytes before the offset to check, journal N+1's file was drained as journal N.
    const { root, sim } = await server(t, 33, [2])
    const source = new RotatingJournalSource({ root, from: 3, graceMs: 1000 })
    await sim.rotate('rename')
    await source.open() // the live journal 3 held at its offset 0
    for (let i = 0; i < 20; i++) await sim.appendTransaction()
    for (const [i, mode] of rotations.entries()) {
      await (await sim.rotate(mode)).done
      for (let k = 0; k < 10 + 10 * i; k++) await sim.appendTransaction()
    }
    const c = consume(source)
    await until(() => c.seen.caughtUp(sim) || c.error() !== null, 20_000)
    await c.stop()
    t.equal(c.error(), null)
    const all = sawEverything(sim, c.seen, 3)
    t.ok(all.ok, all.detail)
  })
}

t.test("held at offset 0 of journal N copied and truncated, the next journal begun with bytes like N's first: N comes from its copy", async (t) => {
  // A probe: a live head shorter than the copy and equal to its first bytes was taken for journal N still being written.
  const root = t.testdir()
  const rec = (j: number, k: number) => `@pv@ 0 @db.counters@ @j${j}-${String(k).padStart(5, '0')}@ @v@ \n@ex@ 1 1600000000\n`
  const n3 = Array.from({ length: 30 }, (_, k) => rec(3, k)).join('')
  writeFileSync(join(root, 'journal.2'), rec(2, 0))
  writeFileSync(join(root, 'journal'), '')
  const source = new RotatingJournalSource({ root, from: 3, graceMs: 300 })
  await source.open()
  writeFileSync(join(root, 'journal'), n3)
  // Copied and truncated; journal 4 begins with part of a record that reads like journal 3's first.
  writeFileSync(join(root, 'journal.3'), n3)
  writeFileSync(join(root, 'journal'), '@pv@ 0 @db.counters@ @j')
  const c = consume(source)
  await until(() => c.seen.journal(3).length >= n3.length || c.error() !== null, 10_000)
  writeFileSync(join(root, 'journal'), `@pv@ 0 @db.counters@ @j4-00000@ @v@ \n@ex@ 1 1600000000\n`)
  await until(() => c.seen.journal(4).length > 0 || c.error() !== null, 10_000)
  await c.stop()
  t.equal(c.error(), null)
  t.equal(c.seen.journal(3).toString(), n3, 'journal 3 whole, from its copy')
  t.match(c.seen.journal(4).toString(), /^@pv@ 0 @db\.counters@ @j4-00000@/, 'then journal 4')
})

t.test('the live journal truncated beside an archive of its number that is not a copy of it: ERR_STATE_MISMATCH, nothing read from it', async (t) => {
  const { root, sim } = await server(t, 32, [3])
  const source = new RotatingJournalSource({ root, from: 3, graceMs: 200 })
  const c = consume(source)
  await until(() => c.seen.caughtUp(sim))
  const read = c.seen.journal(3).length
  // Another file named journal.3, longer than what was read, and the live journal emptied.
  const other = Buffer.from(
    sim
      .journalBytes(3)
      .toString('latin1')
      .replace(/\d/g, (d) => String((Number(d) + 1) % 10)),
    'latin1',
  )
  writeFileSync(join(root, 'journal.3'), Buffer.concat([other, other]))
  writeFileSync(join(root, 'journal'), '')
  await until(() => c.error() !== null, 20_000)
  t.match(c.error(), { code: 'ERR_STATE_MISMATCH', message: /journal\.3 holds other bytes before that offset/ })
  t.equal(c.seen.journal(3).length, read, 'nothing more read as journal 3')
  await c.stop()
})

t.test('prefix layout and a live journal in another directory', async (t) => {
  const dir = t.testdir({ root: {}, logs: {}, arch: {} })
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 24, journal: join(dir, 'logs/journal'), prefix: join(dir, 'arch/srv'), startJournal: 1 })
  await sim.appendTransaction()
  await sim.rotate('rename')
  const source = new RotatingJournalSource({
    root: join(dir, 'root'),
    journal: join(dir, 'logs/journal'),
    prefix: join(dir, 'arch/srv'),
    from: 1,
    // No poll within the wait: only fs.watch can wake it (the wait is long for a loaded machine).
    pollMs: 60_000,
  })
  const c = consume(source)
  await sim.appendTransaction()
  await until(() => c.seen.caughtUp(sim), 20_000, 'fs.watch on the other directory')
  await sim.rotate('copy-truncate')
  await sim.appendTransaction()
  await until(() => c.seen.caughtUp(sim), 20_000)
  await c.stop()
  t.ok(sawEverything(sim, c.seen, 1).ok)
  await sim.close()
})

t.test('malformed bytes in the middle: the entries before them first, then ERR_JOURNAL_MALFORMED', async (t) => {
  const root = t.testdir()
  const good = Array.from({ length: 3000 }, (_, i) => `@ex@ ${i} 1611008050\n`).join('')
  writeFileSync(join(root, 'journal.1'), good + 'garbage\n@ex@ 1 2\n')
  writeFileSync(join(root, 'journal'), '')
  const source = new RotatingJournalSource({ root, from: 1, highWaterMark: 2 })
  const c = consume(source, { delayMs: 1, delayEvery: 500 })
  await c.done
  t.equal((c.error() as { code?: string } | null)?.code, 'ERR_JOURNAL_MALFORMED')
  t.equal(c.seen.entries.length, 3000, 'every good entry before it')
})

t.test('maxEntryBytes reaches the framer: a record over it is ERR_ENTRY_TOO_LARGE at its journal, offset and line, after the records before it', async (t) => {
  const root = t.testdir({
    'journal.1': `@pv@ 0 @db.desc@ 1 @small@ \n@pv@ 0 @db.desc@ 2 @${'x'.repeat(300)}@ \n@ex@ 1 1\n`,
    journal: '',
  })
  const source = new RotatingJournalSource({ root, from: 1, maxEntryBytes: 100, gzipRetry: { pollMs: 50, stableMs: 100 } })
  const c = consume(source)
  await c.done
  t.same(
    c.seen.entries.map((e) => e.position.offset),
    [0],
    'the record before it',
  )
  t.match(c.error(), { code: 'ERR_ENTRY_TOO_LARGE', journal: 1, offset: 28, line: 2 })
})
