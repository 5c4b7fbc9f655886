import { readSync } from 'node:fs'
import type { FieldEncoding } from '../journal/entry.js'
import type { WhereClause } from '../journal/entry-filter.js'
import { DEFAULT_MAX_ENTRY_BYTES, JournalFramer, type RecordSink } from '../journal/framer.js'
import type { RowPayload } from '../listeners/builtin/sql/row-batch-writer.js'

const AT = 0x40
const LF = 0x0a
const SP = 0x20

/**
 * Bytes read past a range's end at a time while its last record goes on:
 * small, since every record after the one that ends past the range is read
 * and framed for nothing (most records are under 1 KiB; the reads double
 * up to 1 MiB for a long one).
 */
const TAIL_BYTES = 4 * 1024

/**
 * Bytes a range (or a `.gz` chunk) hands its framer at a time. Priming
 * leaves the scan loop's optimized code to a compiler thread, which
 * finishes while the thread's first range runs; pushed whole (1 MiB), that
 * range ran to its end in the slower code V8 had before (17–23 ms against
 * 1.5–2 ms for the next ones, --trace-osr: the loop compiled again for
 * on-stack replacement, 13–15 ms of a compiler thread); in 128 KiB pieces
 * the next piece enters the optimized code: 8–14 ms (short 200 MB, 3 runs
 * each; 32 KiB pieces no better). A record cut by a piece's end is handed
 * on as one view (the framer joins pieces that lie end to end in one
 * buffer without a copy); later ranges ran no slower.
 */
export const PUSH_BYTES = 128 << 10

/** Pushes `bytes` to `framer` in pieces of PUSH_BYTES. */
export function pushInPieces(framer: JournalFramer, bytes: Buffer, sink: RecordSink): void {
  for (let at = 0; at < bytes.length; at += PUSH_BYTES) framer.push(bytes.subarray(at, Math.min(bytes.length, at + PUSH_BYTES)), sink)
}

/**
 * How far past its end a range task reads to finish its last record, by
 * default: a record that goes on further is left to the consumer's thread
 * (the result says `long`), which frames it once, from the true boundary.
 * Without it every worker holding the start of a multi-MB record grew a
 * buffer of that record's size (doubling, the old ones left as garbage in
 * its own heap), all at once: on 100 MB of 4 MiB records, `logdaemon-cat
 * -j4` peaked at 237 MB RSS against 95 MB serially.
 */
export const LONG_RECORD_BYTES = 256 << 10

/**
 * The first buffer a frame without a limit grows to for a long record, at
 * most (see frameRange): a record up to the default maxEntryBytes fits,
 * and a larger limit (up to 4 GiB) does not reserve that much address
 * space for every long record.
 */
const LONG_FRAME_ROOM = DEFAULT_MAX_ENTRY_BYTES + (4 << 20)

/** What a range produces besides its boundaries; the same for every range of a run. */
export interface RangeOptions {
  /** `none`: frame only (count); `raw`: the records' bytes; `json`/`row`: their lines; `sql`: their SQL rows (`sql load`: RowBatchWriter). */
  format: 'none' | 'raw' | 'json' | 'row' | 'sql'
  /** For `sql`: the tables loaded, and how the rows are written. */
  sql?: { payload: RowPayload; tables: readonly string[]; exclude: readonly string[]; maxKeyBytes?: number }
  encoding: FieldEncoding
  tables: readonly string[]
  ops: readonly string[]
  where: readonly WhereClause[]
  maxEntryBytes: number
  /** The name in JSON lines and errors (null for none). */
  file: string | null
  journal: number | null
}

/** One range: frame the records from a start in [start, end) to the first record end at or past `end`. */
export interface RangeTask {
  start: number
  end: number
  /** The file's size at open: nothing past it is read. */
  size: number
  /** `start` is a true record start: frame from it, no guess. */
  exact: boolean
  /** The line number at `start`, when known (JSON and row lines need it); else from `counts`, else lines are relative. */
  line: number | null
  /**
   * The line number at `start` from the ranges' LF counts, when `line` is
   * null and lines are wanted: this range is number `index` of the run,
   * and the line at the start of range `base.index` (at or before it) is
   * `base.line`. The range publishes its own count in `counts` as soon as
   * it has read its bytes, and waits for those of ranges base.index to
   * index - 1 (see {@link LineCounts}): one read of each range, no pass
   * to count lines first.
   */
  counts?: { buffer: SharedArrayBuffer; index: number; base: { index: number; line: number }; rangeBytes: number }
  /**
   * At most this many bytes are read past `end` to finish the last record;
   * when it goes on further, the range gives up (`long`). Unlimited when
   * absent (the consumer's own framing from a true boundary).
   */
  maxPast?: number
}

/** What a range found. */
export interface RangeResult {
  /** Where framing started: the guessed (or, when exact, given) record start; -1 when no guess fit in the range. */
  from: number
  /** The end of the last record framed: the first record end at or past the task's end, or the size. */
  stop: number
  /** Records framed in [from, stop). */
  records: number
  /** Records kept by the filters (all when none). */
  entries: number
  /** LF bytes in [from, stop). */
  lines: number
  /** LF bytes in the task's [start, end) (or to the end of the file), when it had `counts`; else -1. */
  spanLines: number
  /** The output: the records' bytes (raw) or their lines; null when empty or framing only. */
  out: Uint8Array | null
  /**
   * Framing from `from` failed (malformed or oversize input) or the input
   * ended inside a record: the records are not given, and the caller, when
   * `from` is the true boundary, frames serially from it to learn the exact
   * error after delivering every record before it.
   */
  failed: boolean
  /**
   * The framing error, when `failed` on one: only for a frame from a true
   * record start with no `maxPast` (the consumer's own, on its thread;
   * never sent between threads). It is the serial framer's error there:
   * the records from `from` up to its offset are whole.
   */
  error?: Error
  /**
   * The last record went on past `end` by more than the task's `maxPast`:
   * the range gave up, its records are not given, and the caller frames it
   * from the true boundary itself.
   */
  long: boolean
}

/** Reads `length` bytes at `position` into `buf` at `at`; fewer only at the end of the file. */
function readFully(fd: number, buf: Buffer, at: number, length: number, position: number): number {
  let done = 0
  while (done < length) {
    const n = readSync(fd, buf, at + done, length - done, position + done)
    if (n === 0) break
    done += n
  }
  return done
}

function countLf(buf: Buffer, start: number, end: number): number {
  let lines = 0
  for (let i = buf.indexOf(LF, start); i !== -1 && i < end; i = buf.indexOf(LF, i + 1)) lines++
  return lines
}

/**
 * The LF count of each range of a run, in a SharedArrayBuffer every thread
 * of the run sees: a ring of {@link LineCounts.SLOTS} slots, each a count
 * and the number of the range it is for, plus one. A range's worker writes
 * its count once it has read the range, before framing it; a range that
 * needs the count of an earlier one that no thread has written yet (its
 * worker is busy with a range before it, or not started) reads and counts
 * that range itself and writes it: a thread never waits for another. The
 * ranges in flight (2 per thread, at most 32) are far fewer than the
 * slots, so a slot is not reused while a range may still read it.
 */
export class LineCounts {
  static readonly SLOTS = 4096
  readonly buffer: SharedArrayBuffer
  readonly #tags: Int32Array
  readonly #counts: Int32Array

  constructor(buffer: SharedArrayBuffer = new SharedArrayBuffer(LineCounts.SLOTS * 8)) {
    this.buffer = buffer
    this.#tags = new Int32Array(buffer, 0, LineCounts.SLOTS)
    this.#counts = new Int32Array(buffer, LineCounts.SLOTS * 4, LineCounts.SLOTS)
  }

  /** Range `index` holds `count` LF bytes (any thread that counts it writes the same). */
  publish(index: number, count: number): void {
    const slot = index % LineCounts.SLOTS
    Atomics.store(this.#counts, slot, count)
    Atomics.store(this.#tags, slot, index + 1)
  }

  /** The count of range `index`, or null when no thread has written it yet. */
  get(index: number): number | null {
    const slot = index % LineCounts.SLOTS
    const tag = Atomics.load(this.#tags, slot)
    if (tag === index + 1) return Atomics.load(this.#counts, slot)
    if (tag > index + 1) throw new Error(`the line count of range ${index} was overwritten before it was read`)
    return null
  }
}

/** The line at the start of range `task.counts.index`: from the base, adding the counts between (counting those not yet written). */
function lineFromCounts(fd: number, task: RangeTask, counts: LineCounts, buffers: BufferCache): number {
  const { index, base, rangeBytes } = task.counts as NonNullable<RangeTask['counts']>
  let line = base.line
  for (let k = base.index; k < index; k++) {
    let n = counts.get(k)
    if (n === null) {
      const start = k * rangeBytes
      const end = Math.min(task.size, start + rangeBytes)
      const buf = buffers.counting(end - start)
      n = countLf(buf, 0, readFully(fd, buf, 0, end - start, start))
      counts.publish(k, n)
    }
    line += n
  }
  return line
}

/**
 * Whether a record looks like it starts at `p`: after a LF, `@op@ ` with a
 * short op of ASCII letters (p4d's are lower case; the format says to take
 * unknown ops as they come, and a journal of upper-case ones had no guess
 * match and was framed twice, twice as slow as serially). Only a guess (a
 * damaged journal can hold such a line inside a value); a wrong one is
 * caught when the ranges are joined.
 */
export function looksLikeStart(buf: Buffer, p: number, n: number): boolean {
  if (buf[p] !== AT || buf[p - 1] !== LF) return false
  let i = p + 1
  const opEnd = Math.min(n, p + 10)
  while (i < opEnd) {
    const c = buf[i] as number
    if (c === AT) return i > p + 1 && buf[i + 1] === SP
    // ASCII letters: a lower-case bit set on them folds A-Z onto a-z.
    const folded = c | 0x20
    if (folded < 0x61 || folded > 0x7a) return false
    i++
  }
  return false
}

/**
 * Whether the record `source[start..end)`, at `offset` and `line`, is kept
 * by the filters (range-context.ts makes one from the options).
 */
export type RecordTest = (source: Buffer, start: number, end: number, offset: number, line: number) => boolean

/** What writes the kept records as lines: a JsonLineWriter or a RowLineWriter. */
export interface LineWriter {
  add(source: Buffer, start: number, end: number, journal: number | null, offset: number, line: number): void
  take(next?: Buffer): Buffer | null
  takeView(): Buffer | null
}

/**
 * Whether a run needs more than the framer: a line writer (JSON, row) or
 * the filters, with the entry decoding and the schema they bring. Without,
 * a thread loads only this module and the framer (a worker starts sooner).
 */
export function needsCodecs(options: RangeOptions): boolean {
  return (
    options.format === 'json' ||
    options.format === 'row' ||
    options.format === 'sql' ||
    options.tables.length > 0 ||
    options.ops.length > 0 ||
    options.where.length > 0
  )
}

/** The context of a run with no writer and no filters (raw or framing only): see {@link needsCodecs}. */
export function plainRangeContext(options: RangeOptions): RangeContext {
  if (needsCodecs(options)) throw new TypeError('a run with filters or line output needs rangeContext (range-context.ts)')
  return makeRangeContext(options, null, null)
}

/**
 * What a thread needs once per run: loads the writers and filters only when
 * the options ask for them, and of the writers only the one the run uses
 * (a JSON run without filters loads neither the row writer nor the
 * filters: 5 modules fewer, ~6 ms less CPU for each worker to start,
 * measured with 2 workers, 20 runs, median).
 */
export async function loadRangeContext(options: RangeOptions): Promise<RangeContext> {
  if (!needsCodecs(options)) return plainRangeContext(options)
  if (options.tables.length === 0 && options.ops.length === 0 && options.where.length === 0) {
    if (options.format === 'json') {
      const { JsonLineWriter } = await import('../journal/json-line-writer.js')
      return makeRangeContext(options, null, new JsonLineWriter(options.file, options.encoding))
    }
    if (options.format === 'row') {
      const { RowLineWriter } = await import('../journal/row-line-writer.js')
      return makeRangeContext(options, null, new RowLineWriter(options.file, options.encoding))
    }
  }
  const { rangeContext } = await import('./range-context.js')
  return rangeContext(options)
}

/** A context from its parts (range-context.ts builds them from the options). */
export function makeRangeContext(options: RangeOptions, filter: RecordTest | null, writer: LineWriter | null): RangeContext {
  return { options, filter, buffers: new BufferCache(), writer, range: new RangeSink(options, filter, writer) }
}

export interface RangeContext {
  options: RangeOptions
  filter: RecordTest | null
  buffers: BufferCache
  /** One writer for every range of the thread (a new one per range would allocate its buffer anew). */
  writer: LineWriter | null
  /** What the framer hands each record to, for every range of the thread. */
  range: RangeSink
}

/**
 * The records of one range as the framer hands them over: counted up to
 * the first one that ends at or past the range's end, filtered, and written
 * (line writers) or gathered as runs of adjacent records (raw with
 * filters). One per thread, reset for each range: its `sink` is the same
 * function for every range, so the framer's optimized code, which inlines
 * the call, stays valid (a new closure per range made V8 throw that code
 * away at the next range: "wrong call target", then compile it again).
 */
export class RangeSink {
  readonly #journal: number | null
  readonly #filter: RecordTest | null
  readonly #writer: LineWriter | null
  /** Every record is kept and nothing is written per record (raw or framing only, no filters). */
  readonly #keepAll: boolean
  readonly #raw: boolean
  /** The range's end: the record that ends at or past it is the last. */
  #end = 0
  /** The end of the last record, once it is seen; else -1. */
  stop = -1
  records = 0
  entries = 0
  /** The last record seen, to count its lines once at the end. */
  lastSource: Buffer = Buffer.alloc(0)
  lastStart = 0
  lastEnd = 0
  lastLine = 1
  /** Raw output with filters: the kept records, as runs of adjacent ones. */
  #runs: Buffer[] = []
  #runSource: Buffer | null = null
  #runStart = 0
  #runEnd = 0
  readonly sink: RecordSink

  constructor(options: RangeOptions, filter: RecordTest | null, writer: LineWriter | null) {
    this.#journal = options.journal
    this.#filter = filter
    this.#writer = writer
    this.#keepAll = !filter && (options.format === 'raw' || options.format === 'none')
    this.#raw = options.format === 'raw'
    this.sink = (source, s, e, offset, recLine) => this.#add(source, s, e, offset, recLine)
  }

  /** Starts a range that ends at `end`, framed from `line` in `buf`. */
  reset(end: number, line: number, buf: Buffer): void {
    this.#end = end
    this.stop = -1
    this.records = 0
    this.entries = 0
    this.lastSource = buf
    this.lastStart = 0
    this.lastEnd = 0
    this.lastLine = line
    this.#runs = []
    this.#runSource = null
  }

  /** The runs of kept records (raw with filters), ending the last one. */
  takeRuns(): Buffer[] {
    if (this.#runSource) this.#runs.push(this.#runSource.subarray(this.#runStart, this.#runEnd))
    this.#runSource = null
    const runs = this.#runs
    this.#runs = []
    return runs
  }

  #add(source: Buffer, s: number, e: number, offset: number, recLine: number): void {
    if (this.stop >= 0) return
    this.records++
    this.lastSource = source
    this.lastStart = s
    this.lastEnd = e
    this.lastLine = recLine
    const recEnd = offset + e - s
    if (recEnd >= this.#end) this.stop = recEnd
    if (this.#keepAll) {
      this.entries++
      return
    }
    const filter = this.#filter
    if (filter && !filter(source, s, e, offset, recLine)) return
    this.entries++
    const writer = this.#writer
    if (writer) writer.add(source, s, e, this.#journal, offset, recLine)
    else if (this.#raw) {
      if (source === this.#runSource && s === this.#runEnd) this.#runEnd = e
      else {
        if (this.#runSource) this.#runs.push(this.#runSource.subarray(this.#runStart, this.#runEnd))
        this.#runSource = source
        this.#runStart = s
        this.#runEnd = e
      }
    }
  }
}

/** Output buffers are sized in steps of this (with 1/16 to spare), so a returned one fits the next range's output. */
const OUTPUT_STEP = 64 << 10
/** Returned output buffers a thread keeps for reuse (it gets one with each task, and uses one for each). */
const SPARES = 4

/**
 * The largest buffer a thread keeps for reuse. A huge record (up to the
 * 64 MiB limit) needs a buffer of its size once; kept, each thread would
 * hold one for the rest of the run.
 */
export const KEEP_BYTES = 4 << 20

/**
 * A thread's buffers, reused: dead buffers are freed only when V8 collects
 * their (tiny) owner objects, and a thread that allocates a range's worth
 * of buffers per range and little else holds tens of MB of them meanwhile
 * (measured: 1 MiB ranges peaked at 92 MB RSS on one thread). So the read
 * buffer is kept, and output buffers, once written, come back from the
 * main thread as spares (the main thread sends back every one it wrote:
 * it allocates so little that it would collect them last of all).
 */
export class BufferCache {
  #scratch: Buffer | null = null
  #counting: Buffer | null = null
  readonly #spares: ArrayBuffer[] = []
  readonly #keepLong: boolean
  /** The thread that frames long records: its one output buffer over {@link KEEP_BYTES}, back from its consumer. */
  #long: ArrayBuffer | null = null

  /**
   * @param keepLong this thread frames the long records (see
   * {@link LONG_RECORD_BYTES}): its read buffer is kept whatever its size,
   * and so is its largest output buffer. Else each long record took a new
   * read buffer, grown by doubling, and a new output buffer of its size: on
   * 100 MB of 16 MiB records, 125 MB of array buffers waiting for the
   * garbage collector on that thread.
   */
  constructor(keepLong = false) {
    this.#keepLong = keepLong
  }

  /** The thread's read buffer, at least `n` bytes (its contents are the caller's until the next call). */
  scratch(n: number): Buffer {
    if (n > KEEP_BYTES && !this.#keepLong) return Buffer.allocUnsafeSlow(n)
    if (!this.#scratch || this.#scratch.length < n) this.#scratch = Buffer.allocUnsafeSlow(n)
    return this.#scratch
  }

  /** A second read buffer, for counting the lines of another range while the scratch one holds this range. */
  counting(n: number): Buffer {
    if (n > KEEP_BYTES) return Buffer.allocUnsafeSlow(n)
    if (!this.#counting || this.#counting.length < n) this.#counting = Buffer.allocUnsafeSlow(n)
    return this.#counting
  }

  /** A buffer of at least `n` bytes over all of an ArrayBuffer it owns (so it can be transferred): a spare when one fits. */
  output(n: number): Buffer {
    const i = this.#spares.findIndex((b) => b.byteLength >= n)
    if (i >= 0) return Buffer.from(this.#spares.splice(i, 1)[0] as ArrayBuffer)
    const long = this.#long
    if (long && long.byteLength >= n) {
      this.#long = null
      return Buffer.from(long)
    }
    return Buffer.allocUnsafeSlow(Math.ceil((n + (n >> 4)) / OUTPUT_STEP) * OUTPUT_STEP)
  }

  /** The largest spare (for a line writer to write its next lines in), if any. */
  largest(): Buffer | undefined {
    const long = this.#long
    if (long) {
      this.#long = null
      return Buffer.from(long)
    }
    if (this.#spares.length === 0) return undefined
    let best = 0
    for (let i = 1; i < this.#spares.length; i++) if ((this.#spares[i] as ArrayBuffer).byteLength > (this.#spares[best] as ArrayBuffer).byteLength) best = i
    return Buffer.from(this.#spares.splice(best, 1)[0] as ArrayBuffer)
  }

  /** An output buffer back from its consumer (kept, or left to the garbage collector when enough are). */
  give(spare: ArrayBuffer): void {
    if (spare.byteLength > KEEP_BYTES) {
      if (this.#keepLong && spare.byteLength > (this.#long?.byteLength ?? 0)) this.#long = spare
      return
    }
    if (this.#spares.length < SPARES && spare.byteLength > 0) this.#spares.push(spare)
  }
}

/**
 * Frames one range of the file open as `fd` (positional reads: any thread
 * may share the fd). See {@link RangeTask} and {@link RangeResult}. The
 * range is read once, into one buffer that grows while the last record
 * goes on past the range; raw output without filters is that buffer
 * itself (handed over, not copied), and line writers write into buffers
 * that come back as spares.
 */
export function frameRange(fd: number, task: RangeTask, context: RangeContext): RangeResult {
  const { options, filter } = context
  const { start, end, size } = task
  const format = options.format
  const keepAll = !filter && (format === 'raw' || format === 'none')
  // From one byte before the range, to see whether its first byte follows a LF.
  const bufStart = start > 0 ? start - 1 : 0
  const spanEnd = Math.min(end, size)
  const want = spanEnd + Math.min(64, size - spanEnd) - bufStart
  // Raw output without filters is the bytes read: read them into a buffer that can be handed over
  // (not for a frame without a limit, which may be a long record's: read into the kept buffer and copied out).
  const direct = keepAll && format === 'raw' && task.maxPast !== undefined
  // Room for a first read past the range (the last record usually ends within it); with a limit (up to the default), room
  // for all it may read: a range that gives up on a long record then leaves no grown buffer behind as garbage.
  const firstRoom = want + Math.max(TAIL_BYTES, Math.min(task.maxPast ?? 0, LONG_RECORD_BYTES))
  let buf = direct ? context.buffers.output(firstRoom) : context.buffers.scratch(firstRoom)
  const got = readFully(fd, buf, 0, want, bufStart)
  let spanLines = -1
  let startLine = task.line
  if (task.counts) {
    const counts = new LineCounts(task.counts.buffer)
    spanLines = countLf(buf, start - bufStart, Math.min(spanEnd - bufStart, got))
    counts.publish(task.counts.index, spanLines)
    if (startLine === null) startLine = lineFromCounts(fd, task, counts, context.buffers)
  }
  let from = -1
  if (task.exact || start === 0) {
    from = start
  } else {
    for (let i = buf.indexOf(LF, 0); i !== -1 && i + 1 < got && bufStart + i + 1 < end; i = buf.indexOf(LF, i + 1)) {
      if (looksLikeStart(buf, i + 1, got)) {
        from = bufStart + i + 1
        break
      }
    }
  }
  const none: RangeResult = { from, stop: from, records: 0, entries: 0, lines: 0, spanLines, out: null, failed: false, long: false }
  if (from < 0 || from >= size) {
    // No record starts here (inside a long record): the output buffer goes back for the next range, not to garbage.
    if (direct) context.buffers.give(buf.buffer as ArrayBuffer)
    return none
  }
  const line = startLine === null ? 1 : startLine + countLf(buf, start - bufStart, from - bufStart)

  const maxEntryBytes = options.maxEntryBytes || DEFAULT_MAX_ENTRY_BYTES
  const framer = new JournalFramer({
    offset: from,
    line,
    maxEntryBytes,
    journal: options.journal,
    file: options.file,
  })
  const writer = context.writer
  // Lines of a range that failed before are not this range's.
  writer?.takeView()
  const state = context.range
  state.reset(end, line, buf)
  const sink = state.sink

  /** Bytes of the file in buf, from bufStart: the head, then what was read past it while the last record went on. */
  let filled = got
  try {
    const inRange = Math.min(end, bufStart + got) - from
    pushInPieces(framer, buf.subarray(from - bufStart, from - bufStart + inRange), sink)
    if (state.stop < 0 && from + inRange < bufStart + got) framer.push(buf.subarray(from - bufStart + inRange, got), sink)
    let pos = bufStart + got
    let chunkBytes = TAIL_BYTES
    const readUpTo = task.maxPast === undefined ? size : Math.min(size, spanEnd + task.maxPast)
    while (state.stop < 0 && pos < size) {
      if (pos >= readUpTo) {
        // A long record: the caller frames it.
        if (direct) context.buffers.give(buf.buffer as ArrayBuffer)
        return { ...none, long: true }
      }
      const want = Math.min(chunkBytes, readUpTo - pos)
      if (filled + want > buf.length) {
        // A bigger buffer (kept as the thread's read buffer, or handed over); the records framed so far keep views of the old one, which stays as it is.
        // Doubled, not grown by the read: a huge record would otherwise be copied once a read (1 MiB), its size squared in garbage.
        // Without a limit (the consumer's own frame of a long record): at once all that a record within maxEntryBytes
        // can need (the range's bytes, the record, one more read; past it the framer has thrown), up to
        // LONG_FRAME_ROOM, then doubled. Only the pages read into are memory. Doubled from the start, each grown
        // buffer left the one before as garbage, which this thread, allocating little else, did not collect: a
        // record over the 64 MiB limit held 64 + 32 + 16 … MiB at once (a probe: 231-299 MB peak RSS with threads,
        // 127 MB serially).
        const most = spanEnd - bufStart + maxEntryBytes + (1 << 20)
        const room = Math.max(filled + want, task.maxPast === undefined ? Math.min(most, Math.max(buf.length * 2, LONG_FRAME_ROOM)) : buf.length * 2)
        const bigger = direct ? context.buffers.output(room) : context.buffers.scratch(room)
        buf.copy(bigger, 0, 0, filled)
        // The record's bytes held so far now come from the bigger buffer: the old one is not kept for them, nor copied once more when the record ends.
        framer.moveHeld(buf, bigger)
        buf = bigger
      }
      const n = readFully(fd, buf, filled, want, pos)
      if (n === 0) break
      framer.push(buf.subarray(filled, filled + n), sink)
      filled += n
      pos += n
      chunkBytes = Math.min(chunkBytes * 2, 1 << 20)
    }
    if (state.stop < 0) {
      // The end of the file (as of its size at open, or earlier when it shrank): it must end a record.
      if (framer.pending || pos < size) return { ...none, failed: true }
      state.stop = pos
    }
  } catch (err) {
    // An error past the stop belongs to the next range.
    if (state.stop < 0) {
      if (isFramingError(err)) return { ...none, failed: true, ...(task.exact && task.maxPast === undefined ? { error: err as Error } : {}) }
      throw err
    }
  }
  const { stop, records, entries } = state
  const lines = records === 0 ? 0 : state.lastLine - line + countLf(state.lastSource, state.lastStart, state.lastEnd)
  const result: RangeResult = { from, stop, records, entries, lines, spanLines, out: null, failed: false, long: false }
  if (format === 'none') return result
  if (writer) result.out = writer.take(context.buffers.largest())
  // Every byte in [from, stop) belongs to a record, and buf holds them all.
  else if (direct) result.out = buf.subarray(from - bufStart, stop - bufStart)
  else if (keepAll) {
    const out = context.buffers.output(stop - from)
    buf.copy(out, 0, from - bufStart, stop - bufStart)
    result.out = out.subarray(0, stop - from)
  } else {
    const runs = state.takeRuns()
    result.out = runs.length ? concat(runs, context.buffers) : null
  }
  return result
}

/** A framing error a range or chunk hands back to the serial framer (malformed, oversize). */
export function isFramingError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code
  return code === 'ERR_JOURNAL_MALFORMED' || code === 'ERR_ENTRY_TOO_LARGE'
}

/** `parts` joined into an output buffer. */
export function concat(parts: readonly Uint8Array[], buffers: BufferCache): Buffer {
  let n = 0
  for (const p of parts) n += p.length
  const out = buffers.output(n).subarray(0, n)
  let o = 0
  for (const p of parts) {
    out.set(p, o)
    o += p.length
  }
  return out
}

/**
 * Whole records framed elsewhere (a stream the main thread frames: stdin,
 * a pipe, inflated gzip), to be filtered and encoded here: `data` holds
 * `length` bytes of adjacent records, the first at `offset` and `line`.
 */
export interface RecordsTask {
  data: ArrayBuffer
  length: number
  offset: number
  line: number
}

/** What {@link encodeRecords} made of a {@link RecordsTask}. */
export interface RecordsResult {
  /** Records kept by the filters. */
  entries: number
  /** Their lines; null when none was kept. */
  out: Uint8Array | null
  /** The task's buffer, handed back (the main thread reuses it for a later batch). */
  data?: ArrayBuffer
}

/**
 * Frames the records of `task` again (they are whole and adjacent, so this
 * is exact and cannot fail on input the main thread framed) and writes the
 * kept ones with the context's writer.
 */
export function encodeRecords(task: RecordsTask, context: RangeContext): RecordsResult {
  const { options, filter, writer } = context
  if (!writer) throw new TypeError(`encodeRecords writes json or row lines, not ${options.format}`)
  writer.takeView()
  const framer = new JournalFramer({
    offset: task.offset,
    line: task.line,
    maxEntryBytes: options.maxEntryBytes || DEFAULT_MAX_ENTRY_BYTES,
    journal: options.journal,
    file: options.file,
  })
  let entries = 0
  framer.push(Buffer.from(task.data, 0, task.length), (source, s, e, offset, line) => {
    if (filter && !filter(source, s, e, offset, line)) return
    entries++
    writer.add(source, s, e, options.journal, offset, line)
  })
  if (framer.pending) throw new Error(`a batch of records at offset ${task.offset} ends inside a record`)
  // The batch's buffer goes back with the lines, for the main thread to fill again.
  return { entries, out: writer.take(context.buffers.largest()), data: task.data }
}

/** A task for a range worker; `spares` are output buffers the main thread has written and gives back for reuse. */
export type RangeWorkerTask = (({ kind: 'range' } & RangeTask) | ({ kind: 'records' } & RecordsTask)) & {
  spares?: ArrayBuffer[]
}
export type RangeWorkerResult = ({ kind: 'range' } & RangeResult) | ({ kind: 'records' } & RecordsResult)
/** What every range worker of a run gets. */
export interface RangeWorkerData {
  fd: number
  options: RangeOptions
}

/** Runs one task (in a worker, or on this thread for tests and small runs). */
export function runRangeTask(fd: number, task: RangeWorkerTask, context: RangeContext): RangeWorkerResult {
  if (task.spares) for (const spare of task.spares) context.buffers.give(spare)
  if (task.kind === 'records') return { kind: 'records', ...encodeRecords(task, context) }
  return { kind: 'range', ...frameRange(fd, task, context) }
}
