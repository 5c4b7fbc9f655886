import t from 'tap'
import { ChangeCollector, type CollectorSkip, type SubmittedChange } from '../../../../lib/listeners/builtin/notify/change-collector.js'
import { textDecoder } from '../../../../lib/listeners/builtin/notify/text-decoder.js'
import type { JournalEntry } from '../../../../lib/journal/entry.js'
import { encodeRecord, type RecordSpec } from '../../../../lib/journal/encoder.js'
import { fixturesSkip, readFixture } from '../../../helpers/fixtures.js'
import { frame } from '../../../helpers/collect.js'

/** Feeds entries as the daemon would (only those the collector wants). */
function replay(collector: ChangeCollector, entries: readonly JournalEntry[]): SubmittedChange[] {
  const out: SubmittedChange[] = []
  for (const e of entries) if (ChangeCollector.wants(e)) out.push(...collector.add(e))
  return out
}

const records = (specs: RecordSpec[]) => frame([Buffer.concat(specs.map(encodeRecord))])

const change = (n: number, status: number, opts: { version?: number; op?: string; desc?: string; descKey?: number } = {}): RecordSpec => ({
  op: opts.op ?? 'pv',
  version: opts.version ?? 2,
  table: 'db.change',
  fields: [n, opts.descKey ?? n, 'ws', 'alice', 1411124783, status, opts.desc ?? `change ${n}\n`, ''],
})
const revcx = (n: number, file: string, rev = 1, action = 0, version = 0): RecordSpec => ({
  op: 'pv',
  version,
  table: 'db.revcx',
  fields: [n, file, rev, action],
})
const rev = (n: number, file: string, rev = 1, action = 1): RecordSpec => ({
  op: 'pv',
  version: 9,
  table: 'db.rev',
  fields: [file, rev, 1, action, n, 1411124783, 1411124758, { bare: '1C66FF639CEEE3F267D1091BDACABCB7' }, 15, 0, 0, file, '1.1', 1],
})
const desc = (key: number, text: string, op = 'pv'): RecordSpec => ({ op, version: 0, table: 'db.desc', fields: [key, text] })
const ex = (pid: number): RecordSpec => ({ op: 'ex', fields: [pid, 1411124783] })
const mx = (pid: number): RecordSpec => ({ op: 'mx', fields: [pid, 1411124783] })

const brief = (c: SubmittedChange) => ({
  change: c.change,
  user: c.user,
  client: c.client,
  description: c.description,
  files: c.files.map((f) => `${f.depotFile}#${f.revision} ${f.action}`),
})

t.test('journal-2014-submit.jnl (no markers) yields changes 101-103 when flushed', { skip: fixturesSkip }, async (t) => {
  const entries = await frame([readFixture('journal-2014-submit.jnl')])
  const c = new ChangeCollector()
  t.same(replay(c, entries), [], 'nothing before the flush: no marker ended a transaction')
  t.ok(c.hasUnmarked)
  const changes = c.flushUnmarked()
  t.same(changes.map(brief), [
    { change: 101, user: 'radek', client: 'svn-client', description: 'added\n', files: ['//import/main/file.txt#1 add'] },
    { change: 102, user: 'radek', client: 'svn-client', description: 'edited\n', files: ['//import/main/file.txt#2 edit'] },
    { change: 103, user: 'radek', client: 'svn-client', description: 'edited with content\n', files: ['//import/main/file.txt#3 edit'] },
  ])
  for (const ch of changes) {
    t.equal(ch.pid, null)
    t.equal(ch.descriptionComplete, true, 'db.desc seen')
    t.equal(ch.filesComplete, true)
    t.equal(ch.fileCount, 1)
  }
  t.equal(changes[0]?.date, 1410254076)
  t.same(c.flushUnmarked(), [], 'a second flush has nothing')
})

t.test('journal-2014-win1252.jnl: the pending change is not a submit, the submit is', { skip: fixturesSkip }, async (t) => {
  const entries = await frame([readFixture('journal-2014-win1252.jnl')])
  const skips: CollectorSkip[] = []
  const c = new ChangeCollector({ onSkip: (s) => skips.push(s) })
  const seen: Array<{ at: number; changes: SubmittedChange[] }> = []
  for (const e of entries) {
    if (!ChangeCollector.wants(e)) continue
    const got = c.add(e)
    if (got.length) seen.push({ at: e.position.line, changes: got })
  }
  t.equal(seen.length, 1, 'exactly one transaction submitted a change')
  const [only] = seen
  t.same(only?.changes.map(brief), [
    { change: 1, user: 'radek', client: 'radek_radek-Inspiron-1545_9120', description: 'added\n', files: ['//depot/file.txt#1 add'] },
  ])
  t.equal(only?.changes[0]?.pid, '9340')
  t.equal(only?.changes[0]?.descriptionComplete, true, 'the description came from the earlier db.desc row')
  t.same(skips, [], 'every row of the fixture has a known layout')
  t.same(c.flushUnmarked(), [], 'nothing unmarked at the end')
  t.equal(c.openTransactions, 0)
})

t.test('interleaved pids: pieces parked by @mx@ join their own transaction', async (t) => {
  const entries = await records([
    change(7, 1),
    revcx(7, '//depot/a'),
    mx(100),
    change(8, 1),
    revcx(8, '//depot/b'),
    ex(200),
    revcx(7, '//depot/c', 2, 1),
    ex(100),
  ])
  const c = new ChangeCollector()
  const out: Array<[string | null, string[]]> = []
  for (const e of entries) {
    for (const ch of c.add(e)) out.push([ch.pid, ch.files.map((f) => `${ch.change} ${f.depotFile}`)])
  }
  t.same(out, [
    ['200', ['8 //depot/b']],
    ['100', ['7 //depot/a', '7 //depot/c']],
  ])
})

t.test('a restart note abandons open transactions', async (t) => {
  const entries = await records([
    change(7, 1),
    revcx(7, '//depot/a'),
    mx(100),
    { op: 'nx', fields: [7, 1411124293, '37', 0, 0, 0, 0, 0, '1777', '.', '', '', ''] },
    ex(100),
  ])
  const skips: CollectorSkip[] = []
  const c = new ChangeCollector({ onSkip: (s) => skips.push(s) })
  t.same(replay(c, entries), [])
  t.equal(skips[0]?.reason, 'restart')
  t.equal(c.openTransactions, 0)
})

t.test('status 1 without files (p4 change -f on a submitted change) is not a submit', async (t) => {
  const entries = await records([change(5, 1), desc(5, 'edited afterwards\n'), ex(1)])
  t.same(replay(new ChangeCollector(), entries), [])
})

t.test('pending and shelved rows are not submits; a deleted change row is not either', async (t) => {
  const entries = await records([
    change(5, 0),
    revcx(5, '//depot/a'),
    change(6, 2),
    revcx(6, '//depot/b'),
    change(9, 1),
    revcx(9, '//depot/c'),
    change(9, 1, { op: 'dv' }),
    ex(1),
  ])
  t.same(replay(new ChangeCollector(), entries), [])
})

t.test('renumbered submit: pending 5 deleted, 7 submitted with the description of key 5', async (t) => {
  const entries = await records([
    change(5, 0, { desc: 'short' }),
    desc(5, 'the full\nmulti-line description\n'),
    ex(1),
    change(5, 0, { op: 'dv' }),
    change(7, 1, { descKey: 5, desc: 'short' }),
    revcx(7, '//depot/x', 3, 1),
    ex(2),
  ])
  const [only, ...rest] = replay(new ChangeCollector(), entries)
  t.same(rest, [])
  t.equal(only?.change, 7)
  t.equal(only?.description, 'the full\nmulti-line description\n')
  t.equal(only?.descriptionComplete, true)
})

t.test('without a db.desc row the db.change text is used and flagged', async (t) => {
  const entries = await records([change(7, 1, { desc: 'only the short one' }), revcx(7, '//depot/x'), ex(2)])
  const [only] = replay(new ChangeCollector(), entries)
  t.equal(only?.description, 'only the short one')
  t.equal(only?.descriptionComplete, false)
})

/** The collector's limits (DESC_CACHE_BYTES, DESC_CACHE_MAX_ONE), written out so a test of an older build fails on behaviour. */
const DESC_CACHE_BYTES = 16 * 1024 * 1024
const DESC_CACHE_MAX_ONE = 1024 * 1024

t.test('remembered descriptions are bounded by bytes: a dropped one is mailed with the db.change text, flagged', async (t) => {
  // Pending changes 1000.. with 1 MB descriptions (1,000,000 of 16 MiB: 16 fit), then submits of the first and the last.
  const big = (n: number) => `pending ${n} ${'y'.repeat(1_000_000)}`
  const pending: RecordSpec[] = []
  const n = 40
  for (let i = 0; i < n; i++) pending.push(desc(1000 + i, big(1000 + i)), change(1000 + i, 0), ex(10))
  const c = new ChangeCollector()
  t.same(replay(c, await records(pending)), [], 'pending changes are not submits')
  t.ok(c.cachedDescriptionBytes <= DESC_CACHE_BYTES, `${c.cachedDescriptionBytes} bytes kept`)
  t.ok(c.cachedDescriptionBytes >= DESC_CACHE_BYTES - DESC_CACHE_MAX_ONE, 'the budget is used, not emptied')
  const submits = await records([
    change(1000, 1, { desc: 'pending 1000 yyyy' }),
    revcx(1000, '//depot/a'),
    ex(11),
    change(1000 + n - 1, 1, { desc: 'short' }),
    revcx(1000 + n - 1, '//depot/b'),
    ex(12),
  ])
  const [oldest, newest] = replay(c, submits)
  t.equal(oldest?.description, 'pending 1000 yyyy', 'the oldest was dropped: the db.change copy')
  t.equal(oldest?.descriptionComplete, false)
  t.equal(newest?.description, big(1000 + n - 1), 'the newest is kept whole')
  t.equal(newest?.descriptionComplete, true)
})

t.test('a description over the one-description limit is not remembered, and pushes nothing out', async (t) => {
  const huge = 'z'.repeat(DESC_CACHE_MAX_ONE + 1)
  const c = new ChangeCollector()
  replay(c, await records([desc(1, 'small\n'), change(1, 0), ex(1), desc(2, huge), change(2, 0), ex(1)]))
  t.equal(c.cachedDescriptionBytes, 'small\n'.length)
  // Two bytes a character once one is beyond Latin-1.
  replay(c, await records([desc(3, '\u20ac'), change(3, 0), ex(1)]))
  t.equal(c.cachedDescriptionBytes, 'small\n'.length + 2)
  // 600,000 characters, 1,200,000 bytes in memory: over the limit too.
  replay(c, await records([desc(4, '\u20ac'.repeat(600_000)), change(4, 0), ex(1)]))
  t.equal(c.cachedDescriptionBytes, 'small\n'.length + 2)
  const [one, two] = replay(c, await records([change(1, 1), revcx(1, '//depot/a'), change(2, 1, { desc: 'zz' }), revcx(2, '//depot/b'), ex(2)]))
  t.equal(one?.description, 'small\n')
  t.equal(two?.description, 'zz')
  t.equal(two?.descriptionComplete, false)
})

t.test('db.rev and db.revcx rows of the same revision are one file; revcx names the action', async (t) => {
  const entries = await records([change(7, 1), rev(7, '//depot/x', 2, 1), revcx(7, '//depot/x', 2, 4), rev(7, '//depot/y', 1, 0), ex(2)])
  const [only] = replay(new ChangeCollector(), entries)
  t.same(only?.files, [
    { depotFile: '//depot/x', revision: 2, action: 'integrate' },
    { depotFile: '//depot/y', revision: 1, action: 'add' },
  ])
  t.equal(only?.fileCount, 2)
})

t.test('maxFiles lists the first files and counts the rest', async (t) => {
  const specs: RecordSpec[] = [change(7, 1)]
  for (let i = 0; i < 5; i++) specs.push(revcx(7, `//depot/f${i}`), rev(7, `//depot/f${i}`))
  specs.push(ex(1))
  const [only] = replay(new ChangeCollector({ maxFiles: 2 }), await records(specs))
  t.equal(only?.files.length, 2)
  t.equal(only?.fileCount, 5)
  t.equal(only?.filesComplete, false)
})

t.test('unknown table versions are reported and skipped, never thrown', async (t) => {
  const skips: CollectorSkip[] = []
  const c = new ChangeCollector({ onSkip: (s) => skips.push(s) })
  const entries = await records([change(7, 1, { version: 99 }), revcx(7, '//depot/a'), ex(1), change(8, 1), revcx(8, '//depot/b', 1, 0, 42), ex(2)])
  const out = replay(c, entries)
  t.same(
    skips.map((s) => [s.reason, s.table, s.version]),
    [
      ['unknown-version', 'db.change', 99],
      ['unknown-version', 'db.revcx', 42],
    ],
  )
  t.equal(out.length, 1, 'change 8 is still reported: its file rows were unreadable, not absent')
  t.equal(out[0]?.change, 8)
  t.equal(out[0]?.filesComplete, false)
  t.same(out[0]?.files, [])
})

t.test('malformed rows (too few fields, non-numeric numbers) are reported and skipped', async (t) => {
  const skips: CollectorSkip[] = []
  const c = new ChangeCollector({ onSkip: (s) => skips.push(s) })
  const entries = await records([
    { op: 'pv', version: 2, table: 'db.change', fields: [7, 7, 'ws'] },
    { op: 'pv', version: 0, table: 'db.revcx', fields: ['x', '//depot/a', 1, 0] },
    ex(1),
  ])
  t.same(replay(c, entries), [])
  t.same(
    skips.map((s) => s.reason),
    ['malformed', 'malformed'],
  )
  t.match(skips[1]?.detail, /not an integer/)
})

t.test('non-UTF-8 descriptions decode with the given decoder', async (t) => {
  // "café €" in Windows-1252.
  const cp1252 = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x80])
  const entries = await records([change(7, 1), { op: 'pv', version: 0, table: 'db.desc', fields: [7, cp1252] }, revcx(7, '//depot/a'), ex(1)])
  const [only] = replay(new ChangeCollector({ decode: textDecoder('windows-1252') }), entries)
  t.equal(only?.description, 'café €')
})

t.test('more than 1024 open transactions: the oldest is dropped and reported', async (t) => {
  const specs: RecordSpec[] = [change(1, 1), revcx(1, '//depot/a'), mx(1)]
  for (let pid = 2; pid <= 1025; pid++) specs.push(mx(pid))
  specs.push(ex(1))
  const skips: CollectorSkip[] = []
  const c = new ChangeCollector({ onSkip: (s) => skips.push(s) })
  t.same(replay(c, await records(specs)), [], 'pid 1 was dropped before its @ex@')
  t.same(
    skips.map((s) => s.reason),
    ['too-many-open'],
  )
  t.match(skips[0]?.detail, /pid 1,/)
  t.equal(c.openTransactions, 1024)
})

t.test('more than 10000 changes in one transaction: the rest are dropped, reported once', async (t) => {
  const specs: RecordSpec[] = []
  for (let n = 1; n <= 10_002; n++) specs.push(change(n, 1), revcx(n, `//depot/f${n}`))
  specs.push(ex(1))
  const skips: CollectorSkip[] = []
  const out = replay(new ChangeCollector({ onSkip: (s) => skips.push(s) }), await records(specs))
  t.equal(out.length, 10_000)
  t.equal(out.at(-1)?.change, 10_000)
  t.same(
    skips.map((s) => s.reason),
    ['too-many-changes'],
  )
  t.match(skips[0]?.detail, /change 10001 and later/)
})

t.test('pieces of one pid parked by several @mx@ markers all join it', async (t) => {
  const entries = await records([change(7, 1), mx(5), revcx(7, '//depot/a'), mx(5), desc(7, 'full text\n'), ex(5)])
  const [only] = replay(new ChangeCollector(), entries)
  t.equal(only?.description, 'full text\n')
  t.same(
    only?.files.map((f) => f.depotFile),
    ['//depot/a'],
  )
})

t.test('descriptions are remembered across transactions, 4096 at most, deletions forget', async (t) => {
  const specs: RecordSpec[] = [desc(1, 'one\n'), desc(2, 'two\n'), ex(1), desc(2, '', 'dv'), ex(1)]
  for (let k = 100; k < 100 + 4096; k++) specs.push(desc(k, `d${k}`))
  specs.push(ex(1))
  specs.push(change(1, 1), revcx(1, '//depot/a'), change(2, 1), revcx(2, '//depot/b'), change(100, 1), revcx(100, '//d/c'), ex(2))
  specs.push(change(4195, 1), revcx(4195, '//d/z'), ex(3))
  const out = replay(new ChangeCollector(), await records(specs))
  t.same(
    out.map((c) => [c.change, c.description, c.descriptionComplete]),
    [
      [1, 'change 1\n', false],
      [2, 'change 2\n', false],
      [100, 'd100', true],
      [4195, 'd4195', true],
    ],
    'key 1 was evicted by 4096 newer ones, key 2 was deleted',
  )
})

t.test('a restart note with nothing open and other notes change nothing', async (t) => {
  const skips: CollectorSkip[] = []
  const c = new ChangeCollector({ onSkip: (s) => skips.push(s) })
  const entries = await records([
    { op: 'nx', fields: [7, 0, '', 0, 0, 0, 0, 0, '', '', '', '', ''] },
    { op: 'nx', fields: [2, 0, '', 0, 0, 0, 0, 0, '', '', '', '', ''] },
    change(1, 1),
    revcx(1, '//d/a'),
    { op: 'vv', version: 0, table: 'db.revcx', fields: [1, '//d/b', 1, 0] },
    ex(1),
  ])
  const out = replay(c, entries)
  t.same(skips, [])
  t.same(
    out[0]?.files.map((f) => f.depotFile),
    ['//d/a'],
    'vv rows change nothing',
  )
})

t.test('action names as p4 describe gives them, from the schema', async (t) => {
  const { actionName } = await import('../../../../lib/listeners/builtin/notify/change-rows.js')
  t.same([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 42].map(actionName), [
    'add',
    'edit',
    'delete',
    'branch',
    'integrate',
    'import',
    'purge',
    'move/add',
    'move/delete',
    'archive',
    'action 42',
  ])
})

t.test('a restart note abandons the records no marker followed yet: a submit cut by a server crash is not announced at the next @ex@', async (t) => {
  const restart: RecordSpec = { op: 'nx', fields: [7, 1411124293, '37', 0, 0, 0, 0, 0, '1777', '.', '', '', ''] }
  const entries = await records([
    change(8, 1),
    revcx(8, '//depot/a'),
    ex(100),
    // p4d died while writing change 9's submit: no @ex@ (nor @mx@) for it, then the server starts again.
    desc(9, 'never committed\n'),
    change(9, 1),
    revcx(9, '//depot/b'),
    restart,
    // The first transaction after the restart, of another process.
    desc(10, 'pending\n'),
    change(10, 0),
    ex(300),
    change(11, 1),
    revcx(11, '//depot/c'),
    ex(301),
  ])
  const skips: CollectorSkip[] = []
  const c = new ChangeCollector({ onSkip: (s) => skips.push(s) })
  t.same(
    replay(c, entries).map((ch) => [ch.change, ch.pid]),
    [
      [8, '100'],
      [11, '301'],
    ],
    'change 9 is not taken into pid 300 transaction',
  )
  t.match(skips, [{ reason: 'restart', detail: /records of a transaction no marker ended/ }], 'the abandoned records are reported')
})

t.test('without markers (an import tool), a restart note leaves the records waiting for the quiet', async (t) => {
  const restart: RecordSpec = { op: 'nx', fields: [7, 1411124293, '37', 0, 0, 0, 0, 0, '1777', '.', '', '', ''] }
  const c = new ChangeCollector()
  t.same(replay(c, await records([change(9, 1), revcx(9, '//depot/b'), restart])), [])
  t.same(
    c.flushUnmarked().map((ch) => ch.change),
    [9],
  )
})
