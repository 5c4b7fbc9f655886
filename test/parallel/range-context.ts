/**
 * A thread loads the line writers and filters only when its run needs them
 * (frame-range.ts's loadRangeContext): a raw run's workers start on the
 * framer alone.
 */
import t from 'tap'
import { loadRangeContext, needsCodecs, plainRangeContext, type RangeOptions } from '../../lib/parallel/frame-range.js'
import { JsonLineWriter } from '../../lib/journal/json-line-writer.js'
import { RowLineWriter } from '../../lib/journal/row-line-writer.js'

const raw: RangeOptions = { format: 'raw', encoding: 'utf8', tables: [], ops: [], where: [], maxEntryBytes: 1 << 20, file: null, journal: null }

t.test('writers and filters are loaded for the runs that need them, and only those', async (t) => {
  for (const [name, options, writer, filter] of [
    ['raw', raw, false, false],
    ['none', { ...raw, format: 'none' }, false, false],
    ['raw with --op', { ...raw, ops: ['pv'] }, false, true],
    ['raw with --table', { ...raw, tables: ['db.rev'] }, false, true],
    ['raw with --where', { ...raw, where: [{ column: 'user', value: 'a' }] }, false, true],
    ['json', { ...raw, format: 'json' }, true, false],
    ['row', { ...raw, format: 'row' }, true, false],
    ['json with --where', { ...raw, format: 'json', where: [{ column: 'user', value: 'a' }] }, true, true],
    ['row with --op', { ...raw, format: 'row', ops: ['pv'] }, true, true],
  ] as const) {
    const context = await loadRangeContext(options)
    t.equal(context.writer !== null, writer, `${name}: writer`)
    t.equal(context.filter !== null, filter, `${name}: filter`)
    t.equal(needsCodecs(options), writer || filter, `${name}: needsCodecs`)
  }
})

t.test('the writer is the one the format names, with or without filters (the loader takes a shorter way without)', async (t) => {
  for (const filters of [{}, { tables: ['db.rev'] }]) {
    t.ok((await loadRangeContext({ ...raw, ...filters, format: 'json' })).writer instanceof JsonLineWriter, `json ${JSON.stringify(filters)}`)
    t.ok((await loadRangeContext({ ...raw, ...filters, format: 'row' })).writer instanceof RowLineWriter, `row ${JSON.stringify(filters)}`)
  }
})

t.test('the plain context refuses a run that needs a writer or filters (it would drop them silently)', async (t) => {
  t.throws(() => plainRangeContext({ ...raw, format: 'json' }), /needs rangeContext/)
  t.throws(() => plainRangeContext({ ...raw, ops: ['pv'] }), /needs rangeContext/)
  t.equal(plainRangeContext(raw).writer, null)
})
