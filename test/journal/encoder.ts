import t from 'tap'
import fc from 'fast-check'
import { encodeEntry, encodeRecord, quoteValue, type FieldValue } from '../../lib/journal/encoder.js'
import { fixtureNames, fixturesSkip, readFixture } from '../helpers/fixtures.js'
import { frame } from '../helpers/collect.js'

t.test('encode ∘ parse is the identity on every fixture record', { skip: fixturesSkip }, async (t) => {
  for (const name of fixtureNames()) {
    const entries = await frame([readFixture(name)])
    const bad = entries.filter((e) => !encodeEntry(e).equals(e.raw))
    t.equal(bad.length, 0, `${name}: ${entries.length} records re-encode exactly`)
  }
})

t.test('quoteValue doubles @', async (t) => {
  t.equal(quoteValue('a@b').toString(), '@a@@b@')
  t.equal(quoteValue('').toString(), '@@')
  t.equal(quoteValue(Buffer.from('x')).toString(), '@x@')
})

t.test('encodeRecord writes as p4d does', async (t) => {
  t.equal(encodeRecord({ op: 'pv', version: 1, table: 'db.counters', fields: ['journal', '12'] }).toString(), '@pv@ 1 @db.counters@ @journal@ @12@ \n')
  t.equal(encodeRecord({ op: 'ex', fields: [24632, 1611008050] }).toString(), '@ex@ 24632 1611008050\n')
  t.equal(
    encodeRecord({ op: 'pv', version: 9, table: 'db.rev', fields: [{ bare: 'D41D8CD98F00B204E9800998ECF8427E' }, -1n], eol: '\r\n' }).toString(),
    '@pv@ 9 @db.rev@ D41D8CD98F00B204E9800998ECF8427E -1 \r\n',
  )
})

// Random records: any bytes in quoted values (LF, CR, @, NUL, high bytes), bare integers.
const quoted = fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a))
const bare = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n })
const field: fc.Arbitrary<FieldValue> = fc.oneof(quoted, bare)
const record = fc.record({
  op: fc.constantFrom('pv', 'rv', 'dv', 'ex', 'mx', 'nx', 'zz'),
  version: fc.nat(20),
  table: fc.constantFrom('db.rev', 'db.desc', 'db.have'),
  fields: fc.array(field, { maxLength: 8 }),
  trailingSpace: fc.boolean(),
  eol: fc.constantFrom('\n' as const, '\r\n' as const),
})

t.test('property: random records → encode → frame at random splits → same values', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 12 }), fc.array(fc.nat(), { maxLength: 6 }), async (specs, cuts) => {
      const bytes = Buffer.concat(specs.map((s) => encodeRecord(s)))
      const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
      const chunks: Buffer[] = []
      let prev = 0
      for (const p of points) {
        chunks.push(bytes.subarray(prev, p))
        prev = p
      }
      chunks.push(bytes.subarray(prev))
      const entries = await frame(chunks)
      if (entries.length !== specs.length) return false
      return entries.every((e, i) => {
        const spec = specs[i]!
        const data = ['pv', 'rv', 'dv'].includes(spec.op)
        const want = spec.fields.map((f) => (Buffer.isBuffer(f) ? f : Buffer.from(String(f))))
        return (
          e.op === spec.op &&
          e.eol === spec.eol &&
          (!data || (e.version === spec.version && e.table === spec.table)) &&
          e.fieldBytes.length === want.length &&
          e.fieldBytes.every((b, j) => b.equals(want[j]!)) &&
          encodeEntry(e).equals(e.raw)
        )
      })
    }),
    { numRuns: 300, seed: 42 },
  )
  t.pass('300 random journals round-trip')
})
