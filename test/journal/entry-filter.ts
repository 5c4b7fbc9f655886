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

t.test('--where makes the fields up to the columns it names, not the others', async (t) => {
  const { JournalEntry } = await import('../../lib/journal/entry.js')
  const { encodeRecord } = await import('../../lib/journal/encoder.js')
  // One record of 30 M fields made 30 M strings (~820 MB) for one --where: the fields past the column are only counted.
  const made: string[] = []
  class Counted extends JournalEntry {
    override get fields(): readonly string[] {
      throw new Error('every field was made')
    }
    override fieldsUpTo(n: number): { fields: readonly string[]; count: number } {
      const got = super.fieldsUpTo(n)
      made.push(`${got.fields.length} of ${got.count}`)
      return got
    }
    override fieldsAt(indexes: readonly number[]): (string | undefined)[] {
      made.push(`fields ${indexes.join(', ')}`)
      return super.fieldsAt(indexes)
    }
  }
  const raw = encodeRecord({ op: 'pv', version: 1, table: 'db.counters', fields: ['change', '7', ...Array.from({ length: 100_000 }, (_, i) => `x${i}`)] })
  const wide = new Counted(raw, { journal: null, offset: 0, end: raw.length, line: 1 })
  const where = (...clauses: [string, string][]) => createEntryFilter({ where: clauses.map(([column, value]) => ({ column, value })) })!
  t.ok(where(['name', 'change'], ['value', '7'])(wide))
  t.same(made, ['64 of 100002'], 'named columns: the first fields')
  made.length = 0
  t.ok(where(['field70001', 'x69999'], ['field3', 'x1'], ['field90001', 'x89999'], ['field70001', 'x69999'])(wide), 'positional fields, far in')
  t.same(made, ['64 of 100002', 'fields 70001, 90001, 70001'], 'those far in made in one more pass')
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
