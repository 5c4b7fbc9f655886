/**
 * The worker side of range-parallel framing: workerData is
 * `{ fd, options }` (the file open in the main thread: positional reads
 * share it, so every worker reads the same file even if its name is
 * replaced or removed meanwhile); each task is a count or a range.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { detachEarly } from './detach-early.js'
import { loadRangeContext, type RangeWorkerData, type RangeWorkerResult, type RangeWorkerTask, runRangeTask } from './frame-range.js'
import { primeRangeContext } from './prime.js'
import { serializeError, WORKER_STARTED, type WorkerReply } from './worker-pool.js'

/* c8 ignore start -- runs in worker threads, which coverage does not see; tested through the pool */
const { fd, options } = workerData as RangeWorkerData
// Before any code gets hot: this thread transfers buffers, and the first transfer would deoptimize it all (see detach-early.ts).
detachEarly()
// The writer and filters only when the run needs them (a raw run starts faster without).
const context = await loadRangeContext(options)
// Before the first task (it waits in the port's queue meanwhile): see prime.ts.
primeRangeContext(context)
const port = parentPort
if (port) {
  port.on('message', ({ id, task }: { id: number; task: RangeWorkerTask }) => {
    let reply: WorkerReply<RangeWorkerResult>
    const transfer: ArrayBuffer[] = []
    try {
      const result = runRangeTask(fd, task, context)
      // Buffers of their own go over whole (a small one from Buffer's shared pool would be copied: never transferred).
      if (result.out && result.out.buffer.byteLength > Buffer.poolSize) transfer.push(result.out.buffer as ArrayBuffer)
      if (result.kind === 'records' && result.data) transfer.push(result.data)
      reply = { id, ok: true, result }
    } catch (err) {
      reply = { id, ok: false, error: serializeError(err) }
    }
    port.postMessage(reply, transfer)
  })
  // Loaded and primed: a SharingRunner sends tasks here from now on (it runs them on its own thread meanwhile).
  port.postMessage(WORKER_STARTED)
}
/* c8 ignore stop */
