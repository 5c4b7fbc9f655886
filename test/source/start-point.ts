import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tailFingerprint, type SavedState } from '../../lib/files/state-file.js'
import { JournalFramer } from '../../lib/journal/framer.js'
import { checkState, COUNTER_SEARCH_BYTES, countLines, endOfLastRecord, journalCounterLook, resolveStart } from '../../lib/source/start-point.js'

const saved = (journal: number, offset: number, tail: Buffer): SavedState => ({
  journal,
  offset,
  line: 3,
  tail: tailFingerprint(tail),
  file: { path: '/p4/journal', dev: 1, ino: 7, compressed: false },
  savedAt: '2026-01-01T00:00:00.000Z',
})

t.test('the saved state wins over from', async (t) => {
  const root = t.testdir({ 'journal.4': 'x', journal: '' })
  t.same(await resolveStart({ root }, saved(4, 1, Buffer.from('x')), 'end'), { journal: 4, offset: 1, line: 3, how: 'state' })
})

t.test('from N: journal N from its start; a gap after N fails', async (t) => {
  const root = t.testdir({ 'journal.4': 'x', 'journal.6': 'y', journal: '' })
  t.same(await resolveStart({ root }, null, 6), { journal: 6, offset: 0, line: 1, how: 'from' })
  await t.rejects(resolveStart({ root }, null, 4), { code: 'ERR_JOURNAL_GAP', details: { missing: [5], live: 7, restartFrom: 6 } })
  await t.rejects(resolveStart({ root }, null, 2), { code: 'ERR_JOURNAL_GAP', details: { missing: [2, 3, 5] } })
  await t.rejects(resolveStart({ root }, saved(5, 1, Buffer.from('x')), undefined), { code: 'ERR_JOURNAL_GAP', details: { missing: [5] } })
})

t.test("from 'end': the live journal's number, after its last whole record", async (t) => {
  const root = t.testdir({ 'journal.8': 'x', journal: '@ex@ 1 2\n@pv@ 1 @db.desc@ @two\nlines@ \n@pv@ 1 @db.x@ @half' })
  t.same(await resolveStart({ root }, null, 'end'), { journal: 9, offset: 39, line: 4, how: 'end' })
})

t.test("from 'end' with no archive: the journal counter in the live journal gives the number", async (t) => {
  const root = t.testdir({ journal: '@pv@ 1 @db.counters@ @journal@ @12@ \n@ex@ 1 2\n' })
  t.same(await resolveStart({ root }, null, 'end'), { journal: 12, offset: 46, line: 3, how: 'end' })
  const bare = t.testdir({ journal: '@ex@ 1 2\n' })
  t.same((await resolveStart({ root: bare }, null, 'end')).journal, 0, 'a server that never rotated: journal 0')
})

t.test('no state and no from: ERR_NO_START saying how to choose', async (t) => {
  await t.rejects(resolveStart({ root: t.testdir() }, null, undefined), { code: 'ERR_NO_START', message: /--from N.*--from end/ })
})

t.test("messages name the daemon's configuration keys with adviceAs 'config', logdaemon-cat's options by default", async (t) => {
  const root = t.testdir({ 'journal.4': 'x', 'journal.6': 'y', journal: '', empty: {} })
  const config = async (p: Promise<unknown>, code: string, words: RegExp): Promise<void> => {
    const err = (await p.catch((e: unknown) => e)) as Error & { code: string }
    t.equal(err.code, code)
    t.match(err.message, words)
    t.notMatch(err.message, /--from|--root|--prefix/, `${code}: no option the daemon does not take`)
  }
  await config(
    resolveStart({ root: join(root, 'empty') }, null, undefined, 'config'),
    'ERR_NO_START',
    /with `from: N` \(journal N from its start, .*\) or `from: "end"`/,
  )
  await t.rejects(resolveStart({ root }, null, 9), { code: 'ERR_JOURNAL_NUMBER', message: /^--from 9: .*Start with --from N .* or --from end$/ })
  await config(
    resolveStart({ root }, null, 9, 'config'),
    'ERR_JOURNAL_NUMBER',
    /^`from: 9`: the live journal is journal 7 .*Start with `from: N` .* or `from: "end"`$/,
  )
  await t.rejects(resolveStart({ root }, saved(9, 1, Buffer.from('x')), undefined), { message: /check --root\/--journal\/--prefix;.*--from N or --from end$/ })
  await config(
    resolveStart({ root }, saved(9, 1, Buffer.from('x')), undefined, 'config'),
    'ERR_STATE_MISMATCH',
    /check server\.root, server\.journal and server\.prefix in the configuration; .* start with `from: N` or `from: "end"`$/,
  )
  await config(resolveStart({ root }, null, 4, 'config'), 'ERR_JOURNAL_GAP', /then set `from: 6` in the configuration/)
  const opened = { before: Buffer.alloc(0), reached: false, available: 7 }
  t.throws(() => checkState(saved(4, 10, Buffer.from('x')), opened, null, '/s'), { message: /Check --root\/--journal\/--prefix;.*--from N or --from end$/ })
  await config(
    (async () => checkState(saved(4, 10, Buffer.from('x')), opened, null, '/s', 'config'))(),
    'ERR_STATE_MISMATCH',
    /Check server\.root, server\.journal and server\.prefix in the configuration; .* start with `from: N` or `from: "end"`$/,
  )
})

t.test('endOfLastRecord', async (t) => {
  const dir = t.testdir()
  const p = join(dir, 'j')
  t.same(await endOfLastRecord(p), { offset: 0, line: 1, journalCounter: null }, 'no file')
  writeFileSync(p, '')
  t.same(await endOfLastRecord(p), { offset: 0, line: 1, journalCounter: null }, 'empty')
  writeFileSync(p, '@ex@ 1 2\n@ex@ 2 2\n')
  t.same(await endOfLastRecord(p), { offset: 18, line: 3, journalCounter: null }, 'whole records')
  writeFileSync(p, '@pv@ 1 @db.desc@ @a\nb\nc')
  t.same(await endOfLastRecord(p), { offset: 0, line: 1, journalCounter: null }, 'a half-written first record with line ends in a value')
  writeFileSync(p, Buffer.concat([Buffer.alloc(70_000, 0x41), Buffer.from('\n@ex@ 1 2\n')]))
  t.same(await endOfLastRecord(p), { offset: 70_010, line: 3, journalCounter: null }, 'garbage is skipped over')
  writeFileSync(p, '@pv@ 1 @db.counters@ @journal@ @12@ \n@ex@ 1 2\n@rv@ 0 @db.counters@ @journal@ 13 \n@pv@ 1 @db.counters@ @change@ @99@ \n')
  t.equal((await endOfLastRecord(p)).journalCounter, 13, 'the last journal counter')
})

/** journalCounterLook's answer worked out the long way: the whole head framed at once, every record looked at. */
function counterLookedAtWhole(head: Buffer): { counter: number | null; whole: boolean } {
  let counter: number | null = null
  let whole = false
  const framer = new JournalFramer({ skipMalformed: true, skipOversize: true })
  framer.onSkip = () => {
    whole = true
  }
  framer.push(head.subarray(0, COUNTER_SEARCH_BYTES), (source, start, end) => {
    whole = true
    const m = /^@[pr]v@ \d+ @db\.counters@ @journal@ @?(\d+)@? \r?\n$/.exec(source.toString('latin1', start, end))
    if (m && end - start < 80) counter ??= Number(m[1])
  })
  return { counter, whole }
}

t.test('journalCounterLook stops framing early, with the answer framing the whole head gives', async (t) => {
  const counter = (n: number): string => `@pv@ 1 @db.counters@ @journal@ @${n}@ \n`
  // A counter record faked inside a quoted value, and a value with line ends.
  const fake = (n: number): string => `@pv@ 3 @db.desc@ @1@ @x\n${counter(n)}y@ \n`
  const filler = (bytes: number): string => `@pv@ 1 @db.desc@ @${'f'.repeat(Math.max(0, bytes - 21))}@ \n`
  const cases: [string, string][] = [
    ['a counter record first', counter(7) + filler(100)],
    ['no counter record', filler(100).repeat(50)],
    ['a fake, then the real one beyond the first 4 KiB', fake(9) + filler(5000) + counter(7)],
    ['only a fake, at the end of the head', filler(100).repeat(600) + fake(9)],
    ['a first record longer than a step, no counter', filler(10_000) + filler(50)],
    ['a half-written first record only', '@pv@ 1 @db.desc@ @a\nb'],
    ['a half-written counter record', filler(100) + '@pv@ 1 @db.counters@ @jour'],
    ['a quoted value opened before the counter record never closes', `@pv@ 1 @db.desc@ @${'z'.repeat(5000)}\n${counter(7)}`],
    ['two counter records: the first wins', counter(7) + filler(9000) + counter(8)],
    ['a counter record past the 64 KiB looked at', filler(1000).repeat(66) + counter(7)],
  ]
  // Each case again with every split of a counter record around the 4 KiB and 8 KiB step boundaries.
  for (const at of [4096, 8192]) {
    for (let k = 0; k <= 40; k += 5) {
      const pad = at - 38 + k
      cases.push([`a counter record across byte ${at} (+${k})`, `@pv@ 1 @db.desc@ @${'p'.repeat(pad - 21)}@ \n` + counter(11) + filler(100)])
      cases.push([`a fake across byte ${at} (+${k})`, `@pv@ 1 @db.desc@ @${'p'.repeat(pad - 60)}@ \n` + fake(12) + filler(100) + counter(11)])
    }
  }
  for (const [name, text] of cases) {
    const head = Buffer.from(text, 'latin1')
    t.same(journalCounterLook(head, 'journal'), counterLookedAtWhole(head), name)
  }
  t.same(journalCounterLook(Buffer.from(fake(9) + filler(5000) + counter(7)), 'j'), { counter: 7, whole: true }, 'the real one, not the fake')
  t.same(journalCounterLook(Buffer.from(filler(100).repeat(600) + fake(9)), 'j'), { counter: null, whole: true }, 'a fake alone is no counter')
})

t.test('checkState: reached, same bytes: fine', async (t) => {
  const before = Buffer.from('0123456789')
  checkState(saved(4, 10, before.subarray(4)), { before, reached: true, available: null }, null, '/s')
  t.pass()
})

t.test('checkState: the journal ends before the offset', async (t) => {
  const found = { path: '/p4/journal.4.gz', dev: 1, ino: 9, compressed: true }
  t.throws(() => checkState(saved(4, 10, Buffer.from('x')), { before: Buffer.alloc(0), reached: false, available: 7 }, found, '/s'), {
    code: 'ERR_STATE_MISMATCH',
    journal: 4,
    offset: 10,
    file: '/p4/journal.4.gz',
    message: /ends before offset 10 \(it has 7 bytes\).*move the state file away/,
  })
})

t.test('checkState: other bytes before the offset', async (t) => {
  t.throws(() => checkState(saved(4, 10, Buffer.from('abc')), { before: Buffer.from('xxxxxxxabd'), reached: true, available: null }, null, '/s'), {
    code: 'ERR_STATE_MISMATCH',
    message: /the 3 bytes before that offset in journal 4 .* are not the ones saved/,
  })
  t.throws(
    () => checkState(saved(4, 10, Buffer.from('abc')), { before: Buffer.from('bc'), reached: true, available: null }, null, '/s'),
    { code: 'ERR_STATE_MISMATCH' },
    'too few bytes',
  )
})

t.test('countLines', async (t) => {
  t.equal(countLines(Buffer.from('a\nb\nc')), 2)
  t.equal(countLines(Buffer.from('a\nb\nc\n'), 2, 4), 1)
  t.equal(countLines(Buffer.from('abc')), 0)
})
