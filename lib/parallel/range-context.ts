import { JournalEntry } from '../journal/entry.js'
import { createEntryFilter } from '../journal/entry-filter.js'
import { JsonLineWriter } from '../journal/json-line-writer.js'
import { RowLineWriter } from '../journal/row-line-writer.js'
import { RowBatchWriter } from '../listeners/builtin/sql/row-batch-writer.js'
import { type LineWriter, makeRangeContext, type RangeContext, type RangeOptions, type RecordTest } from './frame-range.js'

/**
 * What a thread needs once per run, with the line writer and the filters
 * the options ask for. Kept apart from frame-range.ts so that a run
 * without them (raw, framing only) never loads them: see loadRangeContext.
 */
export function rangeContext(options: RangeOptions): RangeContext {
  return makeRangeContext(options, recordTest(options), lineWriter(options))
}

function lineWriter(options: RangeOptions): LineWriter | null {
  if (options.format === 'json') return new JsonLineWriter(options.file, options.encoding)
  if (options.format === 'row') return new RowLineWriter(options.file, options.encoding)
  if (options.format === 'sql') {
    if (!options.sql || options.journal === null) throw new TypeError('a sql run needs its tables and journal number')
    return new RowBatchWriter({ ...options.sql, encoding: options.encoding, journal: options.journal })
  }
  return null
}

/** The filters as a test on a record's bytes (the entry is made only for them), or null when there are none. */
function recordTest(options: RangeOptions): RecordTest | null {
  const filter = createEntryFilter(options)
  if (!filter) return null
  const { journal, encoding } = options
  return (source, start, end, offset, line) => filter(new JournalEntry(source, { journal, offset, end: offset + end - start, line }, { encoding, start, end }))
}
