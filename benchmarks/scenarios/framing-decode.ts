/**
 * Ours: framing plus decoding every field: op, table version, table and
 * every field value as a string (UTF-8, `@@` decoded), what a listener that
 * looks at every record pays.
 */
import { pipeline } from 'node:stream/promises'
import { FileReader } from '../../lib/files/file-reader.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { JournalEntryTransform } from '../../lib/journal/journal-entry-transform.js'
import { counter, runScenario } from '../harness/scenario.js'

runScenario('framing-decode', async ({ input }) => {
  let records = 0
  let bytes = 0
  let fields = 0
  let chars = 0
  await pipeline(
    // logdaemon's own file reader (lib/files/file-reader.ts): 128 KiB reads, the next one in flight.
    new FileReader(input),
    new JournalEntryTransform({ file: input }),
    counter<JournalEntry>((entry) => {
      records++
      bytes += entry.length
      const { op, version, table } = entry
      if (op.length === 0) throw new Error(`no op at offset ${entry.position.offset}`)
      if (version !== null && !Number.isInteger(version)) throw new Error(`bad table version at offset ${entry.position.offset}`)
      if (table !== null) chars += table.length
      const values = entry.fields
      for (const value of values) chars += value.length
      fields += values.length
    }),
  )
  return { bytes, records, unit: 'records', extra: { fields, chars } }
})
