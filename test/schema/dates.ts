import t from 'tap'
import { dateOf, isDateColumn, isoDate } from '../../lib/schema/dates.js'

t.test('seconds since 1970 become dates', async (t) => {
  t.equal(dateOf(1611008050)?.toISOString(), '2021-01-18T22:14:10.000Z')
  t.equal(isoDate('1611008050'), '2021-01-18T22:14:10.000Z')
  t.equal(isoDate(0), '1970-01-01T00:00:00.000Z')
  t.equal(dateOf('never'), null)
  t.equal(dateOf('99999999999999999999'), null)
  t.equal(isoDate(8.64e15), null)
  t.equal(isoDate(-1), '1969-12-31T23:59:59.000Z')
})

t.test('date columns are those of type Date', async (t) => {
  t.equal(isDateColumn({ type: 'Date' }), true)
  t.equal(isDateColumn({ type: 'date' }), true)
  t.equal(isDateColumn({ type: 'Int' }), false)
})
