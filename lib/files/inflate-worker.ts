/**
 * The inflate worker behind WorkerGunzipDecoder (gunzip-worker.ts, which
 * describes the protocol): a GunzipDecoder with zlib-sync on this thread.
 * Output is copied into batches that are transferred (not copied) to the
 * main thread; sending stops while the main thread holds `window` bytes it
 * has not handed on yet, and inflating waits with it.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { isLogdaemonError } from '../errors.js'
import type { FromWorker, ToWorker, WorkerInit } from './gunzip-worker.js'
import { GunzipDecoder } from './gunzip-decoder.js'
import { selectInflater } from './inflater.js'

const port = parentPort
if (!port) throw new Error('inflate-worker.js runs as a worker thread only')
const init = workerData as WorkerInit

const inputs: (Uint8Array | null)[] = []
let wakeInput: (() => void) | null = null
/** Bytes sent and not yet credited back by the main thread. */
let unreturned = 0
let wakeCredit: (() => void) | null = null

port.on('message', (message: ToWorker) => {
  if (message.type === 'credit') {
    unreturned -= message.bytes
    const wake = wakeCredit
    wakeCredit = null
    wake?.()
    return
  }
  inputs.push(message.type === 'input' ? message.chunk : null)
  const wake = wakeInput
  wakeInput = null
  wake?.()
})

const post = (message: FromWorker, transfer: ArrayBuffer[] = []): void => port.postMessage(message, transfer)

let batch = new Uint8Array(init.batch)
let used = 0

/** Sends the batch; with `wait`, waits until the main thread has room for more. */
async function send(wait = true): Promise<void> {
  if (used > 0) {
    const buf = batch.buffer as ArrayBuffer
    post({ type: 'data', buf, length: used, verified: decoder.verified }, [buf])
    unreturned += used
    batch = new Uint8Array(init.batch)
    used = 0
  }
  while (wait && unreturned >= init.window) {
    await new Promise<void>((resolve) => {
      wakeCredit = resolve
    })
  }
}

async function emitSlowly(chunk: Buffer): Promise<void> {
  for (let at = 0; at < chunk.length; ) {
    const n = Math.min(batch.length - used, chunk.length - at)
    batch.set(chunk.subarray(at, at + n), used)
    used += n
    at += n
    if (used === batch.length) await send()
  }
}

const decoder = new GunzipDecoder(
  selectInflater('zlib-sync'),
  (chunk) => {
    if (used + chunk.length >= batch.length) return emitSlowly(chunk)
    batch.set(chunk, used)
    used += chunk.length
    return undefined
  },
  { file: init.file, notGzip: 'error' },
)

async function nextInput(): Promise<Uint8Array | null> {
  while (inputs.length === 0) {
    await new Promise<void>((resolve) => {
      wakeInput = resolve
    })
  }
  return inputs.shift() ?? null
}

async function run(): Promise<void> {
  for (;;) {
    const input = await nextInput()
    if (input === null) break
    await decoder.write(Buffer.from(input.buffer, input.byteOffset, input.byteLength))
    await send()
    post({ type: 'ack', verified: decoder.verified, open: decoder.open })
  }
  await decoder.end()
  await send(false)
  post({ type: 'done', verified: decoder.verified })
}

run().then(
  () => port.close(),
  async (err: unknown) => {
    // The output before the error goes first (the main thread delivers it, then the error).
    await send(false)
    const error = err instanceof Error ? err : new Error(String(err))
    post({
      type: 'error',
      verified: decoder.verified,
      error: isLogdaemonError(error)
        ? { message: error.message, code: error.code, file: error.file, offset: error.offset }
        : { message: `${error.name}: ${error.message}` },
    })
    port.close()
  },
)
