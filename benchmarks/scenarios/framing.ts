/**
 * Ours: framing only. JournalEntryTransform turns the bytes into entries
 * with positions and raw bytes (views, decoded lazily); the consumer reads
 * each entry's length and position but no field, so nothing is decoded.
 * The byte total must equal the file size (a cross-check of framing).
 */
import { pipeline } from 'node:stream/promises'
import { FileReader } from '../../lib/files/file-reader.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { JournalEntryTransform } from '../../lib/journal/journal-entry-transform.js'
import { counter, runScenario } from '../harness/scenario.js'

runScenario('framing', async ({ input }) => {
  let records = 0
  let bytes = 0
  let end = 0
  await pipeline(
    // logdaemon's own file reader (lib/files/file-reader.ts): 128 KiB reads, the next one in flight.
    new FileReader(input),
    new JournalEntryTransform({ file: input }),
    counter<JournalEntry>((entry) => {
      records++
      bytes += entry.length
      end = entry.position.end
    }),
  )
  if (end !== bytes) throw new Error(`framing: last entry ends at ${end}, but the entries hold ${bytes} bytes`)
  return { bytes, records, unit: 'records' }
})
