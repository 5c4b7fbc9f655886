import t from 'tap'
import fc from 'fast-check'
import { fieldRange, parseRecord, parseRecordGeneral, splitFields } from '../../lib/journal/parse-record.js'
import { encodeRecord } from '../../lib/journal/encoder.js'
import { fixtureNames, fixturesSkip, readFixture } from '../helpers/fixtures.js'
import { JournalFramer } from '../../lib/journal/framer.js'

/** Characters that shape records, and others. */
const hostileChar = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('a', '0', '9', '-', 'é', '\u{1F600}') },
  { weight: 3, arbitrary: fc.constantFrom('@', ' ', '\n', '\r', '"', '\\', '\u0000') },
)
const hostileText = fc.array(hostileChar, { maxLength: 40 }).map((a) => a.join(''))

t.test('the same values as the general parser on every fixture record', { skip: fixturesSkip }, async (t) => {
  for (const name of fixtureNames()) {
    for (const encoding of ['utf8', 'latin1'] as const) {
      let records = 0
      let same = 0
      new JournalFramer().push(readFixture(name), (src, start, end) => {
        const text = src.toString(encoding, start, end)
        records++
        if (JSON.stringify(parseRecord(text)) === JSON.stringify(parseRecordGeneral(text))) same++
      })
      t.equal(same, records, `${name} (${encoding})`)
    }
  }
})

t.test('property: well-formed records of hostile values parse as before', async () => {
  await fc.assert(
    fc.property(
      fc.record({
        op: fc.constantFrom('pv', 'ex', 'nx', 'zz'),
        table: fc.constantFrom('db.t', 'db.have'),
        version: fc.nat(12),
        fields: fc.array(
          fc.oneof(
            hostileText,
            fc.bigInt({ min: -5n, max: 99999n }),
            hostileText.map((s) => ({ bare: s.replace(/[@ \n]/g, '') })),
          ),
          { maxLength: 10 },
        ),
        trailingSpace: fc.boolean(),
        eol: fc.constantFrom('\n' as const, '\r\n' as const),
      }),
      (spec) => {
        const text = encodeRecord(spec).toString('utf8')
        return JSON.stringify(parseRecord(text)) === JSON.stringify(parseRecordGeneral(text))
      },
    ),
    { numRuns: 800, seed: 21 },
  )
})

t.test('property: any text at all parses as before', async (t) => {
  await fc.assert(
    fc.property(hostileText, fc.boolean(), (body, shaped) => {
      const text = shaped ? `@pv@ 3 @db.have@ ${body}\n` : body
      return JSON.stringify(parseRecord(text)) === JSON.stringify(parseRecordGeneral(text))
    }),
    { numRuns: 3000, seed: 22 },
  )
  t.pass('3000 random texts agree')
})

t.test('odd shapes', async (t) => {
  const texts = [
    '@ex@ 1  2\r\n',
    '@pv@ 1 @t@  @a@ \n',
    '@pv@ 1 @t@   @a@  \n',
    '@pv@ 1 @t@ 1@a@ \n',
    '@pv@ 1 @t@ @a@b \n',
    '@pv@ 1 @t@ @a@@@ \n',
    '@pv@ 1 @t@ @@@@ @@ \n',
    '@pv@ 1 @t@ @a\r@\n',
    '@ex@ 1\r\r\n',
    '@pv@ 1 @t@ @open\n',
    '@pv@ 1 @t@ @x@',
    'pv 1\n',
    '@\n',
    '@@\n',
    '\n',
    '',
  ]
  for (const text of texts) t.same(parseRecord(text), parseRecordGeneral(text), JSON.stringify(text))
})

/** splitFields must give parseRecord's values, cut at `skip`. */
function splitAgrees(text: string, skip: number): boolean {
  const { values } = parseRecord(text)
  const { head, fields } = splitFields(text, skip)
  return JSON.stringify(head) === JSON.stringify(values.slice(0, skip)) && JSON.stringify(fields) === JSON.stringify(values.slice(skip))
}

t.test("splitFields: parseRecord's values, cut in two", async (t) => {
  t.same(splitFields('@pv@ 3 @db.have@ @a@@b@ 12 \n', 3), { head: ['pv', '3', 'db.have'], fields: ['a@b', '12'] })
  t.same(splitFields('@ex@ 1 2\r\n', 1), { head: ['ex'], fields: ['1', '2'] })
  t.same(splitFields('@pv@ 3\n', 3), { head: ['pv', '3'], fields: [] })
  // Not the common shape: the general parser's answer.
  t.same(splitFields('@pv@ 1 @t@ 1@a@ \n', 3), { head: ['pv', '1', 't'], fields: ['', 'a'] })
  t.same(splitFields('@pv@ 1 @t@ @open\n', 3), { head: ['pv', '1', 't'], fields: ['open'] })
  for (const text of ['@ex@ 1  2\r\n', '@pv@ 1 @t@   @a@  \n', '@pv@ 1 @t@ @a\r@\n', '@@\n', '\n', '']) {
    for (const skip of [0, 1, 3]) t.ok(splitAgrees(text, skip), JSON.stringify([text, skip]))
  }
})

t.test('property: splitFields agrees with parseRecord on any text', async (t) => {
  await fc.assert(
    fc.property(hostileText, fc.boolean(), fc.constantFrom(1, 3), (body, shaped, skip) => splitAgrees(shaped ? `@pv@ 3 @db.have@ ${body}\n` : body, skip)),
    { numRuns: 3000, seed: 23 },
  )
  t.pass('3000 random texts agree')
})

t.test('property: fieldRange gives the fields splitFields gives, the first ones or those picked, and their count', async (t) => {
  await fc.assert(
    fc.property(
      hostileText,
      fc.boolean(),
      fc.constantFrom(1, 3),
      fc.nat(12),
      fc.uniqueArray(fc.nat(12), { maxLength: 5 }),
      (body, shaped, skip, keep, picks) => {
        const text = shaped ? `@pv@ 3 @db.have@ ${body}\n` : body
        const { fields } = splitFields(text, skip)
        const first = fieldRange(text, skip, keep)
        // Null only for a record not in the common shape, where splitFields parses it whole.
        if (first === null) return fieldRange(text, skip, 100, [1, 2]) === null
        const pick = picks.sort((a, b) => a - b)
        const picked = fieldRange(text, skip, (pick.at(-1) ?? 0) + 1, pick)
        return (
          first.count === fields.length &&
          JSON.stringify(first.fields) === JSON.stringify(fields.slice(0, keep)) &&
          JSON.stringify(first.head) === JSON.stringify(splitFields(text, skip).head) &&
          picked !== null &&
          JSON.stringify(picked.fields) === JSON.stringify(pick.filter((i) => i < fields.length).map((i) => fields[i]))
        )
      },
    ),
    { numRuns: 3000, seed: 29 },
  )
  t.pass('3000 random texts agree')
})

t.test('a large quoted value full of @@ (unescaped a few thousand pieces at a time) reads as the general parser reads it', async (t) => {
  for (const unit of ['@@x\n@@pv@@ 1 @@db.desc@@ 1 @@y@@ \n', 'é@@', '@@', 'text without escapes but long enough to pass the threshold, ']) {
    const value = unit.repeat(Math.ceil(200_000 / unit.length))
    const text = `@pv@ 7 @db.desc@ 12 @${value}@ @u@ \n`
    const fast = parseRecord(text)
    t.same(fast, parseRecordGeneral(text), `${JSON.stringify(unit)} × ${value.length / unit.length}`)
    t.equal(fast.values[4], value.replaceAll('@@', '@'))
    t.same(splitFields(text, 3).fields, fast.values.slice(3))
  }
})
