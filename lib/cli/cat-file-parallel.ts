import { open, stat } from 'node:fs/promises'
import { Readable, type Writable } from 'node:stream'
import { READ_CHUNK_BYTES, readAligned } from '../files/file-reader.js'
import { journalNumberOf } from '../files/journal-name.js'
import { DEFAULT_MAX_ENTRY_BYTES } from '../journal/framer.js'
import type { RangeOptions } from '../parallel/frame-range.js'
import { frameRangesParallel, RANGE_BYTES, type RangeRunner } from '../parallel/parallel-ranges.js'
import type { CatCounts, CatOptions } from './cat-input.js'
import { write } from './write-out.js'

/**
 * The smallest plain file read in ranges when the workers only frame it
 * (`--format raw`, no filter): below it, starting them (~0.1 s of wall time,
 * loading and priming) costs more than the second core saves, since one
 * thread writes raw records at several hundred MB/s. Measured with
 * `logdaemon-cat` on cuts of the short profile, 5 interleaved runs, medians:
 * 16 MB took 0.35 s serially and 0.39 s in ranges, 32 MB 0.41 s both ways,
 * 64 MB 0.58 s and 0.49 s.
 */
export const MIN_PARALLEL_RAW_BYTES = 32 << 20

/**
 * The same for JSON and row lines, and for filters (each record costs more
 * than raw, so the workers pay for themselves sooner): 4 MB took 0.38 s
 * serially and 0.50 s in ranges, 8 MB 0.47 s and 0.46 s, 16 MB 0.57 s and
 * 0.54 s, 32 MB 0.72 s and 0.62 s. Also what a stream (standard input, a
 * pipe, a `.gz`) encodes on the main thread before its workers start.
 */
export const MIN_PARALLEL_ENCODED_BYTES = 8 << 20

/** The smallest input worth the workers for these options (plain bytes; see the two constants). */
export function minParallelBytes(options: Pick<CatOptions, 'format' | 'tables' | 'ops' | 'where'>): number {
  const filtered = (options.tables?.length ?? 0) > 0 || (options.ops?.length ?? 0) > 0 || (options.where?.length ?? 0) > 0
  return options.format === 'raw' && !filtered ? MIN_PARALLEL_RAW_BYTES : MIN_PARALLEL_ENCODED_BYTES
}

export interface ParallelCatOptions {
  threads: number
  /** Bytes per range. Default {@link RANGE_BYTES}; tests set tiny ones, and then files from two ranges are read in ranges. */
  rangeBytes?: number
  /** How far a range task reads past its end for a long record (tests set tiny ones; see LONG_RECORD_BYTES). */
  longRecordBytes?: number
  /** Sees the bytes of each range as it is written (progress). */
  onBytes?: (n: number) => void
  /** Runs the range tasks instead of a worker pool (tests). */
  runner?: (fd: number, options: RangeOptions) => RangeRunner
}

/** What every worker needs to filter and encode the records of one input, from cat's options. */
export function rangeOptionsOf(options: CatOptions, file: string | null, journal: number | null): RangeOptions {
  return {
    format: options.format,
    encoding: options.encoding,
    tables: options.tables ?? [],
    ops: options.ops ?? [],
    where: options.where ?? [],
    maxEntryBytes: options.maxEntryBytes ?? DEFAULT_MAX_ENTRY_BYTES,
    file,
    journal,
  }
}

/**
 * Whether this thread frames too, as one of the threads (SharingRunner):
 * for raw output without filters. There it otherwise waits for the workers
 * (idle ~90 % of a run): on 2 cores, 200 MB ran ~10 % faster with 1 worker
 * and this thread than with 2 workers (1 GiB about as fast), in 13-18 MB
 * less peak RSS. With json or row lines, or a filter, it made the run
 * slower (row on 1 GiB: 11.0 s against 9.3 s): see docs/design.md.
 */
export function sharesThisThread(options: RangeOptions): boolean {
  return options.format === 'raw' && options.tables.length === 0 && options.ops.length === 0 && options.where.length === 0
}

/**
 * `logdaemon-cat` on a plain regular file with threads: the ranges are
 * framed, filtered and encoded in workers, and written here in file order
 * (each write waits for the output to drain). Returns null, having read
 * nothing, when the file is not for this path (not a regular file, gzip,
 * smaller than {@link minParallelBytes}, or --skip-malformed, which stays serial); the
 * caller then takes the serial path.
 *
 * The file is read up to its size at open: a file that grows meanwhile is
 * read as it was then (a record being appended at that point is incomplete,
 * as the serial path would find it had the writer paused there). Where a
 * range fails from a true record boundary (malformed input, an oversize
 * record, the end inside a record), the rest is framed serially from that
 * boundary, so errors and --allow-incomplete behave exactly as serially.
 */
export async function catFileParallel(file: string, out: Writable, options: CatOptions, parallel: ParallelCatOptions): Promise<CatCounts | null> {
  // Smaller, starting workers costs more than they save (tests' tiny ranges: two ranges, so that every path is reachable).
  const minSize = parallel.rangeBytes !== undefined ? 2 * parallel.rangeBytes : Math.max(2 * RANGE_BYTES, minParallelBytes(options))
  if (parallel.threads < 2 || options.skipMalformed || file === '-') return null
  // Looked at before it is opened: opening a named pipe here and closing it again would cut off its writer.
  const found = await stat(file).catch(() => null)
  if (found && !found.isFile()) return null
  const handle = await open(file, 'r')
  try {
    const stat = await handle.stat()
    const size = stat.size
    if (!stat.isFile() || size < minSize) return null
    const magic = Buffer.alloc(2)
    await handle.read(magic, 0, 2, 0)
    if (magic[0] === 0x1f && magic[1] === 0x8b) return null

    const journal = journalNumberOf(file)
    const rangeOptions = rangeOptionsOf(options, file, journal)
    const runner = parallel.runner?.(handle.fd, rangeOptions)
    const ranges = frameRangesParallel(handle.fd, size, rangeOptions, {
      threads: parallel.threads,
      shareThisThread: sharesThisThread(rangeOptions),
      ...(parallel.rangeBytes !== undefined ? { rangeBytes: parallel.rangeBytes } : {}),
      ...(parallel.longRecordBytes !== undefined ? { longRecordBytes: parallel.longRecordBytes } : {}),
      ...(runner ? { runner } : {}),
    })
    let entries = 0
    let rest
    try {
      let step = await ranges.next()
      while (!step.done) {
        const range = step.value
        entries += range.entries
        if (range.out) await write(out, range.out, range.release)
        parallel.onBytes?.(range.stop - range.from)
        step = await ranges.next()
      }
      rest = step.value
    } finally {
      // A failed write (a closed output) stops the workers before the file is closed under them.
      await ranges.return(null)
    }
    if (!rest) return { entries, malformedSkipped: 0, oversizeSkipped: 0 }
    // From the first range that failed at a true boundary: serially, up to the size at open.
    // Loaded only now: the serial path's modules (gzip, the entry decoder) cost every parallel run start-up time otherwise.
    const { catInput } = await import('./cat-input.js')
    // Framing already failed here with the serial framer's error: the records up to it, then the error (the bad record
    // is not framed again: an oversize one would be held a second time).
    const failedAt = (rest.error as { offset?: unknown } | undefined)?.offset
    const until = typeof failedAt === 'number' && failedAt >= rest.offset && failedAt <= size ? failedAt : size
    const input = Readable.from(readAligned(handle, rest.offset, until, READ_CHUNK_BYTES, { file, journal }), { objectMode: false })
    const counts = await catInput(input, file, out, options, { offset: rest.offset, line: rest.line })
    if (until < size) throw rest.error
    parallel.onBytes?.(size - rest.offset)
    return { ...counts, entries: entries + counts.entries }
  } finally {
    await handle.close()
  }
}
