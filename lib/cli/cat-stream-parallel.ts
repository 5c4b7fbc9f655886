import type { Readable, Writable } from 'node:stream'
import { framingFailure } from '../files/gunzip.js'
import { journalNumberOf } from '../files/journal-name.js'
import { JournalEntry } from '../journal/entry.js'
import { createEntryFilter } from '../journal/entry-filter.js'
import { entryToJsonLine } from '../journal/entry-json.js'
import { entryToRowLine } from '../journal/entry-row.js'
import { JournalFramer } from '../journal/framer.js'
import { KEEP_BYTES, type RangeOptions, type RangeWorkerResult, type RangeWorkerTask, type RecordsResult } from '../parallel/frame-range.js'
import { detachEarly } from '../parallel/detach-early.js'
import { inThreadRunner, type RangeRunner } from '../parallel/parallel-ranges.js'
import { poolSize, WORKER_QUEUE_DEPTH, WorkerPool } from '../parallel/worker-pool.js'
import type { CatCounts, CatOptions } from './cat-input.js'
import { write } from './write-out.js'
import { rangeOptionsOf } from './cat-file-parallel.js'

/**
 * Bytes of records per task: a task's fixed cost (a message each way, a
 * framer, a transfer) vanishes next to encoding this much, and the tasks in
 * flight (2 per thread) with their output stay small.
 */
export const BATCH_BYTES = 256 << 10

/** A partial batch goes out at the end of an input chunk once it holds this much (or when no more input is waiting). */
const FLUSH_BYTES = 64 << 10

/** A worker's young generation, in MB (see parallel-ranges.ts: it bounds each worker's garbage). */
const YOUNG_GENERATION_MB = 4

export interface StreamParallelOptions {
  threads: number
  /** Bytes per batch (tests use tiny ones). Default {@link BATCH_BYTES}. */
  batchBytes?: number
  /**
   * Bytes of records encoded on this thread before the pool starts (default
   * 0: from the first batch). An input that ends first never starts a
   * worker: `logdaemon-cat` passes MIN_PARALLEL_ENCODED_BYTES, since the
   * workers' start-up costs a small input more than they save.
   */
  poolAfterBytes?: number
  /** Runs the tasks instead of a worker pool (tests: inThreadRunner). */
  runner?: (options: RangeOptions) => RangeRunner
}

/**
 * `logdaemon-cat --format json|row` on a stream that cannot be read in
 * ranges (standard input, a pipe, an inflated `.gz`): this thread frames
 * the records, as the serial path does, and hands them in batches of whole
 * adjacent records, with their offset and line, to a worker pool that
 * filters and encodes them; the lines are written here in input order. At
 * most two batches per thread are in flight: a slow output slows the
 * framing, which slows the input. The first `poolAfterBytes` of records
 * are encoded here, the same way, so a small input starts no worker. The records before a framing error are
 * written before it is thrown, and --skip-malformed, --allow-incomplete and
 * the counts behave exactly as serially (a batch never spans skipped bytes).
 * A framing error in inflated gzip bytes whose member is not checked yet is
 * checked as catInput checks it (checkFramingError): damage is
 * ERR_GZIP_CORRUPT here too.
 */
export async function catStreamParallel(
  input: Readable,
  file: string,
  out: Writable,
  options: CatOptions,
  parallel: StreamParallelOptions,
): Promise<CatCounts> {
  const name = file === '-' ? null : file
  const journal = name ? journalNumberOf(name) : null
  const framer = new JournalFramer({
    journal,
    file: file === '-' ? '-' : file,
    skipMalformed: options.skipMalformed,
    ...(options.maxEntryBytes !== undefined ? { maxEntryBytes: options.maxEntryBytes } : {}),
  })
  const rangeOptions = rangeOptionsOf(options, name, journal)
  // Before anything here gets hot: the pool, started after poolAfterBytes, transfers buffers, and this thread's first
  // transfer would throw away the framer's and the writer's optimized code (see detach-early.ts).
  detachEarly()
  // Started at the first batch past poolAfterBytes; the batches before it are encoded here.
  let pool = null as RangeRunner | null
  let local: RangeRunner | null = null
  let localBytes = Math.max(0, parallel.poolAfterBytes ?? 0)
  const runnerFor = (bytes: number): RangeRunner => {
    if (pool === null && localBytes > 0) {
      localBytes -= bytes
      local ??= inThreadRunner(-1, rangeOptions, 1)
      return local
    }
    pool ??=
      parallel.runner?.(rangeOptions) ??
      new WorkerPool<RangeWorkerTask, RangeWorkerResult>(
        new URL('../parallel/range-worker.js', import.meta.url),
        parallel.threads,
        { fd: -1, options: rangeOptions },
        { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
      )
    return pool
  }
  const capacity = Math.max(1, Math.floor(parallel.batchBytes ?? BATCH_BYTES))
  // The pool's size, known before the pool starts.
  const limit = poolSize(parallel.threads) * WORKER_QUEUE_DEPTH

  let entries = 0
  let inFlight = 0
  let failure: unknown = null
  let chain: Promise<void> = Promise.resolve()
  let slot: (() => void) | null = null

  /** Output buffers written, going back to the workers, one with each task (a worker writes its next lines in them). */
  const spares: ArrayBuffer[] = []
  /** Batch buffers the workers handed back, to fill again. */
  const free: Buffer[] = []
  /** Hands a batch to the pool; its lines are written after those of every batch before it. */
  const submit = (data: Buffer, length: number, offset: number, line: number): void => {
    inFlight++
    const ab = data.buffer as ArrayBuffer
    // One a task: each worker gets back as many as it hands over, whichever worker runs the task.
    const give = spares.length ? [spares.pop() as ArrayBuffer] : []
    const task = runnerFor(length).run({ kind: 'records', data: ab, length, offset, line, ...(give.length ? { spares: give } : {}) }, [ab, ...give]) as Promise<
      { kind: 'records' } & RecordsResult
    >
    task.catch(() => {})
    chain = chain
      .then(async () => {
        if (failure) return
        const result = await task
        entries += result.entries
        if (result.data && result.data.byteLength === capacity && free.length < limit) free.push(Buffer.from(result.data))
        const lines = result.out
        if (lines) {
          const give = (): void =>
            void (
              lines.buffer.byteLength > Buffer.poolSize &&
              lines.buffer.byteLength <= KEEP_BYTES &&
              spares.length < limit &&
              spares.push(lines.buffer as ArrayBuffer)
            )
          await write(out, Buffer.from(lines.buffer, lines.byteOffset, lines.byteLength), give)
        }
      })
      .catch((err: unknown) => {
        failure ??= err
      })
      .finally(() => {
        inFlight--
        const wake = slot
        slot = null
        wake?.()
      })
  }

  // The batch being filled: adjacent records, copied out of the input chunks.
  // Not zero-filled, and not from Buffer's shared pool: each batch's memory is its own, to be transferred.
  let batch: Buffer = Buffer.allocUnsafeSlow(capacity)
  let length = 0
  let batchOffset = 0
  let batchLine = 1
  let nextOffset = -1
  /** Batches full and waiting to be submitted (the framer calls the sink synchronously). */
  const ready: { data: Buffer; length: number; offset: number; line: number }[] = []
  const close = (): void => {
    if (length === 0) return
    ready.push({ data: batch, length, offset: batchOffset, line: batchLine })
    batch = free.pop() ?? Buffer.allocUnsafeSlow(capacity)
    length = 0
  }
  const sink = (source: Buffer, start: number, end: number, offset: number, line: number): void => {
    const n = end - start
    if (length > 0 && (offset !== nextOffset || length + n > capacity)) close()
    if (length === 0) {
      batchOffset = offset
      batchLine = line
      if (n > capacity) batch = Buffer.allocUnsafeSlow(n)
    }
    source.copy(batch, length, start, end)
    length += n
    nextOffset = offset + n
  }
  const send = async (): Promise<void> => {
    for (const b of ready.splice(0)) {
      while (inFlight >= limit && !failure) await new Promise<void>((resolve) => (slot = resolve))
      if (failure) throw failure
      submit(b.data, b.length, b.offset, b.line)
    }
  }
  /** Every batch so far, written. */
  const settle = async (): Promise<void> => {
    close()
    await send()
    await chain
    if (failure) throw failure
  }

  let seen = 0
  try {
    try {
      for await (const chunk of input) {
        seen += (chunk as Buffer).length
        try {
          framer.push(chunk as Buffer, sink)
        } catch (err) {
          // The records before it go out first, then the rest of the member is inflated to check its trailer.
          throw await framingFailure(err, input, seen, settle)
        }
        if (length >= FLUSH_BYTES || input.readableLength === 0) close()
        await send()
      }
    } catch (err) {
      // The records framed before the error go out first (as serially); a failed write wins.
      await settle()
      throw err
    }
    await settle()
    const rest = options.allowIncomplete ? framer.takePending() : null
    if (rest) {
      const entry = new JournalEntry(
        rest.raw,
        { journal, offset: rest.offset, end: rest.offset + rest.raw.length, line: rest.line },
        { encoding: options.encoding, incomplete: true },
      )
      const filter = createEntryFilter(options)
      if (!filter || filter(entry)) {
        entries++
        await write(out, options.format === 'row' ? entryToRowLine(entry, name) : entryToJsonLine(entry, name))
      }
    }
    const incomplete = framer.incompleteError()
    if (incomplete) throw incomplete
  } finally {
    await pool?.close()
  }
  return { entries, malformedSkipped: framer.malformedSkipped, oversizeSkipped: framer.oversizeSkipped }
}
