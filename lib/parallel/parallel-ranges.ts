import {
  BufferCache,
  frameRange,
  KEEP_BYTES,
  LineCounts,
  LONG_RECORD_BYTES,
  loadRangeContext,
  type RangeContext,
  type RangeOptions,
  type RangeResult,
  type RangeTask,
  type RangeWorkerData,
  type RangeWorkerResult,
  type RangeWorkerTask,
  runRangeTask,
} from './frame-range.js'
import { primeRangeContext } from './prime.js'
import { SharingRunner } from './sharing-runner.js'
import { ordered, WORKER_QUEUE_DEPTH, WorkerPool } from './worker-pool.js'

/**
 * Bytes per range. Big enough that a range's fixed costs (a message each
 * way, the guess, the record read past its end) vanish, small enough that
 * the ranges in flight (2 per thread, with their output) stay within the
 * 120 MB RSS bar: see docs/design.md for the measurements.
 */
export const RANGE_BYTES = 1 << 20

/**
 * Bytes per range when the workers write JSON or row lines: their output is
 * 2–3 times the input, and each worker's heap grows with it; at 100 MB, 2
 * workers, --format row peaked at 203 MB RSS with 1 MiB ranges, 158 MB
 * with 256 KiB and 165 MB with 64 KiB (json: 134 MB with 256 KiB).
 */
export const ENCODED_RANGE_BYTES = 256 << 10

/**
 * A worker's young generation, in MB (V8's default is 48 on 64-bit): each
 * worker holds its young generation's worth of garbage between scavenges,
 * and 2 workers at the default took cat --format json on 100 MB from
 * 131 MB to 164 MB peak RSS (with 4: 131 MB, and no slower).
 */
const YOUNG_GENERATION_MB = 4

export interface ParallelRangeOptions {
  threads: number
  /** Bytes per range (tests use tiny ones). Default {@link RANGE_BYTES}, or {@link ENCODED_RANGE_BYTES} for JSON and row lines. */
  rangeBytes?: number
  /** How far a range task reads past its end to finish its last record (default {@link LONG_RECORD_BYTES}; tests use tiny ones). */
  longRecordBytes?: number
  /** Runs the tasks instead of a worker pool (tests: {@link inThreadRunner}). */
  runner?: RangeRunner
  /**
   * This thread frames ranges too, as one of the `threads` (a SharingRunner
   * with `threads - 1` workers): for a caller that only writes the results
   * (logdaemon-cat), not one with work of its own (sql-load's inserts).
   */
  shareThisThread?: boolean
}

/** What runs range tasks: a WorkerPool, or anything of its shape. */
export interface RangeRunner {
  readonly size: number
  run(task: RangeWorkerTask, transfer?: readonly ArrayBuffer[]): Promise<RangeWorkerResult>
  close(): Promise<void>
}

/** Runs range tasks on this thread, one at a time, as `threads` workers would (tests). */
export function inThreadRunner(fd: number, options: RangeOptions, threads = 2): RangeRunner {
  const contexts: (RangeContext | undefined)[] = []
  let next = 0
  return {
    size: threads,
    run: async (task) => {
      const k = next++ % threads
      contexts[k] ??= await loadRangeContext(options)
      return runRangeTask(fd, task, contexts[k])
    },
    close: async () => {},
  }
}

/** One reconciled range: its records are exactly the serial framer's records in [from, stop). */
export interface ReconciledRange {
  from: number
  stop: number
  /** Line number at `from`. */
  line: number
  records: number
  entries: number
  out: Buffer | null
  /** Call once `out` is written and no longer referenced: its memory goes back to the workers. */
  release: () => void
}

/** Where the parallel path stopped short: frame serially from this true record boundary. */
export interface SerialRest {
  offset: number
  line: number
  /**
   * Framing from `offset` failed with this error (malformed or oversize
   * input), found on this thread from the true boundary: the serial
   * framer's own error. The records from `offset` up to the error's offset
   * are whole; the caller frames those, then throws it, without framing
   * the bad record a second time (an oversize one held up to
   * maxEntryBytes again, twice the serial path's memory).
   */
  error?: Error
}

/**
 * Frames the regular file open as `fd` (of `size` bytes, as of its open) in
 * ranges on a worker pool and yields the ranges in file order, reconciled:
 * a range is taken when it started at the true boundary (the previous
 * range's stop), skipped when a record before it already covers its end,
 * and framed again on this thread from the true boundary otherwise (its
 * guess was fooled by a quoted value that holds a line like a record).
 * A range whose last record goes on far past its end (multi-MB records)
 * is framed here too, from the true boundary: one thread at a time holds
 * such a record, not every worker that met one.
 * Returns null when the whole file was framed, or where to go on serially:
 * at the first range that failed from a true boundary (malformed input, an
 * oversize record, the file ending inside a record), so the serial framer
 * reports the error with its exact position after every record before it.
 */
export async function* frameRangesParallel(
  fd: number,
  size: number,
  options: RangeOptions,
  parallel: ParallelRangeOptions,
): AsyncGenerator<ReconciledRange, SerialRest | null> {
  const needLines = options.format === 'json' || options.format === 'row'
  const rangeBytes = Math.max(1, Math.floor(parallel.rangeBytes ?? (needLines ? ENCODED_RANGE_BYTES : RANGE_BYTES)))
  const data: RangeWorkerData = { fd, options }
  /** This thread's own: for ranges framed here (shared, or framed again), made and primed as a worker's when first needed. */
  let context: RangeContext | null = null
  const ownContext = async (): Promise<RangeContext> => {
    if (context === null) {
      // It frames the long records: its buffers for them are kept whatever their size (see BufferCache).
      context = { ...(await loadRangeContext(options)), buffers: new BufferCache(true) }
      primeRangeContext(context)
    }
    return context
  }
  const share = parallel.runner === undefined && parallel.shareThisThread === true
  const workers = (n: number) =>
    new WorkerPool<RangeWorkerTask, RangeWorkerResult>(new URL('./range-worker.js', import.meta.url), n, data, {
      maxYoungGenerationSizeMb: YOUNG_GENERATION_MB,
    })
  // The workers start first, then this thread loads and primes its context while they do (on another
  // core), before the first task: shared ranges run here from the first one.
  const pool: RangeRunner =
    parallel.runner ??
    (share
      ? new SharingRunner(workers(Math.max(1, parallel.threads - 1)), (task) => runRangeTask(fd, task, context as RangeContext))
      : workers(parallel.threads))
  const limit = pool.size * WORKER_QUEUE_DEPTH
  const spans: { start: number; end: number }[] = []
  for (let start = 0; start < size; start += rangeBytes) spans.push({ start, end: Math.min(size, start + rangeBytes) })

  /**
   * The range tasks, in file order. For JSON and row lines each carries its
   * index and the line at the start of the latest range whose lines this
   * thread knows (from the results taken so far): the worker adds the LF
   * counts of the ranges between, which their workers publish as soon as
   * they have read them (LineCounts).
   */
  const counts = needLines ? new LineCounts() : null
  const maxPast = Math.max(0, Math.floor(parallel.longRecordBytes ?? LONG_RECORD_BYTES))
  /** Line at the start of range `index`: known up to the ranges taken so far. */
  let known = { index: 0, line: 1 }
  function* tasks(): Generator<RangeTask> {
    for (let index = 0; index < spans.length; index++) {
      const { start, end } = spans[index] as { start: number; end: number }
      const task: RangeTask = { start, end, size, exact: start === 0, line: start === 0 ? 1 : null, maxPast }
      if (counts) task.counts = { buffer: counts.buffer, index, base: known, rangeBytes }
      yield task
    }
  }
  /**
   * Output buffers the consumer has written, to go back to the workers, one
   * with each task: kept for reuse, never left as garbage here (this thread
   * allocates so little that it would collect them last of all).
   */
  const spares: ArrayBuffer[] = []
  const recycle = (out: Uint8Array | null): void => {
    if (out && out.buffer.byteLength > Buffer.poolSize && out.buffer.byteLength <= KEEP_BYTES && spares.length < limit) spares.push(out.buffer as ArrayBuffer)
  }
  const run = async (task: RangeTask): Promise<{ task: RangeTask; result: RangeResult }> => {
    // One a task: each worker gets back as many as it hands over, whichever worker runs the task.
    const give = spares.length ? [spares.pop() as ArrayBuffer] : []
    const result = (await pool.run({ kind: 'range', ...task, ...(give.length ? { spares: give } : {}) }, give)) as RangeResult
    return { task, result }
  }

  let covered = 0
  let coveredLine = 1
  try {
    if (share) await ownContext()
    let index = -1
    for await (const { task, result } of ordered(tasks(), run, limit)) {
      index++
      if (counts && result.spanLines >= 0) known = { index: index + 1, line: known.line + result.spanLines }
      if (covered >= task.end) {
        recycle(result.out)
        continue
      }
      let taken = result
      if (result.failed || result.long || result.from !== covered) {
        if (result.failed && result.from === covered) return { offset: covered, line: coveredLine }
        recycle(result.out)
        taken = frameRange(fd, { start: covered, end: task.end, size, exact: true, line: coveredLine }, await ownContext())
        if (taken.failed) {
          // Its buffers (a long record's) are no longer needed: collectable while the caller goes on serially.
          context = null
          return { offset: covered, line: coveredLine, ...(taken.error ? { error: taken.error } : {}) }
        }
      }
      const view = taken.out
      const out = view ? Buffer.from(view.buffer, view.byteOffset, view.byteLength) : null
      let released = false
      // What was framed here (long records, ranges framed again) was written into a buffer of its own size
      // (a raw copy, a writer's lines), not a range's: it stays here for the next such range. Handed to a
      // worker it would be too small to read a range into, and the worker would drop a spare that fits to keep
      // it; left to the garbage collector, it piled up (this thread collects rarely: 100 MB of 600 KB records,
      // -j4, peaked at 180 MB against 113 MB so).
      const framedHere = taken !== result
      const release = (): void => {
        // Once: a buffer listed twice would fail the next task's transfer.
        if (!released && framedHere) {
          // Not a slice of Buffer's shared pool (a small writer output): other buffers live in it.
          if (view && view.buffer.byteLength > Buffer.poolSize) context?.buffers.give(view.buffer as ArrayBuffer)
        } else if (!released) recycle(view)
        released = true
      }
      yield { from: taken.from, stop: taken.stop, line: coveredLine, records: taken.records, entries: taken.entries, out, release }
      covered = taken.stop
      coveredLine += taken.lines
    }
    if (covered < size) return { offset: covered, line: coveredLine }
    return null
  } finally {
    await pool.close()
  }
}
