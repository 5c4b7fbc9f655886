import { stat } from 'node:fs/promises'
import { setImmediate as turn } from 'node:timers/promises'
import type { Writable } from 'node:stream'
import { fileChunks, type InflatedChunks } from '../files/gunzip.js'
import { checkFramingError, isFramingError } from '../files/gzip-damage.js'
import { OUT_CHUNK } from '../files/inflater.js'
import { journalNumberOf } from '../files/journal-name.js'
import { JournalEntry } from '../journal/entry.js'
import { createEntryFilter } from '../journal/entry-filter.js'
import { entryToJsonLine } from '../journal/entry-json.js'
import { entryToRowLine } from '../journal/entry-row.js'
import { DEFAULT_MAX_ENTRY_BYTES, JournalFramer } from '../journal/framer.js'
import { JsonLineWriter } from '../journal/json-line-writer.js'
import { RowLineWriter } from '../journal/row-line-writer.js'
import { type ChunkResult, type ChunkTask, type ChunkWorkerTask, runChunkTask } from '../parallel/frame-chunk.js'
import { KEEP_BYTES, loadRangeContext, type RangeContext, type RangeOptions } from '../parallel/frame-range.js'
import { primeChunkContext } from '../parallel/prime.js'
import { SharingRunner } from '../parallel/sharing-runner.js'
import { WORKER_QUEUE_DEPTH, WorkerPool } from '../parallel/worker-pool.js'
import { minParallelBytes, rangeOptionsOf, sharesThisThread } from './cat-file-parallel.js'
import { type CatCounts, type CatOptions, write } from './cat-input.js'

/** Inflated bytes per chunk for raw output: a chunk's fixed costs (messages, the record that spans two chunks) vanish next to framing it. */
export const GZ_CHUNK_BYTES = 1 << 20

/**
 * Inflated bytes per chunk for json and row lines: their output is 2–3
 * times the input, and each worker's heap grows with it (as
 * ENCODED_RANGE_BYTES for plain files).
 */
export const GZ_ENCODED_CHUNK_BYTES = 256 << 10

/** A worker's young generation, in MB (see parallel-ranges.ts: it bounds each worker's garbage). */
const YOUNG_GENERATION_MB = 4

const LF = 0x0a

/** A chunk that no worker framed: this thread frames all of it. */
const NO_GUESS: Omit<ChunkResult, 'data'> = { from: -1, stop: -1, records: 0, entries: 0, lines: 0, out: null, failed: false }

/** What runs chunk tasks: a WorkerPool, or anything of its shape (tests run them on this thread). */
export interface ChunkRunner {
  readonly size: number
  run(task: ChunkWorkerTask, transfer?: readonly ArrayBuffer[]): Promise<ChunkResult>
  /** Tasks posted to a worker at once (default WORKER_QUEUE_DEPTH). */
  readonly depth?: number
  /** Runs a task that waits for a worker on this thread (SharingRunner's `when-idle`); false when none waits. */
  readonly help?: (() => Promise<boolean>) | undefined
  close(): Promise<void>
}

/**
 * When this thread frames only chunks that wait for a worker (`help`), the
 * chunks posted to each worker at once, and the chunks inflated past what
 * the window of `size × depth` holds: this thread inflates while a worker
 * frames, and frames a waiting chunk when the next result is not there.
 * On 2 cores (the short profile's 1 GiB `.gz`, 4 interleaved runs,
 * medians): depth 2 and 4 more 1.38 s, depth 3 and 2 more 1.30 s, 3 and 4
 * 1.23 s, 3 and 6 1.21 s, 4 and 4 1.13 s; 4 and 8, 5 and 4, 6 and 4 no
 * better. Posted 2 at a time, the worker was idle ~30 % of the run.
 * With more workers than one, together they frame faster than this thread
 * inflates, so this thread framing when they are full (`eager`) does not
 * starve them, and `when-idle` only held more memory for no gain
 * (`--threads 4` on that file, 2 runs each: 1.27-1.30 s and 111-112 MB
 * peak RSS `eager`, 1.38-1.44 s and 125-136 MB `when-idle` posting 2 at a
 * time, 172 MB posting 4): they keep `eager`.
 */
const SHARED_CHUNK_DEPTH = 4
const LOOKAHEAD_CHUNKS = 4

export interface GzipParallelOptions {
  threads: number
  /** Inflated bytes per chunk (tests use tiny ones). Default {@link GZ_CHUNK_BYTES}, or {@link GZ_ENCODED_CHUNK_BYTES} for json and row lines. */
  chunkBytes?: number
  /**
   * A smaller file (compressed bytes) takes the serial path. Default: a
   * quarter of {@link minParallelBytes} (journals compress 4-8 times), or a
   * chunk when `chunkBytes` is set (tests).
   */
  minBytes?: number
  /** Compressed bytes read, as they are read (progress). */
  onBytes?: (n: number) => void
  /** Runs the chunk tasks instead of a worker pool (tests). */
  runner?: (options: RangeOptions) => ChunkRunner
  /** Inflates the file instead of `gunzipFileChunks` (tests). */
  source?: (file: string, chunkBytes: number) => InflatedChunks | null
}

/**
 * Whether this thread frames chunks too, as one of the threads, in a `.gz`
 * run: raw output without filters at any thread count (sharesThisThread),
 * and JSON or row lines with one worker (`--threads 2`, the default on 2
 * cores). This thread inflates every chunk, so with as many workers as
 * threads there are more busy threads than cores, and the workers waited
 * on it: `cat --format json` on a `.gz` with two workers left each idle
 * 15-28 % of the run and this thread 65 % (CPU profile, short 200 MB).
 * Sharing `when-idle` (one worker; this thread encodes a waiting chunk only
 * while the result it must write next is not there), 2-3 runs each, before
 * → after: json on short 200 MB 0.79-0.83 → 0.68-0.71 s, 97-99 → 90-93 MB
 * peak RSS; on 1 GiB short 3.05-3.68 → 2.77-2.97 s, default 2.82-3.23 →
 * 2.47-2.65 s; row on 1 GiB short 3.41-3.43 → 3.07-3.18 s, default
 * 3.42-3.62 → 2.87-3.08 s, peak RSS within ±3 MB. Raw output with filters
 * (1 MiB chunks, four held for the worker) was not faster for it and
 * peaked 8-14 MB higher (up to 119 MB): it keeps its workers. With more
 * threads, JSON and row keep theirs too (not measured here: 2 cores).
 */
export function gzipSharesThisThread(options: RangeOptions, threads: number): boolean {
  return sharesThisThread(options) || (threads === 2 && (options.format === 'json' || options.format === 'row'))
}

/**
 * `threads - 1` chunk workers, and this thread as the last one (SharingRunner):
 * it inflates as well, so with as many workers as threads there were more
 * busy threads than cores, and it frames a chunk only when the workers are
 * behind (or not started), which balances the two.
 */
async function sharingChunkRunner(options: RangeOptions, threads: number): Promise<ChunkRunner> {
  const workers = Math.max(1, threads - 1)
  // The workers start first, and this thread loads and primes its context while they do (see frameRangesParallel).
  const pool = workers > 1 ? chunkPool(options, workers) : chunkPool(options, workers, SHARED_CHUNK_DEPTH)
  let context: RangeContext
  try {
    context = await loadRangeContext(options)
  } catch (err) {
    await pool.close()
    throw err
  }
  primeChunkContext(context)
  const here = (task: ChunkWorkerTask): ChunkResult => runChunkTask(task, context)
  return new SharingRunner(pool, here, workers > 1 ? 'eager' : 'when-idle')
}

function chunkPool(options: RangeOptions, workers: number, depth = WORKER_QUEUE_DEPTH): WorkerPool<ChunkWorkerTask, ChunkResult> {
  return new WorkerPool<ChunkWorkerTask, ChunkResult>(
    new URL('../parallel/chunk-worker.js', import.meta.url),
    workers,
    { options },
    { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    depth,
  )
}

function countLf(buf: Buffer, start: number, end: number): number {
  let lines = 0
  for (let i = buf.indexOf(LF, start); i !== -1 && i < end; i = buf.indexOf(LF, i + 1)) lines++
  return lines
}

/**
 * `logdaemon-cat` on a `.gz` file with threads: the file is inflated in
 * chunks (`fileChunks`: by ISA-L on this thread where its addon is built,
 * else by a worker that reads the file itself), a pool of workers frames each chunk from
 * a guessed record start to its last whole record (and filters and
 * encodes the records), and this thread writes the results in order.
 * Returns null, having read nothing, when the file is not for this path
 * (not a regular gzip file, smaller than a chunk, an inflater that is not
 * a threaded one, one thread, --skip-malformed); the caller takes the
 * serial path then.
 *
 * This thread frames, with one serial framer, every byte no worker's
 * result covers: the record that spans two chunks, and a whole chunk
 * whose guess was wrong (a quoted value holding a line like a record
 * start), that failed on a worker (malformed input, an oversize record)
 * or that holds no record start (a huge record). A worker's result is
 * taken only when that framer, fed up to the worker's guessed start, ends
 * a record exactly there: the guess is a true record boundary, and the
 * worker's framing from it is the serial framing. So the output, the
 * counts and the errors (code, message, offset, line: the framer here is
 * fed the serial path's 64 KiB pieces) are the serial path's, and the
 * records before an error, a gzip error included, are written before it.
 *
 * Bounds: at most two chunks per worker and thread are in flight (with
 * raw output, no filter and one worker, where this thread frames only
 * chunks that wait for the worker: four per thread and four more, twelve
 * in all), the inflating runs at most one chunk (here) or five (an inflate
 * worker) ahead, and each write waits for the output to drain: a slow
 * output slows the inflating.
 */
export async function catGzipParallel(file: string, out: Writable, options: CatOptions, parallel: GzipParallelOptions): Promise<CatCounts | null> {
  if (parallel.threads < 2 || options.skipMalformed || file === '-') return null
  const needLines = options.format === 'json' || options.format === 'row'
  const chunkBytes = Math.max(1, Math.floor(parallel.chunkBytes ?? (needLines ? GZ_ENCODED_CHUNK_BYTES : GZ_CHUNK_BYTES)))
  // Smaller, starting the workers costs more than they save: on cuts of the short profile (5 interleaved runs, medians,
  // serial against chunks), raw 4.4 MB compressed took 0.56 s and 0.57 s, 8.9 MB 0.70 s and 0.62 s; json 1 MB 0.55 s and 0.62 s.
  const minBytes = parallel.minBytes ?? (parallel.chunkBytes !== undefined ? chunkBytes : minParallelBytes(options) / 4)
  const found = await stat(file).catch(() => null)
  if (!found?.isFile() || found.size < minBytes) return null
  const chunks = parallel.source
    ? parallel.source(file, chunkBytes)
    : fileChunks(file, { file, chunkBytes, ...(parallel.onBytes ? { onRead: parallel.onBytes } : {}) })
  if (!chunks) return null

  const journal = journalNumberOf(file)
  const rangeOptions = rangeOptionsOf(options, file, journal)
  const maxEntryBytes = options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES
  let pool: ChunkRunner
  try {
    pool =
      parallel.runner?.(rangeOptions) ??
      (gzipSharesThisThread(rangeOptions, parallel.threads)
        ? await sharingChunkRunner(rangeOptions, parallel.threads)
        : chunkPool(rangeOptions, parallel.threads))
  } catch (err) {
    await chunks.return?.()
    throw err
  }
  const limit = pool.size * (pool.depth ?? WORKER_QUEUE_DEPTH) + (pool.help ? LOOKAHEAD_CHUNKS : 0)
  const filter = createEntryFilter(options)
  const rawAll = options.format === 'raw' && !filter

  // What this thread frames: records out of `main`, gathered as catInput gathers them.
  let entries = 0
  const lineWriter =
    options.format === 'json' ? new JsonLineWriter(file, options.encoding) : options.format === 'row' ? new RowLineWriter(file, options.encoding) : null
  let runs: Buffer[] = []
  let runSource: Buffer | null = null
  let runStart = 0
  let runEnd = 0
  const addRaw = (source: Buffer, start: number, end: number): void => {
    if (source === runSource && start === runEnd) {
      runEnd = end
      return
    }
    if (runSource) runs.push(runSource.subarray(runStart, runEnd))
    runSource = source
    runStart = start
    runEnd = end
  }
  /** The end of the last record this thread framed. */
  let lastEnd = 0
  const sink = (source: Buffer, start: number, end: number, offset: number, line: number): void => {
    lastEnd = offset + end - start
    if (filter) {
      const entry = new JournalEntry(source, { journal, offset, end: lastEnd, line }, { encoding: options.encoding, start, end })
      if (!filter(entry)) return
    }
    entries++
    if (lineWriter) lineWriter.add(source, start, end, journal, offset, line)
    else addRaw(source, start, end)
  }
  const flush = async (): Promise<void> => {
    if (lineWriter) {
      // A copy of the lines, not the writer's buffer (take() would start a new 1 MiB one per chunk: mostly a record or two is here).
      const view = lineWriter.takeView()
      if (view) await write(out, Buffer.from(view))
      return
    }
    if (runSource) runs.push(runSource.subarray(runStart, runEnd))
    runSource = null
    if (runs.length) {
      // A copy, even of one run: the chunks' memory goes back to the inflate worker (these are the few records between chunks, mostly).
      const data = Buffer.concat(runs)
      runs = []
      await write(out, data)
    }
  }

  /**
   * Chunk buffers go back to the inflate worker once nothing refers to
   * them: not this thread's framer (a record it holds the start of), nor a
   * write in progress. Uses of each, counted.
   */
  const uses = new Map<ArrayBuffer, number>()
  const hold = (ab: ArrayBuffer): void => void uses.set(ab, (uses.get(ab) ?? 0) + 1)
  const release = (ab: ArrayBuffer): void => {
    const n = (uses.get(ab) ?? 0) - 1
    if (n > 0) {
      uses.set(ab, n)
      return
    }
    uses.delete(ab)
    chunks.recycle(ab)
  }
  /** Chunks the framer here may hold parts of (since it last ended a record at a chunk's end). */
  let held: ArrayBuffer[] = []

  /** The serial framer, from the last true record boundary a worker's result ended at. */
  let main = new JournalFramer({ journal, file, maxEntryBytes })
  const restart = (offset: number, line: number): void => {
    main = new JournalFramer({ offset, line, journal, file, maxEntryBytes })
    lastEnd = offset
  }
  /**
   * Bytes held back from `main` up to the end of a 64 KiB piece of the
   * stream (see `feed`), and their length.
   */
  let deferred: Buffer[] = []
  let deferredBytes = 0
  const pushDeferred = (): void => {
    if (deferred.length === 0) return
    const piece = Buffer.concat(deferred, deferredBytes)
    deferred = []
    deferredBytes = 0
    main.push(piece, sink)
  }
  /**
   * Feeds `buf[start, end)` (at stream offset `at`) to `main`, cut where
   * the serial path's 64 KiB pieces of the stream are cut, and elsewhere
   * (at a chunk's end, at a guess) only where that cannot change an error:
   * the framer checks a record's size so far at the end of each piece, and
   * says it in ERR_ENTRY_TOO_LARGE. Where the record held would pass the
   * limit at such a cut, its bytes are held back and pushed with the rest
   * of their 64 KiB piece.
   */
  const feed = (buf: Buffer, start: number, end: number, at: number): void => {
    for (let p = start; p < end; ) {
      const q = Math.min(end, p + OUT_CHUNK - ((at + p - start) % OUT_CHUNK))
      const aligned = (at + q - start) % OUT_CHUNK === 0
      if (deferred.length > 0 || (!aligned && main.offset - lastEnd + (q - p) > maxEntryBytes)) {
        deferred.push(buf.subarray(p, q))
        deferredBytes += q - p
        if (aligned) pushDeferred()
      } else {
        main.push(buf.subarray(p, q), sink)
      }
      p = q
    }
  }
  /** Nothing of the stream before `main.offset` is held by `main` or here. */
  const idle = (): boolean => !main.pending && deferred.length === 0
  /** The line at the end of what was fed to `main` (its bytes held back here included). */
  const fedLine = (): number => {
    let n = main.line
    for (const piece of deferred) n += countLf(piece, 0, piece.length)
    return n
  }

  /**
   * Chunks go to the workers only while their guesses pay: a chunk whose
   * worker found no record start (inside a record of many chunks), whose
   * guess was wrong, or whose framing failed, is framed here all the same,
   * and the chunks after it would most likely be too. So after one, the
   * chunks are framed here only, one at a time (none is sent to a worker),
   * until this thread ends a record inside one: the stream is back at
   * record starts, and the next chunk goes to a worker again. A huge
   * record (json lines of tens of MB) then costs what the serial path
   * costs, not that plus a worker's scan of each of its chunks, and at most
   * the chunks already in flight are framed twice.
   */
  let serial = false

  /** Output buffers written, going back to the workers, one with each task. */
  const spares: ArrayBuffer[] = []
  const giveBack = (view: Uint8Array): void => {
    const ab = view.buffer as ArrayBuffer
    if (ab.byteLength > Buffer.poolSize && ab.byteLength <= KEEP_BYTES && spares.length < limit) spares.push(ab)
  }

  const window: { task: ChunkTask; result: Promise<ChunkResult>; local: boolean; done: boolean }[] = []
  let offset = 0
  let line = 1
  let afterLf = true
  let inflateError: unknown = null
  let inflated = false
  const submit = (chunk: Buffer): void => {
    const data = chunk.buffer as ArrayBuffer
    const task: ChunkTask = { data, length: chunk.length, offset, line: needLines ? line : null, exact: offset === 0, afterLf }
    afterLf = chunk[chunk.length - 1] === LF
    offset += chunk.length
    if (serial) {
      // Framed here (settle, as a chunk with no guess), which also tells the line after it.
      window.push({ task, result: Promise.resolve({ ...NO_GUESS, data }), local: true, done: true })
      return
    }
    if (needLines) line += countLf(chunk, 0, chunk.length)
    const give = spares.length ? [spares.pop() as ArrayBuffer] : []
    const result = pool.run({ ...task, ...(give.length ? { spares: give } : {}) }, [data, ...give])
    const entry = { task, result, local: false, done: false }
    const settled = (): void => {
      entry.done = true
    }
    result.then(settled, settled)
    window.push(entry)
  }
  /** Takes chunk results in order: a worker's result where it checks out, this thread's framing elsewhere. */
  const settle = async (task: ChunkTask, r: ChunkResult, local: boolean): Promise<void> => {
    const data = Buffer.from(r.data, 0, task.length)
    hold(r.data)
    const start = task.offset
    let fed = 0
    let taken = false
    // The worker's guess is checked by framing up to it here: in the serial
    // pieces, unless an oversize record could be caught at the guess where
    // the serial path would catch it later (its message says how much it saw).
    if (!r.failed && r.from >= 0 && deferred.length === 0 && main.offset - lastEnd + (r.from - start) <= maxEntryBytes) {
      feed(data, 0, r.from - start, start)
      fed = r.from - start
      if (idle()) {
        await flush()
        entries += r.entries
        if (rawAll) {
          if (r.stop > r.from) {
            hold(r.data)
            await write(out, data.subarray(fed, r.stop - start), () => release(r.data))
          }
        } else if (r.out) {
          const view = r.out
          await write(out, Buffer.from(view.buffer, view.byteOffset, view.byteLength), () => giveBack(view))
        }
        restart(r.stop, main.line + r.lines)
        taken = true
        // The framer before held parts of earlier chunks; this one holds nothing yet.
        for (const ab of held) release(ab)
        held = []
        fed = r.stop - start
      }
    }
    feed(data, fed, task.length, start + fed)
    if (local) {
      if (needLines) line = fedLine()
      // A record ended in this chunk: the next one most likely has record starts for a worker to find.
      serial = lastEnd <= start
    } else {
      serial = !taken
    }
    await flush()
    held.push(r.data)
    if (idle()) {
      for (const ab of held) release(ab)
      held = []
    }
  }

  try {
    try {
      for (;;) {
        // While framing here only, a chunk at a time: whether the next goes to a worker depends on this one.
        while (!inflated && window.length < (serial ? 1 : limit)) {
          let step: IteratorResult<Buffer>
          try {
            step = await chunks.next()
          } catch (err) {
            inflateError = err
            inflated = true
            break
          }
          if (step.done) inflated = true
          else {
            submit(step.value)
            // A turn of the event loop: the pool posts a task to its worker, and reads the worker's replies, only
            // on such turns (SharingRunner.run turns first), and this loop otherwise runs on promises already
            // settled (ISA-L inflates here, synchronously; the results in the window were done) without one. It
            // inflated and wrote ten chunks and more while its worker, its replies unread and the new chunks not
            // posted, sat idle: a trace of the default 1 GiB `.gz` had the worker idle 216 ms of 840 in gaps of
            // 2-5 ms, 105 ms with the turn; 5 interleaved runs, cat-raw-gz default 1 GiB 1.01-1.30 s, 93-96 MB
            // peak RSS before, 0.91-1.14 s, 86-88 MB after (short: 0.93-1.05 s, 0.92-0.98 s).
            if (!serial) await turn()
          }
        }
        const next = window.shift()
        if (!next) break
        // Waiting for it: frame the chunks that wait for a worker here meanwhile.
        if (pool.help) while (!next.done && (await pool.help()));
        await settle(next.task, await next.result, next.local)
      }
      // The stream's last piece (the serial path frames it before it sees the stream's end or error).
      pushDeferred()
    } catch (err) {
      if (!isFramingError(err) || err.offset === null) throw err
      // Where framing failed: in the piece `main` was framing (it starts at main.offset, which a failed push leaves
      // there, and ends at the next 64 KiB cut, as the serial path's pieces), not at the failed record's start,
      // which can be in an earlier member that checked out (a record across members, damage in the second).
      const through = Math.max(err.offset + 1, Math.min(offset, (Math.floor(main.offset / OUT_CHUNK) + 1) * OUT_CHUNK))
      if (chunks.verified >= through) throw err
      // Framed before its member was checked: damage the member's CRC-32 would show? (See checkFramingError.)
      await flush()
      throw await checkFramingError(
        err,
        through,
        () => chunks.verified,
        async () => {
          if (inflateError) throw inflateError
          if (inflated) return false
          const step = await chunks.next()
          if (step.done) return false
          chunks.recycle(step.value.buffer as ArrayBuffer)
          return true
        },
      )
    } finally {
      // Whatever was framed before an error is good: it goes out first.
      await flush()
    }
    // The gzip stream's error, after every record before it (the serial path's order).
    if (inflateError) throw inflateError
    const rest = options.allowIncomplete ? main.takePending() : null
    if (rest) {
      const entry = new JournalEntry(
        rest.raw,
        { journal, offset: rest.offset, end: rest.offset + rest.raw.length, line: rest.line },
        { encoding: options.encoding, incomplete: true },
      )
      if (!filter || filter(entry)) {
        entries++
        await write(out, options.format === 'row' ? entryToRowLine(entry, file) : options.format === 'json' ? entryToJsonLine(entry, file) : rest.raw)
      }
    }
    const incomplete = main.incompleteError()
    if (incomplete) throw incomplete
  } finally {
    await chunks.return?.()
    await pool.close()
  }
  return { entries, malformedSkipped: 0, oversizeSkipped: 0 }
}
