/**
 * Inflating alone (no framing): the .gz file through our createGunzip with
 * the node inflater into a sink that counts bytes. Shows how much of the
 * gzip scenarios is inflate (folded in from the former benchmarks/gunzip.ts).
 */
import { createReadStream } from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { tryGunzip } from '../harness/gzip-input.js'
import { byteCounter, runScenario, skipped } from '../harness/scenario.js'

runScenario('inflate-node', async ({ input }) => {
  const inflate = tryGunzip('node', input)
  if (!('gunzip' in inflate)) return skipped('bytes', inflate.why)
  const sink = byteCounter()
  await pipeline(createReadStream(input), inflate.gunzip, sink)
  return { bytes: sink.bytes, records: null, unit: 'bytes' }
})
