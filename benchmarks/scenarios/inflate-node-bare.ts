/**
 * Baseline for inflating: node:zlib's own createGunzip stream into a sink
 * that counts bytes, the floor our node:zlib inflater is built on.
 */
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { createGunzip } from 'node:zlib'
import { byteCounter, runScenario } from '../harness/scenario.js'

runScenario('inflate-node-bare', async ({ input }) => {
  const sink = byteCounter()
  await pipeline(createReadStream(input), createGunzip(), sink)
  return { bytes: sink.bytes, records: null, unit: 'bytes' }
})
