/**
 * Baseline for inflating: zlib-sync alone, no stream around it, fed the
 * file's chunks in 16 KiB pieces (as our inflater does) and counting the
 * output: the floor our zlib-sync inflater is built on (folded in from
 * benchmarks/gunzip.ts). The benchmark file is one gzip member, which is
 * all bare zlib-sync reads.
 */
import { createReadStream } from 'node:fs'
import { loadZlibSync } from '../../lib/files/inflater.js'
import { runScenario, skipped } from '../harness/scenario.js'

/** The piece size of lib/files/inflater.ts. */
const PIECE = 16 * 1024
/** zlib-sync's output growth step, as lib/files/inflater.ts sets it. */
const OUT_CHUNK = 64 * 1024

runScenario('inflate-zlib-sync-bare', async ({ input }) => {
  const zs = loadZlibSync()
  if (!zs) return skipped('bytes', 'zlib-sync cannot be loaded here')
  const inflate = new zs.Inflate({ windowBits: 31, chunkSize: OUT_CHUNK })
  let bytes = 0
  for await (const chunk of createReadStream(input)) {
    const buf = chunk as Buffer
    for (let i = 0; i < buf.length; i += PIECE) {
      inflate.push(buf.subarray(i, i + PIECE), zs.Z_SYNC_FLUSH)
      const out = inflate.result
      if (Buffer.isBuffer(out)) bytes += out.length
    }
  }
  return { bytes, records: null, unit: 'bytes' }
})
