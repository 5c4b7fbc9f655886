/**
 * Ours: framing only, in batch mode: JournalEntryTransform({ batch: true })
 * pushes the entries of each input chunk as one array, so the stream
 * machinery runs once per chunk instead of once per record. Same entries
 * as `framing`; the difference between the two rows is the cost of one
 * object-mode stream item per record.
 */
import { pipeline } from 'node:stream/promises'
import { FileReader } from '../../lib/files/file-reader.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { JournalEntryTransform } from '../../lib/journal/journal-entry-transform.js'
import { counter, runScenario } from '../harness/scenario.js'

runScenario('framing-batch', async ({ input }) => {
  let records = 0
  let bytes = 0
  let end = 0
  await pipeline(
    // logdaemon's own file reader (lib/files/file-reader.ts): 128 KiB reads, the next one in flight.
    new FileReader(input),
    new JournalEntryTransform({ file: input, batch: true }),
    counter<JournalEntry[]>((batch) => {
      for (const entry of batch) {
        records++
        bytes += entry.length
        end = entry.position.end
      }
    }),
  )
  if (end !== bytes) throw new Error(`framing-batch: last entry ends at ${end}, but the entries hold ${bytes} bytes`)
  return { bytes, records, unit: 'records' }
})
