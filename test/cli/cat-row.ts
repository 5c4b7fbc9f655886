import t from 'tap'
import { main } from '../../lib/cli/cat.js'
import { parseWhere } from '../../lib/cli/where.js'
import { fakeIO } from '../helpers/stdio.js'
import { FIXTURE_DIR, FIXTURE_RECORDS, fixtureNames, fixturesSkip } from '../helpers/fixtures.js'

t.test('--format row: data records named and typed, the others as json', { skip: fixturesSkip }, async (t) => {
  for (const name of fixtureNames()) {
    const f = fakeIO()
    t.equal(await main(['--format', 'row', FIXTURE_DIR + name], f.io), 0)
    const lines = f.jsonLines()
    t.equal(lines.length, FIXTURE_RECORDS[name], `${name}: one object per record`)
    for (const l of lines) {
      if (l.table === null) t.ok(Array.isArray(l.fields), `${name}:${l.line} keeps the json form`)
      else t.same(Object.keys(l), ['file', 'journal', 'offset', 'end', 'line', 'op', 'table', 'version', 'row', 'key'])
    }
  }
  const f = fakeIO()
  await main(['--format', 'row', '--table', 'db.change', FIXTURE_DIR + 'checkpoint-2020-windows-unicode.ckp'], f.io)
  const first = JSON.parse(f.stdout().toString().split('\n')[0] as string)
  t.same(first.row, {
    change: 3,
    descKey: 3,
    client: 'the_user_client',
    user: 'the_user',
    date: first.row.date,
    status: 1,
    description: first.row.description,
    root: first.row.root,
    importer: '',
    identity: '',
    access: first.row.access,
    update: first.row.update,
    stream: '',
  })
  t.same(first.key, { change: 3 })
})

t.test('--where keeps data records whose column reads the value', { skip: fixturesSkip }, async (t) => {
  const f = fakeIO()
  t.equal(await main(['--format', 'row', '--where', 'change=2', '--table', 'db.rev*', FIXTURE_DIR + 'checkpoint-2020-windows-unicode.ckp'], f.io), 0)
  const lines = f.jsonLines()
  t.ok(lines.length > 0)
  for (const l of lines) t.equal(l.row.change, 2)
  const raw = fakeIO()
  t.equal(await main(['-w', 'owner=the_user', '-w', 'type=99', FIXTURE_DIR + 'checkpoint-2020-windows-unicode.ckp'], raw.io), 0)
  t.match(raw.stdout().toString(), /^@pv@ 7 @db\.domain@ @the_user_client@ 99 /, 'raw output filtered by row columns')
  t.equal(
    raw
      .stdout()
      .toString()
      .match(/^@pv@ /gm)?.length,
    1,
    'one record (its description spans lines)',
  )
})

t.test('--where: bad clauses are usage errors', async (t) => {
  t.same(parseWhere(['change=12', 'field3=', 'description=a=b']), [
    { column: 'change', value: '12' },
    { column: 'field3', value: '' },
    { column: 'description', value: 'a=b' },
  ])
  t.throws(() => parseWhere(['=1']), { code: 'ERR_USAGE' })
  t.throws(() => parseWhere(['nocolumnlikethis=1']), { code: 'ERR_USAGE' })
  const f = fakeIO()
  t.equal(await main(['--where', 'chang=1'], f.io), 2)
  t.match(f.stderr(), /^logdaemon-cat: --where: no documented table has a column "chang"/)
})

t.test('an incomplete record in row form', async (t) => {
  const f = fakeIO('@pv@ 1 @db.counters@ @a@ @1@ \n@pv@ 1 @db.counters@ @b@ @2')
  t.equal(await main(['--format', 'row', '--allow-incomplete'], f.io), 0)
  const lines = f.jsonLines()
  t.same(lines[1].row, { name: 'b', value: '2' })
  t.equal(lines[1].incomplete, true)
})

t.test('a version Number() would misread is printed as it is written, not as a rounded number', async (t) => {
  const input = '@pv@ 9007199254740993 @db.rev@ @//a@ 1 \n@pv@ x1 @db.counters@ @a@ @1@ \n@pv@ 1 @db.counters@ @b@ @2@ \n'
  for (const format of ['row', 'json']) {
    const f = fakeIO(input)
    t.equal(await main(['--format', format], f.io), 0)
    const lines = f.jsonLines()
    t.same(
      lines.slice(0, 2).map((l) => [l.version, l.table, l.fields]),
      [
        [null, null, ['9007199254740993', 'db.rev', '//a', '1']],
        [null, null, ['x1', 'db.counters', 'a', '1']],
      ],
      format,
    )
    t.equal(lines[2].version, 1)
  }
  const summary = fakeIO(input)
  t.equal(await main(['--summary', '--format', 'json'], summary.io), 0)
  const json = JSON.parse(summary.stdout().toString())
  t.same(json.tables, { 'db.counters': { records: 1, bytes: 30, versions: [1], positional: 0, short: 0 } }, 'no NaN, no rounded version')
  t.same(json.releases, { from: '2008.1', to: '2024.1' })
})
