import t from 'tap'
import fc from 'fast-check'
import { JournalEntry, isDataOp } from '../../lib/journal/entry.js'
import { JournalFramer } from '../../lib/journal/framer.js'
import { fixtureNames, fixturesSkip, readFixture } from '../helpers/fixtures.js'

const pos = { journal: 3, offset: 100, end: 0, line: 7 }
const make = (text: string | Buffer, options = {}) => {
  const raw = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1')
  return new JournalEntry(raw, { ...pos, end: pos.offset + raw.length }, options)
}

t.test('data record', async (t) => {
  const e = make('@rv@ 3 @db.user@ @bob@ 12 @a@@b@ \n')
  t.equal(e.op, 'rv')
  t.equal(e.version, 3)
  t.equal(e.table, 'db.user')
  t.same(e.fields, ['bob', '12', 'a@b'])
  t.same(e.quoted, [true, false, true, true, false, true])
  t.equal(e.trailingSpace, true)
  t.equal(e.length, e.raw.length)
  t.same(e.lines, ['@rv@ 3 @db.user@ @bob@ 12 @a@@b@ '])
})

t.test('unknown and long ops are generic', async (t) => {
  const e = make('@put@ 1 @db.x@ @v@ \n')
  t.equal(e.op, 'put')
  t.equal(e.table, 'db.x')
  const u = make('@zq@ @a@ 1\n')
  t.equal(u.op, 'zq')
  t.same(u.fields, ['a', '1'])
  t.equal(u.table, null)
  t.equal(isDataOp('zq'), false)
})

t.test('a view into a bigger chunk', async (t) => {
  const chunk = Buffer.from('@ex@ 1 2\n@pv@ 1 @db.x@ @v@ \n@ex@ 3 4\n')
  const e = new JournalEntry(chunk, { journal: null, offset: 9, end: 28, line: 2 }, { start: 9, end: 28 })
  t.equal(e.raw.toString(), '@pv@ 1 @db.x@ @v@ \n')
  t.equal(e.op, 'pv')
  t.same(e.fields, ['v'])
})

t.test('encodings and bytes', async (t) => {
  const raw = Buffer.concat([Buffer.from('@pv@ 1 @db.user@ @caf'), Buffer.from([0xc3, 0xa9]), Buffer.from('@ @'), Buffer.from([0xe9]), Buffer.from('@ \n')])
  const e = make(raw)
  t.same(e.fields, ['caf\u00e9', '\ufffd'], 'utf8 by default; invalid bytes become U+FFFD')
  const l = e.withEncoding('latin1')
  t.same(l.fields, ['caf\u00c3\u00a9', '\u00e9'], 'latin1 maps each byte to one code unit')
  t.same(e.fieldBytes[1], Buffer.from([0xe9]), 'raw bytes are reachable')
  t.equal(l.position, e.position)
})

t.test('multi-line record and CRLF', async (t) => {
  const e = make('@pv@ 7 @db.desc@ 1 @one\r\ntwo@ \r\n')
  t.same(e.lines, ['@pv@ 7 @db.desc@ 1 @one\r', 'two@ '])
  t.equal(e.eol, '\r\n')
  t.same(e.fields, ['1', 'one\r\ntwo'])
})

t.test('row and key name a documented record', async (t) => {
  const e = make('@pv@ 6 @db.change@ 3 3 @ws@ @bob@ 1611008046 1 @Third change@ @//depot/path2/*@ @@ @@ 0 0 @@ \n')
  t.strictSame(e.row, {
    change: 3,
    descKey: 3,
    client: 'ws',
    user: 'bob',
    date: 1611008046,
    status: 1,
    description: 'Third change',
    root: '//depot/path2/*',
    importer: '',
    identity: '',
    access: 0,
    update: 0,
    stream: '',
  })
  t.same(
    Object.keys(e.row ?? {}),
    e.layout?.columns.map((c) => c.name),
  )
  t.strictSame(e.key, { change: 3 })
  t.equal(e.layout?.table, 'db.change')
  t.equal(e.row, e.row, 'made once')
})

t.test('row of an undocumented version is positional; non-data records have none', async (t) => {
  const e = make('@pv@ 3 @db.rev@ @//depot/a@ 1 \n')
  t.strictSame(e.row, { field0: '//depot/a', field1: '1' })
  t.equal(e.key, null)
  t.equal(e.layout, null)
  const ex = make('@ex@ 1 2\n')
  t.equal(ex.row, null)
  t.equal(ex.key, null)
  t.equal(ex.layout, null)
})

t.test('row decodes with the entry encoding', async (t) => {
  const raw = Buffer.concat([Buffer.from('@pv@ 1 @db.counters@ @caf'), Buffer.from([0xe9]), Buffer.from('@ @1@ \n')])
  t.equal(make(raw, { encoding: 'latin1' }).row?.name, 'café')
})

t.test('flags: incomplete, encoding, didRotate and consistent', async (t) => {
  const e = make('@ex@ 1 2\n')
  t.equal(e.incomplete, false)
  t.equal(e.encoding, 'utf8')
  t.equal(e.didRotate, false)
  t.equal(e.consistent, false)
  e.didRotate = true
  t.equal(e.didRotate, true)
  t.equal(e.consistent, false, 'one flag does not touch the other')
  e.consistent = true
  e.didRotate = false
  t.equal(e.didRotate, false)
  t.equal(e.consistent, true)
  const f = make('@ex@ 1', { incomplete: true, encoding: 'latin1' })
  t.equal(f.incomplete, true)
  t.equal(f.encoding, 'latin1')
  f.didRotate = true
  f.consistent = true
  const g = f.withEncoding('utf8')
  t.same([g.incomplete, g.encoding, g.didRotate, g.consistent], [true, 'utf8', true, true], 'withEncoding keeps the flags')
  const h = new JournalEntry(Buffer.from('@ex@ 1\n'), { journal: null, offset: 0, end: 7, line: 1 })
  t.same([h.incomplete, h.encoding, h.length, h.op], [false, 'utf8', 7, 'ex'], 'no options: the defaults')
})

t.test('fields, table and version agree with values, read in any order', async (t) => {
  const text = '@pv@ 3 @db.user@ @bob@ 12 @a@@b@ \n'
  const firstValues = make(text)
  const values = firstValues.values
  t.same(firstValues.fields, values.slice(3))
  t.equal(firstValues.table, values[2])
  t.equal(firstValues.version, 3)
  const firstFields = make(text)
  t.same(firstFields.fields, ['bob', '12', 'a@b'])
  t.equal(firstFields.fields, firstFields.fields, 'the same array each time')
  t.same(firstFields.values, values)
  const other = make('@ex@ 1 2\n')
  t.same(other.fields, ['1', '2'])
  t.equal(other.table, null)
  t.equal(other.version, null)
  t.same(make('@ex@ 1 2\n').values, ['ex', '1', '2'])
})

t.test('a data op without a version or table, and values in latin1', async (t) => {
  const bare = make('@pv@\n')
  t.equal(bare.version, null)
  t.equal(bare.table, null)
  t.same(bare.fields, [])
  const latin1 = make(Buffer.from('@pv@ 1 @db.t@ @caf\xe9@ \n', 'latin1'), { encoding: 'latin1' })
  t.same(latin1.values, ['pv', '1', 'db.t', 'caf\xe9'])
  t.same(latin1.fields, ['caf\xe9'], 'fields cut from the values already parsed')
  t.equal(latin1.table, 'db.t')
})

t.test('a data op whose version is no integer as p4d writes it is generic, its version and table among the fields', async (t) => {
  // Number() read these as 9007199254740992, 1e20, 7 and NaN: a version the record does not carry.
  for (const version of ['9007199254740993', '99999999999999999999', '007', '-0', 'x1', '1e3', '@@']) {
    const e = make(`@pv@ ${version} @db.rev@ @//a@ 1 \n`)
    t.equal(e.version, null, version)
    t.equal(e.table, null, version)
    t.same(e.fields, [version === '@@' ? '' : version, 'db.rev', '//a', '1'], `${version}: nothing dropped`)
    t.equal(e.row, null)
    t.same(e.fieldBytes.map(String), e.fields)
  }
  for (const [version, number] of [
    ['9', 9],
    ['@9@', 9],
    ['-1', -1],
    ['9007199254740991', 9007199254740991],
  ] as const) {
    const e = make(`@pv@ ${version} @db.rev@ @//a@ 1 \n`)
    t.equal(e.version, number, version)
    t.equal(e.table, 'db.rev', version)
    t.same(e.fields, ['//a', '1'])
  }
})

/** table, version and fieldCount read first (from the record's bytes, nothing split) and read after the fields (from the full split). */
function headsAgree(source: Buffer, start: number, end: number, encoding: 'utf8' | 'latin1'): boolean {
  const position = { journal: 1, offset: 0, end: end - start, line: 1 }
  const quick = new JournalEntry(source, position, { start, end, encoding })
  const table = quick.table
  const version = quick.version
  const count = quick.fieldCount
  const split = new JournalEntry(source, position, { start, end, encoding })
  const fields = split.fields.length
  return (
    Object.is(table, split.table) &&
    Object.is(version, split.version) &&
    count === fields &&
    split.fieldCount === fields &&
    quick.values.join('\0') === split.values.join('\0')
  )
}

t.test('table, version and fieldCount read before the fields are what the full split reads: fixtures, odd shapes, random records', async (t) => {
  let records = 0
  for (const name of fixtureNames()) {
    for (const encoding of ['utf8', 'latin1'] as const) {
      let agree = 0
      let all = 0
      new JournalFramer().push(readFixture(name), (src, start, end) => {
        all++
        if (headsAgree(src, start, end, encoding)) agree++
      })
      t.equal(agree, all, `${name} (${encoding})`)
      records += all
    }
  }
  t.ok(records > 0 || fixturesSkip, 'fixture records read')
  const odd = [
    '@pv@ 3 @db.user@ @bob@\n',
    '@pv@ 3 @db.us@@er@ 1 \n',
    '@pv@ 3 @@ 1 \n',
    '@pv@ 3 @@@x@ 1 \n',
    '@pv@ 3 @db.x@@@@ 1 \n',
    '@pv@ 3 @db.x@\r\n',
    '@pv@ 3 @db.x@\rjunk\n',
    '@pv@  3 @db.x@ \n',
    '@pv@ 3  @db.x@ \n',
    '@pv@ 3 db.x 1 \n',
    '@pv@ 3 @db.x@x \n',
    '@pv@ 007 @db.x@ \n',
    '@pv@ 123456789012345678901234 @db.x@ \n',
    '@pv@ 3\n',
    '@pv@ 3 @db.x',
    '@pv@ 3 @db.x@',
    '@pv@ @db.x@ 3 \n',
    '@pv@ 3 @d\nb@ 1 \n',
    '@pv@ 3 @t\u00e9\u00ff@ 1 \n',
    '@dv@ 0 @db.y@ @k@ \n',
    '@ex@ 1 2\n',
  ]
  for (const text of odd) {
    for (const encoding of ['utf8', 'latin1'] as const) {
      const bytes = Buffer.from(text, 'latin1')
      t.ok(headsAgree(bytes, 0, bytes.length, encoding), `${JSON.stringify(text)} alone (${encoding})`)
      // In a chunk, followed by bytes that would close a value if a search ran past the record's end.
      const chunk = Buffer.concat([Buffer.from('@ex@ 1 2\n'), bytes, Buffer.from('@@ @x@ \n')])
      t.ok(headsAgree(chunk, 9, 9 + bytes.length, encoding), `${JSON.stringify(text)} in a chunk (${encoding})`)
    }
  }
  const piece = fc.constantFrom('@', '@@', ' ', '\n', '\r', 'db.t', '3', '12', 'x', '\u00e9', '\u00ff')
  await fc.assert(
    fc.property(fc.constantFrom('pv', 'dv', 'rv', 'ex', 'zz'), fc.array(piece, { maxLength: 14 }), fc.constantFrom('utf8', 'latin1'), (op, parts, encoding) => {
      const bytes = Buffer.from(`@${op}@ ${parts.join('')}\n`, 'latin1')
      const chunk = Buffer.concat([bytes, Buffer.from(' @ @@x@ 3 \n')])
      return headsAgree(bytes, 0, bytes.length, encoding) && headsAgree(chunk, 0, bytes.length, encoding)
    }),
    { numRuns: 5000, seed: 31 },
  )
})

// The op is a quoted value like any other: `@@` in it is a literal `@`, and
// its bytes decode with the entry's encoding. It was everything up to the
// second `@`, in latin1: `@pv@@x@` read as a pv data record of version 1 and
// table db.x (a --op pv filter kept it), `@@@x@` as the empty op.
t.test('an op with @@ or non-ASCII bytes reads as its first value', async (t) => {
  const at = make('@pv@@x@ 1 @db.x@ @a@ \n')
  t.equal(at.op, 'pv@x')
  t.equal(at.op, at.values[0])
  t.equal(at.version, null, 'not a data record')
  t.equal(at.table, null)
  t.same(at.fields, ['1', 'db.x', 'a'])
  t.equal(make('@@@x@ 1\n').op, '@x')
  t.equal(make('@@@@ 1\n').op, '@')
  t.equal(make('@@ 1\n').op, '')
  const utf8 = make(Buffer.from('@\u00e9@ 1\n'))
  t.equal(utf8.op, '\u00e9', 'decoded as utf8')
  t.equal(utf8.withEncoding('latin1').op, '\u00c3\u00a9', 'and as latin1 when asked')
  t.equal(make('@pv@ 1 @db.x@ @a@ \n').op, 'pv')
  t.equal(make('@ex@ 1 2\n').op, 'ex')
  t.equal(make('@put@ 1 @db.x@ \n').op, 'put')
})
