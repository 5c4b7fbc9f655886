/**
 * The inflate worker behind WorkerGunzipDecoder (gunzip-worker.ts, which
 * describes the protocol): a GunzipDecoder with zlib-sync on this thread.
 * Output is copied into batches that are transferred (not copied) to the
 * main thread; sending stops while the main thread holds `window` bytes it
 * has not handed on yet, and inflating waits with it.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'
import { isLogdaemonError } from '../errors.js'
import type { FromWorker, ToWorker, WorkerInit } from './gunzip-worker.js'
import { GunzipDecoder } from './gunzip-decoder.js'
import { selectInflater } from './inflater.js'
import { detachEarly } from '../parallel/detach-early.js'

const port = parentPort
if (!port) throw new Error('inflate-worker.js runs as a worker thread only')
const init = workerData as WorkerInit
// Before any code gets hot: this thread transfers its batches (see detach-early.ts).
detachEarly()

const inputs: (Uint8Array | null)[] = []
let wakeInput: (() => void) | null = null
/** Bytes sent and not yet credited back by the main thread. */
let unreturned = 0
let wakeCredit: (() => void) | null = null

/** Batch buffers given back by the main thread, to fill again. */
const spares: ArrayBuffer[] = []
/** Spares kept: as many as there can be batches in flight, and a few more. */
const SPARES = 8

port.on('message', (message: ToWorker) => {
  if (message.type === 'spare') {
    if (message.buf.byteLength === init.batch && spares.length < SPARES) spares.push(message.buf)
    return
  }
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

/** Compressed bytes read from the file (path mode) and not yet reported. */
let unreported = 0

let batch = new Uint8Array(init.batch)
let used = 0

/** Sends the batch; with `wait`, waits until the main thread has room for more. */
async function send(wait = true): Promise<void> {
  if (used > 0) {
    const buf = batch.buffer as ArrayBuffer
    post({ type: 'data', buf, length: used, verified: decoder.verified, read: unreported }, [buf])
    unreported = 0
    unreturned += used
    const spare = spares.pop()
    batch = spare ? new Uint8Array(spare) : new Uint8Array(init.batch)
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
  selectInflater(init.engine),
  (chunk) => {
    if (chunk.buffer === batch.buffer && chunk.byteOffset === used) {
      // Inflated into the batch's free room (below): nothing to copy.
      used += chunk.length
      return used === batch.length ? send() : undefined
    }
    if (used + chunk.length >= batch.length) return emitSlowly(chunk)
    batch.set(chunk, used)
    used += chunk.length
    return undefined
  },
  // The output is copied into the batch: the inflater may reuse its buffer.
  // Engines that can inflate straight into the batch's free room do.
  { file: init.file, notGzip: 'error', lend: true, room: () => batch.subarray(used) },
)

async function nextInput(): Promise<Uint8Array | null> {
  while (inputs.length === 0) {
    await new Promise<void>((resolve) => {
      wakeInput = resolve
    })
  }
  return inputs.shift() ?? null
}

/** Compressed bytes per read when the worker reads the file itself. */
const READ_BYTES = 128 * 1024

/** The file read here, a chunk at a time into one buffer (the decoder keeps no input once a write resolves). */
async function readFile(path: string): Promise<void> {
  const fd = openSync(path, 'r')
  try {
    const buf = Buffer.allocUnsafe(READ_BYTES)
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null)
      if (n === 0) break
      unreported += n
      await decoder.write(buf.subarray(0, n))
    }
  } finally {
    closeSync(fd)
  }
  await decoder.end()
  await send(false)
  if (unreported > 0) post({ type: 'read', bytes: unreported })
  post({ type: 'done', verified: decoder.verified })
}

async function run(): Promise<void> {
  if (init.path !== null) return readFile(init.path)
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
