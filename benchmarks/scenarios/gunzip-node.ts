/**
 * Ours, gzip input: the .gz file through createGunzip with the node
 * inflater, then framing (entries with positions and raw bytes, no field
 * decoding), as logdaemon reads `journal.N.gz`. MB/s are of the
 * uncompressed bytes.
 */
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { READ_CHUNK_BYTES } from '../../lib/files/read-chunk.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { JournalEntryTransform } from '../../lib/journal/journal-entry-transform.js'
import { tryGunzip } from '../harness/gzip-input.js'
import { counter, runScenario, skipped } from '../harness/scenario.js'

runScenario('gunzip-node', async ({ input }) => {
  const inflate = tryGunzip('node', input)
  if (!('gunzip' in inflate)) return skipped('records', inflate.why)
  let records = 0
  let bytes = 0
  await pipeline(
    // logdaemon's own read size (lib/files/read-chunk.ts), as it reads journal.N.gz.
    createReadStream(input, { highWaterMark: READ_CHUNK_BYTES }),
    inflate.gunzip,
    new JournalEntryTransform({ file: input }),
    counter<JournalEntry>((entry) => {
      records++
      bytes += entry.length
    }),
  )
  return { bytes, records, unit: 'records' }
})
