import t from 'tap'
import { createEntryFilter } from '../../lib/journal/entry-filter.js'
import { entriesOf } from '../helpers/entries.js'

const entry = (table: string, op = 'pv') => entriesOf([{ op, version: 1, table, fields: ['x'] }]).entries[0]!

t.test('tables by * wildcard, ops with or without @; nothing to filter is null', async (t) => {
  t.equal(createEntryFilter({}), null)
  t.equal(createEntryFilter({ tables: [], ops: [] }), null)
  const f = createEntryFilter({ tables: ['db.rev*', 'db.change'], ops: ['@pv@', 'rv'] })!
  t.ok(f(entry('db.rev')))
  t.ok(f(entry('db.revsh')))
  t.ok(f(entry('db.change', 'rv')))
  t.notOk(f(entry('db.changex')))
  t.notOk(f(entry('db.have')))
  t.notOk(f(entry('db.rev', 'dv')))
  t.ok(createEntryFilter({ tables: ['db.(x)+[y]'] })!(entry('db.(x)+[y]')), 'every character but * is literal')
  t.notOk(createEntryFilter({ tables: ['db.(x)+[y]'] })!(entry('db.xx[y]')))
})

t.test('a pathological pattern against a long table name ends with the right answer (no ReDoS)', async (t) => {
  // A backtracking RegExp takes exponential-ish time here (over 30 s with 10 stars on a 200-byte name).
  const pattern = 'db.' + '*a'.repeat(40) + '*c'
  const f = createEntryFilter({ tables: [pattern] })!
  t.notOk(f(entry('db.' + 'a'.repeat(20_000))), 'no c at the end: no match')
  t.ok(f(entry('db.' + 'a'.repeat(20_000) + 'c')), 'with it: a match')
})

t.test('--where reads the columns it names without naming the whole row', async (t) => {
  const { JournalEntry } = await import('../../lib/journal/entry.js')
  const { encodeRecord } = await import('../../lib/journal/encoder.js')
  // A record of millions of fields made an object of millions of properties per record (2,000,000: 12 s, 380 MB).
  class NoRow extends JournalEntry {
    override get row(): never {
      throw new Error('the whole row was named')
    }
  }
  const make = (spec: Parameters<typeof encodeRecord>[0]) => {
    const raw = encodeRecord(spec)
    return new NoRow(raw, { journal: null, offset: 0, end: raw.length, line: 1 })
  }
  const wide = make({ op: 'pv', version: 1, table: 'db.counters', fields: ['change', '7', ...Array.from({ length: 5000 }, (_, i) => `x${i}`)] })
  const where = (...clauses: [string, string][]) => createEntryFilter({ where: clauses.map(([column, value]) => ({ column, value })) })!
  t.ok(where(['name', 'change'], ['value', '7'])(wide))
  t.ok(where(['field2', 'x0'], ['field5001', 'x4999'])(wide), 'positional fields past the layout')
  t.notOk(where(['field1', '7'])(wide), 'a named field has no positional name')
  t.notOk(where(['field5002', ''])(wide), 'past the last field')
  t.notOk(where(['field02', 'x0'])(wide), 'fieldN is written without leading zeros')
  t.notOk(where(['user', 'x'])(wide), 'a column of another table')
  const typed = make({ op: 'pv', version: 9, table: 'db.rev', fields: ['//a', 3, 1, 0, 7, { bare: '9007199254740993' }] })
  t.ok(where(['depotRev', '3'], ['change', '7'], ['date', '9007199254740993'])(typed), 'numbers compared as their text')
  t.notOk(where(['size', ''])(typed), 'a column the short record has no field for')
  t.notOk(where(['name', 'x'])(make({ op: 'ex', fields: ['1', '2'] })), 'not a data record')
  t.notOk(where(['field0', 'x'])(make({ op: 'pv', version: 1, table: 'db.nothing', fields: ['y'] })))
  t.ok(where(['field0', 'y'])(make({ op: 'pv', version: 1, table: 'db.nothing', fields: ['y'] })), 'an undocumented table: positional')
})

t.test('--where makes only the fields of the columns it names, in the pass that counts them', async (t) => {
  const { JournalEntry } = await import('../../lib/journal/entry.js')
  const { encodeRecord } = await import('../../lib/journal/encoder.js')
  // One record of 30 M fields made 30 M strings (~820 MB) for one --where; and a short record made all its fields
  // (and looked its layout up twice per clause) where one or two were read: the fields not named are only counted.
  const made: string[] = []
  class Counted extends JournalEntry {
    override get fields(): readonly string[] {
      throw new Error('every field was made')
    }
    override pickFields(sorted: readonly number[]): { values: (string | undefined)[]; count: number } {
      const got = super.pickFields(sorted)
      made.push(`[${sorted.join(', ')}] of ${got.count}`)
      return got
    }
  }
  const raw = encodeRecord({ op: 'pv', version: 1, table: 'db.counters', fields: ['change', '7', ...Array.from({ length: 100_000 }, (_, i) => `x${i}`)] })
  const wide = new Counted(raw, { journal: null, offset: 0, end: raw.length, line: 1 })
  const where = (...clauses: [string, string][]) => createEntryFilter({ where: clauses.map(([column, value]) => ({ column, value })) })!
  const named = where(['name', 'change'], ['value', '7'])
  t.ok(named(wide))
  t.same(made, ['[] of 100002', '[0, 1] of 100002'], 'the first record of a table version: counted, then the two fields')
  made.length = 0
  t.ok(named(wide))
  t.same(made, ['[0, 1] of 100002'], 'the next: one pass')
  made.length = 0
  t.ok(where(['field70001', 'x69999'], ['field3', 'x1'], ['field90001', 'x89999'], ['field70001', 'x69999'])(wide), 'positional fields, far in')
  t.same(made, ['[] of 100002', '[3, 70001, 90001] of 100002'], 'each field once')
  made.length = 0
  const shorter = encodeRecord({ op: 'pv', version: 1, table: 'db.counters', fields: ['change', '8', 'x0'] })
  t.notOk(named(new Counted(shorter, { journal: null, offset: 0, end: shorter.length, line: 1 })), 'another count: its own layout')
  t.same(made, ['[0, 1] of 3'], 'the same columns for that count: not read again')
  made.length = 0
  t.ok(named(wide))
  t.same(made, ['[0, 1] of 100002'], 'back to a count seen before: its columns are remembered')
  made.length = 0
  t.notOk(where(['field90001', 'x89999'], ['field70001', 'nope'])(wide))
  t.same(wide.fieldsAt([90_001, 5, 100_002, 5, -1, 1.5]), ['x89999', 'x3', undefined, 'x3', undefined, undefined], 'fieldsAt: any order, repeats, past the end')
  t.notOk(where(['field100002', ''])(wide), 'past the last field')
  t.equal(wide.field(100_001), 'x99999')
  t.equal(wide.field(100_002), undefined)
  // Not in the shape p4d writes (an `@` in a bare value): the whole record is parsed, with the same answers.
  const odd = Buffer.from('@pv@ 1 @db.counters@ @change@ 7@ \n')
  const plain = new JournalEntry(odd, { journal: null, offset: 0, end: odd.length, line: 1 })
  t.same(plain.fields, ['change', '7@'])
  t.ok(where(['value', '7@'])(plain), 'the odd record, parsed whole')
  t.same(plain.fieldsUpTo(1), { fields: ['change', '7@'], count: 2 }, 'fieldsUpTo gives every field then')
  // A record whose fields all came: kept for what reads them next (the output of a record --where kept).
  const small = Buffer.from('@pv@ 1 @db.counters@ @change@ 7 \n')
  const kept = new JournalEntry(small, { journal: null, offset: 0, end: small.length, line: 1 })
  const got = kept.fieldsUpTo(64)
  t.equal(kept.fields, got.fields, 'the same array: not parsed again')
  t.equal(kept.table, 'db.counters')
  t.equal(plain.field(1), '7@')
})

t.test('property: --where answers as the named row (nameRow) of each record, one filter over many records', async (t) => {
  const fc = (await import('fast-check')).default
  const { JournalEntry } = await import('../../lib/journal/entry.js')
  const { encodeRecord } = await import('../../lib/journal/encoder.js')
  const { nameRow } = await import('../../lib/schema/row.js')
  // Tables and versions whose layouts differ by field count (db.have.rp 2 and 3 among them), and values that
  // repeat so that clauses match; field counts vary within a table version, so the resolution is redone.
  const tables: [string, number][] = [
    ['db.have.rp', 3],
    ['db.have', 3],
    ['db.rev', 9],
    ['db.change', 3],
    ['db.counters', 1],
    ['db.nothing', 1],
  ]
  const columns = ['clientFile', 'depotFile', 'haveRev', 'type', 'time', 'user', 'change', 'name', 'value', 'field0', 'field2', 'field5', 'field12', 'field01']
  const value = fc.constantFrom('1', '01', '7', 'x', '', '9007199254740993', '//a b', 'a@b')
  const record = fc.record({
    table: fc.constantFrom(...tables),
    fields: fc.array(value, { minLength: 0, maxLength: 16 }),
  })
  const clause = fc.record({ column: fc.constantFrom(...columns), value: fc.constantFrom('1', 'x', '') })
  let kept = 0
  let total = 0
  await fc.assert(
    fc.asyncProperty(fc.array(clause, { minLength: 1, maxLength: 2 }), fc.array(record, { minLength: 1, maxLength: 25 }), async (clauses, records) => {
      const filter = createEntryFilter({ where: clauses })!
      for (const r of records) {
        const raw = encodeRecord({ op: 'pv', version: r.table[1], table: r.table[0], fields: r.fields })
        const entry = new JournalEntry(raw, { journal: null, offset: 0, end: raw.length, line: 1 })
        const row = nameRow(r.table[0], r.table[1], r.fields).row
        const want = clauses.every((c) => row[c.column] !== undefined && String(row[c.column]) === c.value)
        total++
        if (want) kept++
        if (filter(entry) !== want) return false
      }
      return true
    }),
    { numRuns: 800 },
  )
  t.ok(kept > 20 && kept < total, `${kept} of ${total} records kept`)
})

t.test('pickFields wants ascending indexes without repeats', async (t) => {
  const { JournalEntry } = await import('../../lib/journal/entry.js')
  const raw = Buffer.from('@pv@ 1 @db.counters@ @change@ 7 \n')
  const e = new JournalEntry(raw, { journal: null, offset: 0, end: raw.length, line: 1 })
  t.same(e.pickFields([0, 1, 5]), { values: ['change', '7', undefined], count: 2 })
  for (const bad of [[1, 1], [1, 0], [-1], [0.5]]) t.throws(() => e.pickFields(bad), RangeError, JSON.stringify(bad))
})
