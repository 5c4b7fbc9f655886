import t from 'tap'
import fc from 'fast-check'
import { JsonLineWriter } from '../../lib/journal/json-line-writer.js'
import { entryToJsonLine } from '../../lib/journal/entry-json.js'
import { JournalFramer } from '../../lib/journal/framer.js'
import { JournalEntry, type FieldEncoding } from '../../lib/journal/entry.js'
import { encodeRecord } from '../../lib/journal/encoder.js'
import { fixtureNames, fixturesSkip, readFixture } from '../helpers/fixtures.js'

/** Both writers over the same bytes: the byte writer must give exactly what entryToJsonLine gives. */
function both(data: Buffer, encoding: FieldEncoding, journal: number | null = 5): [string, string] {
  const writer = new JsonLineWriter('dir/journal.5', encoding)
  let expected = ''
  const framer = new JournalFramer()
  framer.push(data, (src, start, end, offset, line) => {
    writer.add(src, start, end, journal, offset, line)
    expected += entryToJsonLine(new JournalEntry(src, { journal, offset, end: offset + end - start, line }, { encoding, start, end }), 'dir/journal.5')
  })
  return [writer.take()?.toString('utf8') ?? '', expected]
}

t.test('same lines as entryToJsonLine on every fixture', { skip: fixturesSkip }, async (t) => {
  for (const name of fixtureNames()) {
    for (const encoding of ['utf8', 'latin1'] as const) {
      const [got, want] = both(readFixture(name), encoding)
      t.equal(got, want, `${name} (${encoding})`)
    }
  }
})

t.test('escapes, empty values, odd layouts', async (t) => {
  const text = [
    '@pv@ 7 @db.desc@ 1 @say "hi"\\ \t\u0001\u007f\nnext@@line@ \n',
    '@ex@ 1  2\r\n',
    '@pv@ 09 @db.x@ @a@ \n',
    // Number() rounds a version past 2^53: the old byte writer printed the digits.
    '@pv@ 99999999999999999999 @db.x@ @a@ \n',
    '@pv@ 1\n',
    '@zz@ @@ @@@@ 3\n',
    '@nx@ 0 1 @v@ 1 2 3 4 5 @/root@ @journal@ @@ @@ @@ \n',
  ].join('')
  const [got, want] = both(Buffer.from(text, 'latin1'), 'utf8', null)
  t.equal(got, want)
  t.ok(got.split('\n').every((l) => l === '' || JSON.parse(l)))
})

const value = fc.uint8Array({ maxLength: 20 }).map((a) => Buffer.from(a))
t.test('property: random records give the same lines', async (t) => {
  await fc.assert(
    fc.property(
      fc.array(
        fc.record({
          op: fc.constantFrom('pv', 'dv', 'ex', 'nx', 'qq'),
          version: fc.nat(12),
          fields: fc.array(fc.oneof(value, fc.bigInt({ min: -5n, max: 99999n })), { maxLength: 6 }),
          trailingSpace: fc.boolean(),
          eol: fc.constantFrom('\n' as const, '\r\n' as const),
        }),
        { minLength: 1, maxLength: 8 },
      ),
      fc.constantFrom('utf8' as const, 'latin1' as const),
      (specs, encoding) => {
        const data = Buffer.concat(specs.map((s) => encodeRecord({ ...s, table: 'db.t' })))
        const [got, want] = both(data, encoding)
        return got === want
      },
    ),
    { numRuns: 400, seed: 7 },
  )
  t.pass('400 random journals agree')
})

/** Writes each record of `records` (whole records, any bytes) with both writers, one add() each, no framing. */
function bothRaw(records: readonly Buffer[], encoding: FieldEncoding, journals: readonly (number | null)[] = [5]): [string, string] {
  const writer = new JsonLineWriter('dir/journal.5', encoding)
  let expected = ''
  let offset = 0
  records.forEach((rec, n) => {
    // Inside a larger buffer, so reads past the record's end would show.
    const src = Buffer.concat([Buffer.from('@x@ '), rec, Buffer.from('@@@ \n')])
    const journal = journals[n % journals.length] ?? null
    writer.add(src, 4, 4 + rec.length, journal, offset, n + 1)
    expected += entryToJsonLine(
      new JournalEntry(src, { journal, offset, end: offset + rec.length, line: n + 1 }, { encoding, start: 4, end: 4 + rec.length }),
      'dir/journal.5',
    )
    offset += rec.length
  })
  return [writer.take()?.toString('utf8') ?? '', expected]
}

/** Bytes that matter to the writer, mixed with plain ones: every special at every offset of a 4-byte word. */
const hostileByte = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(0x61, 0x30, 0x39, 0x2d) },
  { weight: 2, arbitrary: fc.constantFrom(0x40, 0x20, 0x22, 0x5c, 0x0a, 0x0d, 0x00, 0x1f, 0x7f) },
  { weight: 2, arbitrary: fc.integer({ min: 0x80, max: 0xff }) },
)
const hostileValue = fc.array(hostileByte, { maxLength: 24 }).map((a) => Buffer.from(a))

t.test('property: hostile bytes in values, op, table and layout', async (t) => {
  await fc.assert(
    fc.property(
      fc.array(
        fc.record({
          op: fc.constantFrom('pv', 'dv', 'ex', 'nx', 'put', 'a"b', ''),
          table: fc.oneof(
            fc.constantFrom('db.t', 'db.have'),
            hostileValue.map((b) => b.toString('latin1')),
          ),
          version: fc.oneof(fc.nat(12), fc.constant(1234567890123456)),
          fields: fc.array(hostileValue, { maxLength: 8 }),
          trailingSpace: fc.boolean(),
          eol: fc.constantFrom('\n' as const, '\r\n' as const),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      fc.constantFrom('utf8' as const, 'latin1' as const),
      (specs, encoding) => {
        const [got, want] = bothRaw(
          specs.map((s) => encodeRecord(s)),
          encoding,
          [5, null, 2 ** 40],
        )
        return got === want
      },
    ),
    { numRuns: 600, seed: 11 },
  )
  t.pass('600 hostile journals agree')
})

t.test('property: any bytes at all, as one record', async (t) => {
  await fc.assert(
    fc.property(
      fc.array(
        fc.array(hostileByte, { maxLength: 60 }).map((a) => Buffer.from(a)),
        { minLength: 1, maxLength: 6 },
      ),
      fc.constantFrom('utf8' as const, 'latin1' as const),
      (records, encoding) => {
        // Most of them shaped like a record, so the byte writer goes past its first checks.
        const shaped = records.map((r, i) => (i % 2 === 0 ? Buffer.concat([Buffer.from('@pv@ 3 @db.have@ '), r, Buffer.from('\n')]) : r))
        const [got, want] = bothRaw(shaped, encoding)
        return got === want
      },
    ),
    { numRuns: 600, seed: 12 },
  )
  t.pass('600 random byte strings agree')
})

t.test('UTF-8: valid, overlong, surrogate, out of range and truncated sequences as Buffer#toString decodes them', async (t) => {
  const sequences = [
    'c3a9',
    'e282ac',
    'f09f9880',
    'efbfbd',
    'c280',
    'dfbf',
    'e0a080',
    'efbfbf',
    'f0908080',
    'f48fbfbf',
    'c0',
    'c1bf',
    'c3',
    'e282',
    'e0',
    'e080',
    'e08080',
    'eda080',
    'edbfbf',
    'f08f8080',
    'f4908080',
    'f5',
    'ff',
    '80',
    'bf',
    'f09f98',
    'f09f',
    'c3c3a9',
    'e2e282ac',
    'c341',
    'e28241',
    'f09f9841',
    'c3a9c3',
    'e282ace2',
  ]
  const records: Buffer[] = []
  for (const hex of sequences) {
    const seq = Buffer.from(hex, 'hex')
    for (const pad of ['', 'a', 'ab', 'abc']) {
      const p = Buffer.from(pad)
      records.push(Buffer.concat([Buffer.from('@pv@ 1 @db.t@ @'), p, seq, Buffer.from('@ '), p, seq, Buffer.from(' @'), seq, p, Buffer.from('@ \n')]))
    }
  }
  for (const encoding of ['utf8', 'latin1'] as const) {
    const [got, want] = bothRaw(records, encoding)
    t.equal(got, want, encoding)
  }
})

t.test('numbers: positions past 2^31 and 2^53, journal numbers that change', async (t) => {
  const writer = new JsonLineWriter(null, 'utf8')
  const rec = Buffer.from('@ex@ 1 2\n')
  const positions = [0, 9, 10, 99, 100, 2 ** 31 - 1, 2 ** 31, 2 ** 53 - 1, 2 ** 53 + 2]
  let want = ''
  for (const [n, offset] of positions.entries()) {
    const journal = n % 3 === 0 ? null : n
    writer.add(rec, 0, rec.length, journal, offset, offset)
    want += entryToJsonLine(new JournalEntry(rec, { journal, offset, end: offset + rec.length, line: offset }), null)
  }
  t.equal(writer.take()?.toString(), want)
  t.equal(writer.take(), null, 'nothing more to take')
})

t.test('a record larger than the output buffer grows it and keeps what was written', async (t) => {
  const huge = Buffer.concat([Buffer.from('@pv@ 0 @db.desc@ 1 @'), Buffer.alloc(400_000, 0x01), Buffer.from('é"x@ \n')])
  const [got, want] = bothRaw([Buffer.from('@ex@ 1 2\n'), huge, Buffer.from('@ex@ 3 4\n')], 'utf8')
  t.equal(got, want)
  t.ok(got.length > 2_000_000, 'each control byte escaped as \\u0001')
})
