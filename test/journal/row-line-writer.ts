import t from 'tap'
import fc from 'fast-check'
import { RowLineWriter } from '../../lib/journal/row-line-writer.js'
import { entryToRowLine } from '../../lib/journal/entry-row.js'
import { JournalFramer } from '../../lib/journal/framer.js'
import { JournalEntry, type FieldEncoding } from '../../lib/journal/entry.js'
import { encodeRecord, type FieldValue } from '../../lib/journal/encoder.js'
import { fixtureNames, fixturesSkip, readFixture } from '../helpers/fixtures.js'

/** Both writers over the same bytes: the byte writer must give exactly what entryToRowLine gives. */
function both(data: Buffer, encoding: FieldEncoding, journal: number | null = 5): [string, string] {
  const writer = new RowLineWriter('dir/journal.5', encoding)
  let expected = ''
  const framer = new JournalFramer()
  framer.push(data, (src, start, end, offset, line) => {
    writer.add(src, start, end, journal, offset, line)
    expected += entryToRowLine(new JournalEntry(src, { journal, offset, end: offset + end - start, line }, { encoding, start, end }), 'dir/journal.5')
  })
  return [writer.take()?.toString('utf8') ?? '', expected]
}

t.test('same lines as entryToRowLine on every fixture', { skip: fixturesSkip }, async (t) => {
  for (const name of fixtureNames()) {
    for (const encoding of ['utf8', 'latin1'] as const) {
      const [got, want] = both(readFixture(name), encoding)
      t.equal(got, want, `${name} (${encoding})`)
    }
  }
})

t.test('the row form: position, table, version, named typed row, key', async (t) => {
  const [got] = both(
    Buffer.from('@pv@ 9 @db.rev@ @//depot/a b@@x@ 3 0 1 12 1611008019 1611008000 D41D8CD98F00B204E9800998ECF8427E 0 0 0 @//depot/a@ @1.12@ 0 \n@ex@ 1 2\n'),
    'utf8',
  )
  const [row, ex] = got
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.same(Object.keys(row), ['file', 'journal', 'offset', 'end', 'line', 'op', 'table', 'version', 'row', 'key'])
  t.same(row.row.depotFile, '//depot/a b@x')
  t.same(row.row.action, 1)
  t.same(row.row.lbrRev, '1.12')
  t.same(row.key, { depotFile: '//depot/a b@x', depotRev: 3 })
  t.same(ex, { file: 'dir/journal.5', journal: 5, offset: 125, end: 134, line: 2, op: 'ex', version: null, table: null, fields: ['1', '2'] })
})

t.test('escapes, odd layouts, undocumented versions, big integers', async (t) => {
  const text = [
    '@pv@ 0 @db.desc@ 1 @say "hi"\\ \t\u0001\u007f\nnext@@line@ \n',
    '@pv@ 0 @db.desc@ 9007199254740993 @big@ \n',
    '@pv@ 0 @db.desc@ -0 @a@ \n',
    '@pv@ 0 @db.desc@ 007 @a@ @extra@ 5 \n',
    '@pv@ 0 @db.desc@ @12@ @quoted number@ \n',
    '@pv@ 0 @db.desc@ \n',
    '@pv@ 3 @db.rev@ @//depot/a@ 1 \n',
    '@pv@ 1 @db.nosuch@ @x@ 1\n',
    '@rv@ 1 @db.counters@ @change@ @12@\r\n',
    '@put@ 1 @db.counters@ @a@ @1@ \n',
    '@del@ 1 @db.counters@ @a@ @1@ \n',
    '@vv@ 1 @db.counters@ @a@ @1@ \n',
    '@dl@ 1 @db.counters@ @a@ @1@ \n',
    '@pv@ 09 @db.x@ @a@ \n',
    '@pv@ 1234567890 @db.x@ @a@ \n',
    '@pv@ 1 @db.counters@  @a@ \n',
    '@pv@ 1\n',
    '@pv@ 1 @db"x@ @a@ \n',
    '@ex@ 1  2\r\n',
    '@zz@ @@ @@@@ 3\n',
    '@nx@ 0 1 @v@ 1 2 3 4 5 @/root@ @journal@ @@ @@ @@ \n',
  ].join('')
  for (const encoding of ['utf8', 'latin1'] as const) {
    const [got, want] = both(Buffer.from(text, 'latin1'), encoding, null)
    t.equal(got, want, encoding)
    t.ok(got.split('\n').every((l) => l === '' || JSON.parse(l)))
  }
  const [got] = both(Buffer.from(text, 'latin1'), 'utf8')
  const lines = got
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.same(lines[1].row, { descKey: '9007199254740993', description: 'big' })
  t.same(lines[2].row.descKey, '-0')
  t.same(lines[3].row, { descKey: '007', description: 'a', field2: 'extra', field3: '5' })
  t.same(lines[4].row.descKey, 12)
  t.same(lines[6].key, null)
})

t.test('many fields and long names stay within the output buffer', async (t) => {
  const fields: FieldValue[] = Array.from({ length: 5000 }, (_, i) => i % 2)
  const data = Buffer.concat([
    encodeRecord({ op: 'pv', version: 9, table: 'db.rev', fields }),
    encodeRecord({ op: 'pv', version: 3, table: 'db.rev', fields: fields.slice(0, 300) }),
  ])
  const [got, want] = both(data, 'utf8')
  t.equal(got, want)
})

t.test('a table seen again after another keeps its own plan', async (t) => {
  const data = Buffer.from(
    '@pv@ 1 @db.counters@ @a@ @1@ \n@pv@ 0 @db.desc@ 4 @d@ \n@pv@ 1 @db.counters@ @b@ @2@ \n@pv@ 1 @db.countersx@ @b@ @2@ \n@pv@ 1 @db.counters@ @b@ @2@ @3@ \n',
  )
  const [got, want] = both(data, 'utf8')
  t.equal(got, want)
})

const value = fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a))
const number = fc.oneof(fc.bigInt({ min: -5n, max: 99999n }), fc.bigInt({ min: 2n ** 52n, max: 2n ** 64n }))
t.test('property: random records give the same lines', async (t) => {
  await fc.assert(
    fc.property(
      fc.array(
        fc.record({
          op: fc.constantFrom('pv', 'dv', 'rv', 'ex', 'nx', 'qq'),
          table: fc.constantFrom('db.rev', 'db.change', 'db.desc', 'db.counters', 'db.t'),
          version: fc.nat(10),
          fields: fc.array(fc.oneof(value, number), { maxLength: 16 }),
          trailingSpace: fc.boolean(),
          eol: fc.constantFrom('\n' as const, '\r\n' as const),
        }),
        { minLength: 1, maxLength: 8 },
      ),
      fc.constantFrom('utf8' as const, 'latin1' as const),
      (specs, encoding) => {
        const data = Buffer.concat(specs.map((s) => encodeRecord(s)))
        const [got, want] = both(data, encoding)
        return got === want
      },
    ),
    { numRuns: 500, seed: 9 },
  )
  t.pass('500 random journals agree')
})
