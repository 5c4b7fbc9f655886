/**
 * The worker side of framing an inflated stream in chunks (frame-chunk.ts):
 * workerData is `{ options }`; each task is a chunk, transferred here and
 * back with the result.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { detachEarly } from './detach-early.js'
import { type ChunkResult, type ChunkWorkerTask, runChunkTask } from './frame-chunk.js'
import { loadRangeContext, type RangeOptions } from './frame-range.js'
import { primeChunkContext } from './prime.js'
import { serializeError, WORKER_STARTED, type WorkerReply } from './worker-pool.js'

/* c8 ignore start -- runs in worker threads, which coverage does not see; tested through the pool */
const { options } = workerData as { options: RangeOptions }
// Before any code gets hot: this thread transfers buffers, and the first transfer would deoptimize it all (see detach-early.ts).
detachEarly()
// The writer and filters only when the run needs them: a raw run starts ~60 ms of CPU sooner without.
const context = await loadRangeContext(options)
// Before the first task (it waits in the port's queue meanwhile): see prime.ts.
primeChunkContext(context)
const port = parentPort
if (port) {
  port.on('message', ({ id, task }: { id: number; task: ChunkWorkerTask }) => {
    let reply: WorkerReply<ChunkResult>
    const transfer: ArrayBuffer[] = []
    try {
      const result = runChunkTask(task, context)
      transfer.push(result.data)
      // Buffers of their own go over whole (a small one from Buffer's shared pool is copied: never transferred).
      if (result.out && result.out.buffer.byteLength > Buffer.poolSize && result.out.buffer !== result.data) transfer.push(result.out.buffer as ArrayBuffer)
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
