/**
 * Baseline for gzip input: node:zlib's createGunzip piped into split2, what
 * a user would write for `journal.N.gz`. MB/s are of the uncompressed bytes
 * (counted by a second `data` listener, not an extra stream stage, so the
 * baseline pays nothing for being measured). Counts physical lines.
 */
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import split2 from 'split2'
import { counter, runScenario } from '../harness/scenario.js'

runScenario('gunzip-node-split2', async ({ input }) => {
  let bytes = 0
  let lines = 0
  const gunzip = createGunzip()
  gunzip.on('data', (chunk: Buffer) => (bytes += chunk.length))
  await pipeline(
    createReadStream(input),
    gunzip,
    split2(),
    counter<string>(() => lines++),
  )
  return { bytes, records: lines, unit: 'lines' }
})
