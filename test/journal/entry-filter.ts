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
