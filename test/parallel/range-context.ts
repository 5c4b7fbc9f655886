/**
 * A thread loads the line writers and filters only when its run needs them
 * (frame-range.ts's loadRangeContext): a raw run's workers start on the
 * framer alone.
 */
import t from 'tap'
import { loadRangeContext, needsCodecs, plainRangeContext, type RangeOptions } from '../../lib/parallel/frame-range.js'

const raw: RangeOptions = { format: 'raw', encoding: 'utf8', tables: [], ops: [], where: [], maxEntryBytes: 1 << 20, file: null, journal: null }

t.test('writers and filters are loaded for the runs that need them, and only those', async (t) => {
  for (const [name, options, writer, filter] of [
    ['raw', raw, false, false],
    ['none', { ...raw, format: 'none' }, false, false],
    ['raw with --op', { ...raw, ops: ['pv'] }, false, true],
    ['raw with --table', { ...raw, tables: ['db.rev'] }, false, true],
    ['raw with --where', { ...raw, where: [{ column: 'user', value: 'a' }] }, false, true],
    ['json', { ...raw, format: 'json' }, true, false],
    ['row with --op', { ...raw, format: 'row', ops: ['pv'] }, true, true],
  ] as const) {
    const context = await loadRangeContext(options)
    t.equal(context.writer !== null, writer, `${name}: writer`)
    t.equal(context.filter !== null, filter, `${name}: filter`)
    t.equal(needsCodecs(options), writer || filter, `${name}: needsCodecs`)
  }
})

t.test('the plain context refuses a run that needs a writer or filters (it would drop them silently)', async (t) => {
  t.throws(() => plainRangeContext({ ...raw, format: 'json' }), /needs rangeContext/)
  t.throws(() => plainRangeContext({ ...raw, ops: ['pv'] }), /needs rangeContext/)
  t.equal(plainRangeContext(raw).writer, null)
})
