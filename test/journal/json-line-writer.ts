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
