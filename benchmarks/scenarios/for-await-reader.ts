/**
 * Ours, the way the README teaches the API: `for await (const entry of
 * createJournalReader(file))`, counting records and bytes (each entry's
 * length and position, no field: nothing is decoded). Compare with
 * `framing` (the same entries into a counting Writable).
 *
 *   node dist/benchmarks/scenarios/for-await-reader.js FILE
 */
import { createJournalReader } from '../../lib/journal/read-journal.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { runScenario } from '../harness/scenario.js'

runScenario('for-await-reader', async ({ input }) => {
  let records = 0
  let bytes = 0
  let end = 0
  for await (const entry of createJournalReader(input) as AsyncIterable<JournalEntry>) {
    records++
    bytes += entry.length
    end = entry.position.end
  }
  if (end !== bytes) throw new Error(`for-await-reader: last entry ends at ${end}, but the entries hold ${bytes} bytes`)
  return { bytes, records, unit: 'records' }
})
