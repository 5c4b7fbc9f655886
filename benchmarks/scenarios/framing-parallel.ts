/**
 * Ours, on both cores: a plain file framed in ranges on a worker pool
 * (lib/parallel/parallel-ranges.ts), the ranges reconciled in order on this
 * thread. Each range comes back with its record count and its bytes (the
 * records, transferred, not copied); the bytes of every range must add up
 * to the file size and the ranges must join end to end (a cross-check of
 * the reconciliation). Compare with `framing`, its serial counterpart.
 * This thread only counts, so it is one of the threads (`shareThisThread`,
 * as `logdaemon-cat --format raw`): `threads - 1` workers, and ranges framed
 * here while no worker has started and whenever the workers are full. On
 * 2 cores, 200 MB, 5 interleaved runs, medians: default 217 → 208 ms,
 * short 221 → 199 ms against 2 workers (serial: 328 and 350 ms).
 *
 *   node dist/benchmarks/scenarios/framing-parallel.js FILE [--threads N] [--range-bytes N]
 */
import { open } from 'node:fs/promises'
import { DEFAULT_MAX_ENTRY_BYTES } from '../../lib/journal/framer.js'
import { frameRangesParallel } from '../../lib/parallel/parallel-ranges.js'
import { defaultThreads } from '../../lib/parallel/worker-pool.js'
import { numberOption, runScenario } from '../harness/scenario.js'

runScenario('framing-parallel', async (args) => {
  const threads = numberOption(args, 'threads', defaultThreads())
  const rangeBytes = numberOption(args, 'range-bytes', 0)
  const handle = await open(args.input, 'r')
  try {
    const size = (await handle.stat()).size
    const options = {
      format: 'raw',
      encoding: 'utf8',
      tables: [],
      ops: [],
      where: [],
      maxEntryBytes: DEFAULT_MAX_ENTRY_BYTES,
      file: args.input,
      journal: null,
    } as const
    const ranges = frameRangesParallel(handle.fd, size, options, { threads, shareThisThread: true, ...(rangeBytes > 0 ? { rangeBytes } : {}) })
    let records = 0
    let bytes = 0
    let end = 0
    let step = await ranges.next()
    while (!step.done) {
      const range = step.value
      if (range.from !== end) throw new Error(`framing-parallel: a range starts at ${range.from}, the one before ended at ${end}`)
      records += range.records
      bytes += range.out ? range.out.length : 0
      end = range.stop
      range.release()
      step = await ranges.next()
    }
    if (step.value) throw new Error(`framing-parallel: the input does not frame from offset ${step.value.offset}`)
    if (bytes !== size) throw new Error(`framing-parallel: the ranges hold ${bytes} bytes, the file ${size}`)
    return { bytes, records, unit: 'records' }
  } finally {
    await handle.close()
  }
})
