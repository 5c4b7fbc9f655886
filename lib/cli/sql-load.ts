import { createReadStream } from 'node:fs'
import { type FileHandle, open, stat } from 'node:fs/promises'
import { basename } from 'node:path'
import { Readable, type Writable } from 'node:stream'
import { ErrorCodes, LogdaemonError, isLogdaemonError, toError } from '../errors.js'
import { CheckpointEnds, checkWhole, wholeCheckpointSize } from '../files/checkpoint-ends.js'
import { FileReader, readAligned, shrunkError } from '../files/file-reader.js'
import type { FieldEncoding, JournalEntry } from '../journal/entry.js'
import { createJournalReader } from '../journal/read-journal.js'
import { formatPosition, type JournalPosition } from '../position.js'
import { openAdapter } from '../listeners/builtin/sql/open-adapter.js'
import { Replica, foreignWhat } from '../listeners/builtin/sql/replica.js'
import { bulkColumnsOf, readSegments, RowBatchWriter, SEGMENT_UNMAPPED, UNMAPPED_COLUMNS } from '../listeners/builtin/sql/row-batch-writer.js'
import type { ColumnSpec } from '../listeners/builtin/sql/sql-adapter.js'
import { sqlLayoutOf, type SqlLayout } from '../listeners/builtin/sql/sql-layout.js'
import { POSITION_TABLE, UNMAPPED_TABLE } from '../listeners/builtin/sql/replica-ddl.js'
import { parseSqlUrl, type SqlTarget } from '../listeners/builtin/sql/sql-url.js'
import { DEFAULT_MAX_ENTRY_BYTES } from '../journal/framer.js'
import type { RangeOptions } from '../parallel/frame-range.js'
import type { RangeRunner } from '../parallel/parallel-ranges.js'
import { defaultThreads } from '../parallel/worker-pool.js'
import type { ProgressReporter } from './progress.js'

/**
 * Bytes per range a worker frames and maps with threads: its batch of rows
 * (about the size of the range) is alive in the worker, in transfer and
 * here until inserted, for 2 ranges in flight per thread.
 */
const LOAD_RANGE_BYTES = 256 << 10

/**
 * The checkpoint is read in chunks of this size, and the reader buffers
 * READ_AHEAD_BATCHES of their entries. A batch of entries is alive until the
 * loop has mapped them all; with 128 KiB chunks and 16 batches read ahead,
 * that was enough live objects per young-generation collection that many
 * were promoted, and V8 let the old generation grow with the garbage:
 * 155-163 MB RSS loading 200 MB into PostgreSQL, 112-117 MB into SQLite.
 * 32 KiB × 2: 108-116 MB and 101-111 MB, at a lower CPU cost (benchmarks/,
 * sql-load-postgres, sql-load-sqlite, both data profiles).
 */
const LOAD_CHUNK_BYTES = 32 * 1024
const READ_AHEAD_BATCHES = 2

export interface SqlLoadOptions {
  url: string
  /** The checkpoint: `checkpoint.N`, `PREFIX.ckp.N`, plain or `.gz`; `-` for standard input (give `journal`). */
  checkpoint: string
  /** Standard input, for `-`. Default `process.stdin`. */
  stdin?: Readable
  /** The journal the replica continues from (N of checkpoint.N). Default: from the file name. */
  journal?: number
  /** Drop the replica's tables first (in the same transaction as the load). */
  replace?: boolean
  tables?: readonly string[]
  exclude?: readonly string[]
  encoding?: FieldEncoding
  /** Where relative sqlite: paths are taken from. Default: the working directory. */
  baseDir?: string
  /** A progress bar on this stream (give it only when it is a TTY). */
  progress?: Writable
  /**
   * Threads for a plain checkpoint (default: the cores, at most 4; 1: none
   * besides this one). PostgreSQL: this many workers frame the checkpoint
   * and write its rows as COPY text. SQLite, which inserts on this thread:
   * one fewer (this thread counts as one).
   */
  threads?: number
  /** Bytes per range with threads (tests use tiny ones). */
  rangeBytes?: number
  /** Runs the range tasks instead of a worker pool (tests: inThreadRunner). */
  runner?: (fd: number, options: RangeOptions) => RangeRunner
}

export interface SqlLoadSummary {
  url: string
  position: JournalPosition
  /** Rows in the tables after the load. */
  rows: number
  /** Rows replaced by a later row with the same key (as a pv replaces): a checkpoint from p4d has none. */
  replaced: number
  unmapped: number
  tables: number
  /** Bytes of the checkpoint file (compressed size for .gz). */
  bytes: number
  seconds: number
}

/**
 * The PostgreSQL advisory lock a load holds for its transaction (SQLite's
 * BEGIN IMMEDIATE is the database's write lock already): an arbitrary
 * constant, "logd" in ASCII.
 */
const LOAD_LOCK_KEY = 0x6c6f6764

const CHECKPOINT_RE = /(?:^|\.)(?:checkpoint|ckp)\.(\d+)(?:\.gz)?$/

/** The N of `checkpoint.N`, `PREFIX.ckp.N` (with or without `.gz`), or null. */
export function checkpointNumberOf(file: string): number | null {
  const m = CHECKPOINT_RE.exec(basename(file))
  const n = m ? Number(m[1]) : NaN
  return Number.isSafeInteger(n) ? n : null
}

/**
 * `logdaemon sql load`: creates the replica's tables from a checkpoint in
 * one database transaction (COPY into PostgreSQL, prepared inserts into
 * SQLite; keys and views after the rows) and records the position `N/0`,
 * so the `sql` listener continues with journal N. Refuses a database that
 * holds tables unless `replace` (and even then, tables it did not create).
 * A failure rolls everything back: the database is as before.
 */
export async function sqlLoad(options: SqlLoadOptions): Promise<SqlLoadSummary> {
  const started = Date.now()
  const target = parseSqlUrl(options.url, options.baseDir ?? process.cwd())
  const n = options.journal ?? checkpointNumberOf(options.checkpoint)
  if (n === null) {
    throw new LogdaemonError(
      ErrorCodes.USAGE,
      `cannot tell the journal number from the name ${JSON.stringify(basename(options.checkpoint))} (expected checkpoint.N or PREFIX.ckp.N): give it with --journal N`,
    )
  }
  const fromStdin = options.checkpoint === '-'
  const size = fromStdin ? 0 : (await checkpointStat(options.checkpoint)).size
  // A plain checkpoint is checked whole before anything is loaded, and read up to the size that was checked in every
  // path (a file still growing is cut there, and has no trailer); gzip and pipes are checked as they are read.
  const checkedSize = fromStdin ? null : await wholeCheckpointSize(options.checkpoint, n)
  const adapter = await openAdapter(target)
  const replica = new Replica(adapter)
  let progress: ProgressReporter | null = null
  /** Set once the COMMIT is sent: the position row it writes, and the summary to return. */
  let committing: { at: JournalPosition; updated: string; summary: () => SqlLoadSummary } | null = null
  try {
    await adapter.connect()
    // Looked at first, before the replica's own tables are created (a database that is refused is left as it was),
    await refuseUnlessEmpty(replica, target, options.replace === true)
    await adapter.prepareWrites()
    await replica.reload()
    await replica.begin()
    // and again inside the load's own transaction, with the database's write lock held (a second load at the same
    // time waits here for the first, then finds its replica): the first look alone let two loads into one database
    // both pass and merge their tables.
    if (adapter.dialect === 'postgres') await adapter.query(`SELECT pg_advisory_xact_lock(${LOAD_LOCK_KEY})`)
    await refuseUnlessEmpty(replica, target, options.replace === true)
    if (options.replace) await replica.dropAll()
    const sqlOptions = { payload: adapter.bulkPayload, tables: options.tables ?? ['db.*'], exclude: options.exclude ?? [], maxKeyBytes: adapter.maxKeyBytes }
    const loaded = new Map<string, SqlLayout>() // table → the layout whose key it gets
    const rekeyed = new Set<string>() // tables with rows of layouts keyed otherwise
    let rows = 0
    let unmappedCount = 0
    let current: SqlLayout | null = null
    let currentColumns: ColumnSpec[] = []
    /** Inserts a batch of a RowBatchWriter, segment by segment, in order. */
    const apply = async (batch: Buffer): Promise<void> => {
      for (const seg of readSegments(batch)) {
        if (seg.kind === SEGMENT_UNMAPPED) {
          await adapter.bulkWrite(UNMAPPED_TABLE, UNMAPPED_COLUMNS, seg.payload, seg.rows)
          unmappedCount += seg.rows
          continue
        }
        const [table, version, count] = seg.id.split('\0')
        const l = sqlLayoutOf(table as string, Number(version), Number(count))
        if (!l) throw new Error(`a batch names a table layout there is none of: ${JSON.stringify(seg.id)}`)
        if (l !== current) {
          const had = loaded.get(l.table)
          if (had && l.rank < had.rank && had.keySet !== l.keySet) {
            // The listener keeps such records in logdaemon_unmapped; here the rows are bulk-loaded already, and loading
            // them too would double rows (their new key columns empty). p4d never writes this: nothing is loaded.
            throw new LogdaemonError(
              ErrorCodes.CHECKPOINT_LAYOUTS,
              `${options.checkpoint}: ${l.journalTable} has records of version ${l.version} (${l.columns.length} fields, keyed by ${l.key.join(', ')}) ` +
                `after records of a newer layout, version ${had.version} (${had.columns.length} fields, keyed by ${had.key.join(', ')}): ` +
                'a checkpoint p4d writes has one layout per table, and no key holds both. Nothing was loaded; apply such a journal with the sql listener, ' +
                'which keeps the older records in logdaemon_unmapped',
              { file: options.checkpoint, journal: n },
            )
          }
          // The newest layout's key, as the listener re-keys a table on an upgrade; another key seen too: re-keyed then.
          if (!had || l.rank > had.rank) loaded.set(l.table, l)
          if (had && had.keySet !== l.keySet) rekeyed.add(l.table)
          await replica.ensureTables([l], false)
          current = l
          currentColumns = bulkColumnsOf(l)
        }
        await adapter.bulkWrite(l.table, currentColumns, seg.payload, seg.rows)
        rows += seg.rows
      }
    }
    let bar: ProgressReporter | null = null
    if (options.progress && !fromStdin) {
      // Loaded only for a bar: cli-progress and its terminal-width tables cost ~7 MB of RSS.
      const { createProgress } = await import('./progress.js')
      bar = createProgress(size, options.progress, 'logdaemon sql load')
      progress = bar
    }
    const threads = options.threads ?? defaultThreads()
    // One core is left to the inserting side: SQLite inserts on this thread, PostgreSQL in its
    // server process. On 2 cores a second worker only competes with it: SQLite's waited, and
    // PostgreSQL's gained ~8 % of speed for 15-20 MB more RSS (119-120 MB at 200 MB, against
    // 97-107 MB with one worker).
    const workers = Math.max(1, threads - 1)
    const rest = threads > 1 && checkedSize !== null ? await loadParallel(options, checkedSize, n, sqlOptions, workers, apply, bar) : null
    if (rest !== false) {
      const writer = new RowBatchWriter({ ...sqlOptions, encoding: options.encoding ?? 'utf8', journal: n })
      const input: Readable = rest
        ? Readable.from(readAligned(rest.handle, rest.offset, rest.size, LOAD_CHUNK_BYTES, { file: options.checkpoint, journal: n }), { objectMode: false })
        : fromStdin
          ? (options.stdin ?? process.stdin)
          : checkedSize !== null || (await stat(options.checkpoint)).isFile()
            ? new FileReader(options.checkpoint, { chunkBytes: LOAD_CHUNK_BYTES, journal: n, ...(checkedSize !== null ? { end: checkedSize } : {}) })
            : // A pipe (`<(zcat …)`, a FIFO): read in order, not at offsets.
              createReadStream(options.checkpoint, { highWaterMark: LOAD_CHUNK_BYTES })
      // The records read are checked too (a .gz or a pipe only so; a plain file again, in case it was cut or replaced
      // since its first check); the rest after a parallel part was checked on the descriptor it is read from.
      const ends = rest ? null : new CheckpointEnds()
      if (bar && !rest) {
        const b = bar
        input.on('data', (c: Buffer) => b.advance(c.length))
      }
      try {
        // Batches: one array of entries per read chunk, so the loop pays no promise per record.
        const reader = createJournalReader(options.checkpoint, {
          input,
          journal: n,
          batch: true,
          highWaterMark: READ_AHEAD_BATCHES,
          ...(rest ? { offset: rest.offset, line: rest.line } : {}),
        })
        for await (const entries of reader as AsyncIterable<JournalEntry[]>) {
          for (const entry of entries) writer.addEntry(entry)
          if (ends) for (const entry of entries) ends.see(entry)
          const batch = writer.takeView()
          if (batch) await apply(batch)
        }
        ends?.check(options.checkpoint, n)
      } finally {
        await rest?.handle.close()
      }
    }
    await adapter.bulkEnd()
    let replaced = 0
    for (const l of loaded.values()) replaced += rekeyed.has(l.table) ? await replica.rekey(l) : await replica.addKey(l)
    await replica.createViews()
    const at = { journal: n, offset: 0 }
    const updated = new Date().toISOString()
    await replica.setPosition(at, updated)
    const summary = (): SqlLoadSummary => ({
      url: target.masked,
      position: at,
      rows: rows - replaced,
      replaced,
      unmapped: unmappedCount,
      tables: loaded.size,
      bytes: size,
      seconds: (Date.now() - started) / 1000,
    })
    committing = { at, updated, summary }
    await replica.commit()
    return summary()
  } catch (err) {
    await replica.rollback()
    if (committing && !isLogdaemonError(err)) {
      // The COMMIT was sent and its answer lost (the connection dropped): the server may have committed it.
      const c = committing
      const committed = await committedLoad(target, c.at, c.updated)
      if (committed === true) return c.summary()
      if (committed === null) {
        throw new LogdaemonError(
          ErrorCodes.SQL_FAILED,
          `${target.masked}: the load may or may not have been committed: the connection failed during the COMMIT (${toError(err).message}), ` +
            `and the database could not be asked since: the replica is complete at ${formatPosition(c.at)} if logdaemon_position says so with updated = ${c.updated}, else as it was before`,
          { cause: err, file: options.checkpoint, details: { url: target.masked } },
        )
      }
    }
    if (isLogdaemonError(err)) throw err
    throw new LogdaemonError(ErrorCodes.SQL_FAILED, `${target.masked}: the load failed and was rolled back: ${toError(err).message}`, {
      cause: err,
      file: options.checkpoint,
    })
  } finally {
    progress?.stop()
    await adapter.close()
  }
}

/** ERR_SQL_NOT_EMPTY unless the database is empty, or holds only a replica and `replace` was given. */
async function refuseUnlessEmpty(replica: Replica, target: SqlTarget, replace: boolean): Promise<void> {
  const { replica: replicaThere, position, foreign } = await replica.survey()
  if (!foreign.length && (!replicaThere || replace)) return
  throw new LogdaemonError(
    ErrorCodes.SQL_NOT_EMPTY,
    foreign.length
      ? `${target.masked} holds ${foreignWhat(foreign)}: load into an empty database`
      : `${target.masked} already holds a replica${position ? ` at ${formatPosition(position)}` : ''}: give --replace to drop it and load again`,
    { details: { url: target.masked } },
  )
}

/** How long {@link committedLoad} waits for the database. */
const COMMIT_CHECK_MS = 15_000

/**
 * Whether the load's transaction was committed, asked on a new connection
 * after its COMMIT failed: true when logdaemon_position holds the row it
 * wrote (`at`, with `updated` as it set it), false when it holds another
 * or none, null when the database cannot be asked (within COMMIT_CHECK_MS).
 */
async function committedLoad(target: SqlTarget, at: JournalPosition, updated: string): Promise<boolean | null> {
  const adapter = await openAdapter(target)
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<null>((resolve) => {
    timer = setTimeout(() => resolve(null), COMMIT_CHECK_MS)
  })
  const ask = (async (): Promise<boolean> => {
    await adapter.connect()
    const rows = await adapter.query(`SELECT journal, "offset", updated FROM ${POSITION_TABLE} WHERE id = 1`)
    const row = rows[0]
    return row !== undefined && Number(row.journal) === at.journal && Number(row.offset) === at.offset && String(row.updated) === updated
  })()
  try {
    return await Promise.race([ask, timeout])
  } catch {
    return null
  } finally {
    clearTimeout(timer)
    ask.catch(() => {})
    await adapter.close().catch(() => {})
  }
}

/** Where the parallel load stopped short: the rest is loaded serially from this true record boundary, of the file open as `handle`. */
interface SerialRest {
  handle: FileHandle
  offset: number
  line: number
  size: number
}

/**
 * Loads a plain checkpoint with `threads` workers that frame its ranges and
 * map their records to rows (RowBatchWriter): `apply` gets their batches in
 * file order, so the database sees the same inserts in the same order as
 * from the serial loop. Returns null, having read nothing, when the file is
 * not for this path (gzip, not a regular file, under two ranges); false when
 * it loaded it all; else where to go on serially (the first range that
 * failed from a true boundary: malformed input, an oversize record, the
 * end inside a record), so the serial loop reports the error exactly as it
 * would have, after loading every record before it. The handle is then the
 * caller's to close.
 */
async function loadParallel(
  load: SqlLoadOptions,
  checkedSize: number,
  journal: number,
  sql: NonNullable<RangeOptions['sql']>,
  threads: number,
  apply: (batch: Buffer) => Promise<void>,
  bar: ProgressReporter | null,
): Promise<SerialRest | false | null> {
  const file = load.checkpoint
  const bytes = Math.max(1, Math.floor(load.rangeBytes ?? LOAD_RANGE_BYTES))
  const handle = await open(file, 'r')
  let keep = false
  try {
    const found = await handle.stat()
    if (!found.isFile() || checkedSize < 2 * bytes) return null
    // What was checked whole, up to the size checked (a file that grew since is read as it was then, as serially):
    // checked again on this descriptor, which the workers read, in case the file was cut or replaced in between.
    if (found.size < checkedSize) throw shrunkError(file, journal, 0, found.size, checkedSize)
    // Null for gzip (its magic), which the workers cannot read in ranges.
    if ((await checkWhole(handle, checkedSize, file, journal)) === null) return null
    const size = checkedSize
    const { frameRangesParallel } = await import('../parallel/parallel-ranges.js')
    const options: RangeOptions = {
      format: 'sql',
      sql,
      encoding: load.encoding ?? 'utf8',
      tables: [],
      ops: [],
      where: [],
      maxEntryBytes: DEFAULT_MAX_ENTRY_BYTES,
      file,
      journal,
    }
    const runner = load.runner?.(handle.fd, options)
    const ranges = frameRangesParallel(handle.fd, size, options, { threads, rangeBytes: bytes, ...(runner ? { runner } : {}) })
    let rest
    try {
      let step = await ranges.next()
      while (!step.done) {
        const range = step.value
        try {
          if (range.out) await apply(range.out)
        } finally {
          range.release()
        }
        bar?.advance(range.stop - range.from)
        step = await ranges.next()
      }
      rest = step.value
    } finally {
      // A failed insert stops the workers before the file is closed under them.
      await ranges.return(null)
    }
    if (!rest) return false
    bar?.advance(size - rest.offset)
    keep = true
    return { handle, offset: rest.offset, line: rest.line, size }
  } finally {
    if (!keep) await handle.close()
  }
}

/** The checkpoint's stat, before anything is created: a missing file or a directory is a usage error (a probe: EISDIR came after the database file was made). */
async function checkpointStat(path: string): Promise<{ size: number }> {
  const found = await stat(path).catch((err: unknown) => {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new LogdaemonError(ErrorCodes.USAGE, `${path}: no such file`, { file: path, cause: err })
    throw err
  })
  if (found.isDirectory()) throw new LogdaemonError(ErrorCodes.USAGE, `${path} is a directory, not a checkpoint or journal file`, { file: path })
  return found
}
