import t from 'tap'
import { main } from '../../lib/cli/cat.js'
import { fakeIO } from '../helpers/stdio.js'
import { FIXTURE_DIR, FIXTURE_RECORDS, fixtureNames, fixturesSkip } from '../helpers/fixtures.js'
import { documentedReleases } from '../../lib/schema/releases.js'
import type { SummaryJson } from '../../lib/cli/summary.js'

async function summary(file: string): Promise<SummaryJson> {
  const f = fakeIO()
  t.equal(await main(['--summary', '--format', 'json', file], f.io), 0)
  t.equal(f.stderr(), '')
  return JSON.parse(f.stdout().toString()) as SummaryJson
}

/** Whether `release` lies in the range. */
function within(release: string, range: { from: string; to: string } | null): boolean {
  const all = documentedReleases()
  return range !== null && all.indexOf(range.from) <= all.indexOf(release) && all.indexOf(release) <= all.indexOf(range.to)
}

t.test('every fixture: counts add up, positional rows counted, a release range consistent with it', { skip: fixturesSkip }, async (t) => {
  const ranges: Record<string, SummaryJson['releases']> = {}
  const positional: Record<string, Record<string, number>> = {}
  const short: Record<string, number> = {}
  for (const name of fixtureNames()) {
    const s = await summary(FIXTURE_DIR + name)
    const ops = Object.values(s.ops).reduce((a, b) => a + b, 0)
    t.equal(ops, FIXTURE_RECORDS[name], `${name}: every record counted once among the ops`)
    const data = Object.values(s.tables).reduce((a, b) => a + b.records, 0)
    t.equal(data, ops - (s.ops.ex ?? 0) - (s.ops.nx ?? 0) - (s.ops.mx ?? 0), `${name}: data records`)
    t.equal(s.transactions, s.ops.ex ?? 0)
    ranges[name] = s.releases
    positional[name] = Object.fromEntries(
      Object.entries(s.tables)
        .filter(([, v]) => v.positional > 0)
        .map(([k, v]) => [k, v.positional]),
    )
    short[name] = Object.values(s.tables).reduce((a, b) => a + b.short, 0)
  }
  // The 2020 checkpoint (its notes say db version 50) declares db.stream 1, last documented in 2020.1.
  t.same(ranges['checkpoint-2020-windows-unicode.ckp'], { from: '2020.1', to: '2020.1' })
  t.ok(within('2020.1', ranges['checkpoint-2020-windows-unicode.ckp'] ?? null))
  // The live journal of a new 2014 server: db.working 10 (2013.3 on), db.change 2 (to 2015.1), db.user 6 (to 2014.1).
  t.same(ranges['journal-2014-win1252.jnl'], { from: '2013.3', to: '2014.1' })
  t.ok(within('2014.1', ranges['journal-2014-win1252.jnl'] ?? null))
  // The 2014 checkpoint and the 2013 dump have the same db version note (34, the 2014 journal says 37)
  // and declare db.working 9, which 2013.3 replaced by 10: written by a 2013.1 server (2013.2 has no document).
  t.same(ranges['checkpoint-2014.ckp'], { from: '2013.1', to: '2013.1' })
  t.same(ranges['dump-2013-jd.ckp'], { from: '2013.1', to: '2013.1' })
  // Written by a conversion tool: db.rev 3, db.domain 3, db.depot 0, db.view 0 predate every document.
  t.equal(ranges['journal-2014-submit.jnl'], null)
  t.same(positional, {
    'checkpoint-2014.ckp': {},
    'checkpoint-2020-windows-unicode.ckp': {},
    'dump-2013-jd.ckp': { 'db.domain': 2 },
    'journal-2014-submit.jnl': { 'db.depot': 1, 'db.domain': 2, 'db.rev': 3, 'db.view': 1 },
    'journal-2014-win1252.jnl': {},
  })
  t.same(
    Object.values(short),
    Object.values(short).map(() => 0),
    'no real record is shorter than its documented layout',
  )
})

t.test('records shorter than their documented layout are counted as short', async (t) => {
  // db.counters 1 is (name, value): the second record lost its value; db.nosuch has no layout at all (positional).
  const input = '@pv@ 1 @db.counters@ @change@ 12 \n@pv@ 1 @db.counters@ @job@ \n@pv@ 0 @db.nosuch@ @x@ \n'
  const f = fakeIO(input)
  t.equal(await main(['--summary', '--format', 'json'], f.io), 0)
  const json = JSON.parse(f.stdout().toString())
  t.same(json.tables['db.counters'], { records: 2, bytes: 62, versions: [1], positional: 0, short: 1 })
  t.same(json.tables['db.nosuch'], { records: 1, bytes: 24, versions: [0], positional: 1, short: 0 })
  const g = fakeIO(input)
  t.equal(await main(['--summary'], g.io), 0)
  const text = g.stdout().toString()
  t.match(text, /^table +records +bytes +versions +positional +short\n/)
  t.match(text, /\ndb\.counters +2 +62 +1 +1\n/)
  t.match(text, /\ntotal +3 +86 +1 +1\n/)
  t.match(text, /\nshort: 1 record\(s\) have fewer fields than their documented layout has columns/)
})

t.test('the table for people', { skip: fixturesSkip }, async (t) => {
  const f = fakeIO()
  t.equal(await main(['--summary', FIXTURE_DIR + 'dump-2013-jd.ckp'], f.io), 0)
  const text = f.stdout().toString()
  t.match(text, /^table +records +bytes +versions +positional +short\n/)
  t.match(text, /\ndb\.domain +2 +317 +5 +2\n/)
  t.match(text, /\ntransactions: 43\n/)
  t.match(text, /\npositional: 2 record\(s\)/)
  t.match(text, /written by a server release 2013\.1\n$/)
  const g = fakeIO()
  await main(['-s', FIXTURE_DIR + 'journal-2014-submit.jnl'], g.io)
  t.match(g.stdout().toString(), /written by a server release unknown \(db\.depot 0, db\.domain 3, db\.rev 3, db\.view 0: /)
  const h = fakeIO()
  await main(['-s', FIXTURE_DIR + 'journal-2014-win1252.jnl'], h.io)
  t.match(h.stdout().toString(), /written by a server release between 2013\.3 and 2014\.1\n$/)
})

t.test('summary of nothing, filters, stdin; usage errors', async (t) => {
  const empty = fakeIO('')
  t.equal(await main(['--summary', '--format', 'json'], empty.io), 0)
  t.same(JSON.parse(empty.stdout().toString()), { tables: {}, ops: {}, transactions: 0, releases: null })
  const text = fakeIO('@ex@ 1 2\n')
  t.equal(await main(['--summary', '-'], text.io), 0)
  t.match(text.stdout().toString(), /written by a server release unknown \(no records of documented tables\)/)
  const filtered = fakeIO('@pv@ 1 @db.counters@ @change@ @7@ \n@pv@ 0 @db.desc@ 1 @x@ \n@ex@ 1 2\n')
  t.equal(await main(['--summary', '--format', 'json', '--table', 'db.counters'], filtered.io), 0)
  t.same(Object.keys(JSON.parse(filtered.stdout().toString()).tables), ['db.counters'])
  for (const args of [
    ['--summary', '--format', 'row'],
    ['--summary', '--follow', '--root', '.'],
  ]) {
    const f = fakeIO()
    t.equal(await main(args, f.io), 2, args.join(' '))
    t.match(f.stderr(), /^logdaemon-cat: /)
  }
})

t.test('hostile input: endless table names are counted under (other), not kept one by one', async (t) => {
  const { JournalSummary, OTHER } = await import('../../lib/cli/summary.js')
  const { encodeRecord } = await import('../../lib/journal/encoder.js')
  const { JournalEntry } = await import('../../lib/journal/entry.js')
  const s = new JournalSummary()
  for (let i = 0; i < 5000; i++) {
    const raw = encodeRecord({ op: 'pv', version: i, table: `db.t${i}`, fields: ['x'] })
    s.add(new JournalEntry(raw, { journal: null, offset: 0, end: raw.length, line: 1 }))
  }
  const json = s.toJSON()
  t.equal(Object.keys(json.tables).length, 4097)
  t.equal(json.tables[OTHER]?.records, 904)
  t.equal(json.releases, null, 'no documented table: unknown')
})

t.test('several files: each table counts its newest version over all of them, whatever their order', async (t) => {
  const note = (version: string, table: string) => `@nx@ 4 1404918606 @34@ ${version} 0 0 0 0 @${table}@ @@ @@ @@ @@ \n`
  const dir = t.testdir({
    // A 2023.2 server's checkpoint declares db.rev 10; an older one's, 9.
    'new.ckp': note('10', 'db.rev') + '@ex@ 1 2\n',
    'old.ckp': note('9', 'db.rev') + '@ex@ 1 2\n',
    // A journal whose records are newer than the checkpoint it follows.
    'journal.8': '@pv@ 10 @db.rev@ @//a@ 1 \n',
    // Versions that are no integer as p4d writes it declare nothing.
    'odd.ckp': note('0x10', 'db.change') + note('1e1', 'db.change') + note('-1', 'db.change') + note('', 'db.change'),
  })
  const releases = async (...files: string[]) => {
    const f = fakeIO()
    t.equal(await main(['--summary', '--format', 'json', ...files.map((name) => `${dir}/${name}`)], f.io), 0)
    return JSON.parse(f.stdout().toString()).releases
  }
  const newest = { from: '2023.2', to: '2024.1' }
  t.same(await releases('new.ckp', 'old.ckp'), newest)
  t.same(await releases('old.ckp', 'new.ckp'), newest, 'the same in the other order (it said 2010.2 to 2023.1)')
  t.same(await releases('old.ckp', 'journal.8'), newest, 'the records of a newer version count beside the note')
  t.same(await releases('odd.ckp'), null, 'no table version declared (an empty one read as 0)')
})

t.test('a table or op named __proto__ is counted like any other', async (t) => {
  const f = fakeIO('@pv@ 1 @__proto__@ @a@ \n@__proto__@ 1\n@pv@ 1 @db.counters@ @a@ @1@ \n')
  t.equal(await main(['--summary', '--format', 'json'], f.io), 0)
  const json = JSON.parse(f.stdout().toString())
  t.same(Object.keys(json.tables), ['__proto__', 'db.counters'], 'it set the prototype of tables, and its record vanished')
  t.same(Object.entries(json.tables)[0], ['__proto__', { records: 1, bytes: 24, versions: [1], positional: 1, short: 0 }])
  t.same(Object.entries(json.ops), [
    ['pv', 2],
    ['__proto__', 1],
  ])
  const text = fakeIO('@pv@ 1 @__proto__@ @a@ \n')
  t.equal(await main(['--summary'], text.io), 0)
  t.match(text.stdout().toString(), /^__proto__ +1 +24 +1 +1$/m)
  t.match(text.stdout().toString(), /^total +1 +24/m)
})

t.test('the table for people quotes names with control characters', async (t) => {
  const f = fakeIO('@pv@ 1 @db.x\n\u001b[2Jfake@ @a@ \n@o\tp@ 1\n@pv@ 1 @db.counters@ @a@ @1@ \n')
  t.equal(await main(['--summary'], f.io), 0)
  const out = f.stdout().toString()
  t.notOk(out.includes('\u001b'), 'no escape reaches the terminal')
  t.match(out, /^"db\.x\\n\\u001b\[2Jfake" +1 +28 +1 +1$/m, 'one row, the name JSON-quoted')
  t.match(out, /^ops: pv 2, "o\\tp" 1$/m)
  t.match(out, /^db\.counters +1 +30 +1$/m, 'plain names stay plain')
})
