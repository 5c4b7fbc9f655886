/**
 * Ours, gzip input: the .gz file through createGunzip with the zlib-sync
 * inflater, then framing (entries with positions and raw bytes, no field
 * decoding), as logdaemon reads `journal.N.gz`. MB/s are of the
 * uncompressed bytes.
 */
import { pipeline } from 'node:stream/promises'
import { FileReader } from '../../lib/files/file-reader.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { JournalEntryTransform } from '../../lib/journal/journal-entry-transform.js'
import { tryGunzip } from '../harness/gzip-input.js'
import { counter, runScenario, skipped } from '../harness/scenario.js'

runScenario('gunzip-zlib-sync', async ({ input }) => {
  const inflate = tryGunzip('zlib-sync', input)
  if (!('gunzip' in inflate)) return skipped('records', inflate.why)
  let records = 0
  let bytes = 0
  await pipeline(
    // logdaemon's own file reader (lib/files/file-reader.ts): 128 KiB reads, the next one in flight.
    new FileReader(input),
    inflate.gunzip,
    new JournalEntryTransform({ file: input }),
    counter<JournalEntry>((entry) => {
      records++
      bytes += entry.length
    }),
  )
  return { bytes, records, unit: 'records' }
})
