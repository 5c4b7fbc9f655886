import t from 'tap'
import { entryToRowJson, entryToRowLine } from '../../lib/journal/entry-row.js'
import { JournalEntry } from '../../lib/journal/entry.js'
import { encodeRecord, type FieldValue } from '../../lib/journal/encoder.js'

/** An entry whose whole row must not be named: the line of a wide record is written field by field. */
class NoRow extends JournalEntry {
  override get row(): never {
    throw new Error('the whole row was named')
  }
}

t.test('a record of thousands of positional fields: the same line, written without naming them on an object', async (t) => {
  // Naming 2,000,000 fields on an object took 5.4 s, stringifying it 6.3 s more.
  const many: FieldValue[] = Array.from({ length: 6000 }, (_, i) => (i % 2 ? `a"b\n${i}` : i))
  const specs = [
    { op: 'pv', version: 9, table: 'db.rev', fields: many },
    { op: 'dv', version: 1, table: 'db.nothing', fields: many },
    { op: 'pv', version: 0, table: 'rdb.lbr', fields: many },
    { op: 'rv', version: 1, table: 'db.counters', fields: ['journal', { bare: '9007199254740993' }, ...many] },
  ]
  for (const spec of specs) {
    // Two spaces after the table: the byte writer leaves this record to entryToRowLine.
    const raw = Buffer.from(
      encodeRecord(spec)
        .toString('latin1')
        .replace(/^(@\w+@ \d+ @[^@]+@) /, '$1  '),
      'latin1',
    )
    for (const flags of [{}, { incomplete: true }]) {
      const position = { journal: 7, offset: 10, end: 10 + raw.length, line: 3 }
      const wide = new NoRow(raw, position, flags)
      const plain = new JournalEntry(raw, position, flags)
      wide.didRotate = plain.didRotate = 'incomplete' in flags
      const line = entryToRowLine(wide, 'journal.7')
      t.equal(line, JSON.stringify(entryToRowJson(plain, 'journal.7')) + '\n', `${spec.table} ${JSON.stringify(flags)}`)
    }
  }
  const few = new JournalEntry(encodeRecord({ op: 'pv', version: 1, table: 'db.counters', fields: ['a', '1'] }), { journal: null, offset: 0, end: 0, line: 1 })
  t.same(JSON.parse(entryToRowLine(few, null)).row, { name: 'a', value: '1' }, 'a usual record')
})
