import t from 'tap'
import fc from 'fast-check'
import { RowLineWriter } from '../../lib/journal/row-line-writer.js'
import { entryToRowLine } from '../../lib/journal/entry-row.js'
import { JournalFramer } from '../../lib/journal/framer.js'
import { JournalEntry, type FieldEncoding } from '../../lib/journal/entry.js'
import { encodeRecord, type FieldValue } from '../../lib/journal/encoder.js'
import { fixtureNames, fixturesSkip, readFixture } from '../helpers/fixtures.js'
import { layoutsOf, schemaTables, tableVersions } from '../../lib/schema/layout.js'

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

t.test('the key: copied with its names from the row when its columns lead, value by value when not', async (t) => {
  const text = [
    '@pv@ 9 @db.revsh@ @//depot/a b@ 3 1 2 7 1620557182 1620557180 @D41D8CD98F00B204E9800998ECF8427E@ 0 0 0 @//depot/a b@ @1.3@ 0 \n',
    '@pv@ 2 @db.fixrev@ @job000042@ 1234 1620557182 @closed@ @ws@ @zoe@ \n',
    '@pv@ 3 @db.have@ @//ws/a@ @//depot/a@ 3 0 1620557182 \n',
  ].join('')
  const [got, want] = both(Buffer.from(text, 'latin1'), 'utf8')
  t.equal(got, want)
  const lines = got
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
  t.same(lines[0].key, { depotFile: '//depot/a b', depotRev: 3, type: 1, action: 2, change: 7 })
  t.same(lines[1].key, { change: 1234, job: 'job000042' })
  t.same(lines[2].key, { clientFile: '//ws/a' })
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

t.test('every documented layout names its columns as distinct plain object keys (the byte writer writes names in field order)', async (t) => {
  let layouts = 0
  for (const table of schemaTables()) {
    for (const version of tableVersions(table)) {
      for (const layout of layoutsOf(table, version)) {
        layouts++
        const names = layout.columns.map((c) => c.name)
        const odd = names.filter((n) => n === '__proto__' || /^(0|[1-9][0-9]*)$/.test(n) || /^field[0-9]+$/.test(n))
        if (new Set(names).size !== names.length || odd.length > 0) t.fail(`${table} ${version}: ${names.join(',')}`)
      }
    }
  }
  t.ok(layouts > 300, `${layouts} layouts checked`)
})

/** Writes each record with both writers, one add() each, no framing, inside a larger buffer. */
function bothRaw(records: readonly Buffer[], encoding: FieldEncoding): [string, string] {
  const writer = new RowLineWriter('dir/journal.5', encoding)
  let expected = ''
  let offset = 0
  records.forEach((rec, n) => {
    const src = Buffer.concat([Buffer.from('@x@ '), rec, Buffer.from('@@@ \n')])
    const journal = n % 2 === 0 ? 5 : null
    writer.add(src, 4, 4 + rec.length, journal, offset, n + 1)
    expected += entryToRowLine(
      new JournalEntry(src, { journal, offset, end: offset + rec.length, line: n + 1 }, { encoding, start: 4, end: 4 + rec.length }),
      'dir/journal.5',
    )
    offset += rec.length
  })
  return [writer.take()?.toString('utf8') ?? '', expected]
}

const hostileByte = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0x61, 0x30, 0x31, 0x39, 0x2d) },
  { weight: 2, arbitrary: fc.constantFrom(0x40, 0x20, 0x22, 0x5c, 0x0a, 0x0d, 0x00, 0x7f) },
  { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
)
const hostileValue = fc.array(hostileByte, { maxLength: 20 }).map((a) => Buffer.from(a))
const integerText = fc.oneof(
  fc.constantFrom('0', '-0', '00', '007', '-', '9007199254740991', '9007199254740992', '-9007199254740991', '99999999999999999', '123456789012345678'),
  fc.bigInt({ min: -99999n, max: 99999n }).map(String),
)

t.test('property: hostile bytes and integer-looking text in every column', async (t) => {
  await fc.assert(
    fc.property(
      fc.array(
        fc.record({
          op: fc.constantFrom('pv', 'rv', 'dv', 'vv', 'ex', 'zz'),
          // db.fixrev's key (change, job) is not its first columns (job, change): the key is written value by value.
          table: fc.constantFrom('db.rev', 'db.have', 'db.integed', 'db.counters', 'db.desc', 'db.t', 'db.fixrev', 'db.revsh'),
          version: fc.constantFrom(0, 1, 2, 3, 7, 9, 10),
          fields: fc.array(
            fc.oneof(
              hostileValue,
              integerText.map((s) => ({ bare: s })),
              integerText,
            ),
            { maxLength: 16 },
          ),
          trailingSpace: fc.boolean(),
          eol: fc.constantFrom('\n' as const, '\r\n' as const),
        }),
        { minLength: 1, maxLength: 8 },
      ),
      fc.constantFrom('utf8' as const, 'latin1' as const),
      (specs, encoding) => {
        const [got, want] = bothRaw(
          specs.map((s) => encodeRecord(s)),
          encoding,
        )
        return got === want
      },
    ),
    { numRuns: 600, seed: 13 },
  )
  t.pass('600 hostile journals agree')
})

t.test('property: any bytes after a data record head', async (t) => {
  await fc.assert(
    fc.property(
      fc.array(
        fc.array(hostileByte, { maxLength: 60 }).map((a) => Buffer.from(a)),
        { minLength: 1, maxLength: 6 },
      ),
      fc.constantFrom('utf8' as const, 'latin1' as const),
      (records, encoding) => {
        const shaped = records.map((r, i) =>
          i % 3 === 2 ? r : Buffer.concat([Buffer.from(i % 3 === 0 ? '@pv@ 3 @db.have@ ' : '@pv@ 1 @db.counters@ '), r, Buffer.from('\n')]),
        )
        const [got, want] = bothRaw(shaped, encoding)
        return got === want
      },
    ),
    { numRuns: 600, seed: 14 },
  )
  t.pass('600 random byte strings agree')
})

t.test('a table whose rows change field count, and tables that take turns', async (t) => {
  const records = [
    '@pv@ 3 @db.have@ @a@ @b@ 1 0 5 \n',
    '@pv@ 3 @db.have@ @a@ @b@ 1 0 \n',
    '@pv@ 3 @db.have@ @a@ @b@ 1 0 5 9 \n',
    '@pv@ 9 @db.rev@ @//d@ 1 0 0 1 2 3 @D41D8CD98F00B204E9800998ECF8427E@ 4 0 0 @//d@ @1.1@ 0 \n',
    '@pv@ 3 @db.have@ @a@ @b@ 1 0 5 \n',
    '@pv@ 4 @db.have@ @a@ @b@ 1 0 5 \n',
    '@pv@ 3 @db.have@ @a@ @b@ 1 0 5 \n',
    // Table names the last plan's name is a prefix of, or that are a prefix of it, or hold `@@`.
    '@pv@ 3 @db.haves@ @a@ @b@ 1 0 5 \n',
    '@pv@ 3 @db.have@ @a@ @b@ 1 0 5 \n',
    '@pv@ 3 @db.hav@ @a@ @b@ 1 0 5 \n',
    '@pv@ 3 @db.have@ @a@ @b@ 1 0 5 \n',
    '@pv@ 3 @db.have@@x@ @a@ @b@ 1 0 5 \n',
    '@pv@ 3 @db.have@ @a@ @b@ 1 0 5 \n',
    '@pv@ 3 @db.have@ @a@ @b@ 1 0 5 \r\n',
    '@pv@ 3 @db.have@ @a@ @b@ 1 0\n',
    '@pv@ 3 @db.have@\n',
    '@pv@ 3 @db.have@ \n',
  ].map((r) => Buffer.from(r))
  const [got, want] = bothRaw(records, 'utf8')
  t.equal(got, want)
})

t.test('more plans than it keeps: the plans start again, same lines', async (t) => {
  const records: Buffer[] = []
  for (let k = 0; k < 4100; k++) records.push(Buffer.from(`@pv@ 1 @db.t${k}@ @a@ ${k} \n`))
  records.push(Buffer.from('@pv@ 1 @db.t4099@ @b@ 1 \n'), Buffer.from('@pv@ 3 @db.have@ @a@ @b@ 1 0 5 \n'), Buffer.from('@pv@ 1 @db.t0@ @c@ 2 \n'))
  const [got, want] = bothRaw(records, 'utf8')
  t.equal(got, want)
})

t.test('a record of more fields than a plan names is written by the byte writer, not named on an object', async (t) => {
  // The general path named every field on an object first: 4,000,000 fields took 32 s and 990 MB.
  const { RowLineWriter: Writer } = await t.mockImport<typeof import('../../lib/journal/row-line-writer.js')>('../../lib/journal/row-line-writer.js', {
    '../../lib/journal/entry-row.js': {
      entryToRowLine: () => {
        throw new Error('the general path')
      },
    },
  })
  const fields: FieldValue[] = Array.from({ length: 10_000 }, (_, i) => (i % 3 === 0 ? i : i % 3 === 1 ? `v${i}` : { bare: '-0' }))
  const data = Buffer.concat([
    encodeRecord({ op: 'pv', version: 9, table: 'db.rev', fields }),
    encodeRecord({ op: 'dv', version: 77, table: 'db.t', fields: fields.slice(0, 4097) }),
    encodeRecord({ op: 'pv', version: 9, table: 'db.rev', fields: fields.slice(0, 5000) }),
  ])
  const writer = new Writer('dir/journal.5', 'utf8')
  let want = ''
  new JournalFramer().push(data, (src, start, end, offset, line) => {
    writer.add(src, start, end, 5, offset, line)
    want += entryToRowLine(new JournalEntry(src, { journal: 5, offset, end: offset + end - start, line }, { start, end }), 'dir/journal.5')
  })
  const got = writer.take()?.toString('utf8') ?? ''
  t.equal(got, want)
  const first = JSON.parse(got.split('\n')[0] as string)
  t.equal(Object.keys(first.row).length, 10_000)
  t.equal(first.row.field9999, '9999', 'positional fields are text')
  t.same(first.key, { depotFile: '0', depotRev: 'v1' })
})
