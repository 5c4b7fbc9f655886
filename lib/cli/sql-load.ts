import { stat } from 'node:fs/promises'
import { basename } from 'node:path'
import type { Writable } from 'node:stream'
import { ErrorCodes, LogdaemonError, isLogdaemonError, toError } from '../errors.js'
import { FileReader } from '../files/file-reader.js'
import type { FieldEncoding, JournalEntry } from '../journal/entry.js'
import { createJournalReader } from '../journal/read-journal.js'
import { formatPosition, type JournalPosition } from '../position.js'
import { openAdapter } from '../listeners/builtin/sql/open-adapter.js'
import { Replica } from '../listeners/builtin/sql/replica.js'
import { RowMapper, type UnmappedRecord } from '../listeners/builtin/sql/row-mapper.js'
import type { ColumnSpec, SqlValue } from '../listeners/builtin/sql/sql-adapter.js'
import type { SqlLayout } from '../listeners/builtin/sql/sql-layout.js'
import { UNMAPPED_TABLE } from '../listeners/builtin/sql/replica-ddl.js'
import { parseSqlUrl } from '../listeners/builtin/sql/sql-url.js'
import { TableFilter } from '../listeners/builtin/sql/table-filter.js'
import type { ProgressReporter } from './progress.js'

/** Rows handed to the database per bulk call: large enough that the per-call cost vanishes, small enough to bound memory. */
const BULK_ROWS = 500
/** And at most this many bytes of their records (large records: 500 of 10 KB would be 5 MB). */
const BULK_BYTES = 256 * 1024

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
  /** The checkpoint: `checkpoint.N`, `PREFIX.ckp.N`, plain or `.gz`. */
  checkpoint: string
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
  const size = (await stat(options.checkpoint)).size
  const adapter = await openAdapter(target)
  const replica = new Replica(adapter)
  let progress: ProgressReporter | null = null
  try {
    await adapter.connect()
    const before = await replica.contents()
    const position = before.own.length ? await replica.readPosition().catch(() => null) : null
    const replicaThere = position !== null || before.own.some((t) => !t.startsWith('logdaemon_'))
    if (before.tables.length || (replicaThere && !options.replace)) {
      throw new LogdaemonError(
        ErrorCodes.SQL_NOT_EMPTY,
        before.tables.length
          ? `${target.masked} holds tables logdaemon did not create (${before.tables.slice(0, 5).join(', ')}): load into an empty database`
          : `${target.masked} already holds a replica${position ? ` at ${formatPosition(position)}` : ''}: give --replace to drop it and load again`,
        { details: { url: target.masked } },
      )
    }
    await replica.reload()
    await replica.begin()
    if (options.replace) await replica.dropAll()
    const mapper = new RowMapper(new TableFilter(options.tables ?? ['db.*'], options.exclude ?? []), options.encoding ?? 'utf8')
    const input = new FileReader(options.checkpoint, { chunkBytes: LOAD_CHUNK_BYTES })
    if (options.progress) {
      // Loaded only for a bar: cli-progress and its terminal-width tables cost ~7 MB of RSS.
      const { createProgress } = await import('./progress.js')
      const bar = createProgress(size, options.progress, 'logdaemon sql load')
      progress = bar
      input.on('data', (c: Buffer) => bar.advance(c.length))
    }
    // Batches: one array of entries per read chunk, so the loop pays no promise per record.
    const reader = createJournalReader(options.checkpoint, { input, journal: n, batch: true, highWaterMark: READ_AHEAD_BATCHES })
    const loaded = new Map<string, SqlLayout>() // table → the layout whose key it gets
    // Unmapped records go by the same bulk path as rows (COPY in PostgreSQL: the load's logdaemon_unmapped starts empty), BULK_ROWS at a time.
    let unmapped: SqlValue[][] = []
    let unmappedBytes = 0
    let unmappedCount = 0
    const source = `checkpoint.${n}`
    const flushUnmapped = async () => {
      if (unmapped.length) await adapter.bulkInsert(UNMAPPED_TABLE, UNMAPPED_COLUMNS, unmapped)
      unmapped = []
      unmappedBytes = 0
    }
    let batch: SqlValue[][] = []
    let batchBytes = 0
    let batchLayout: SqlLayout | null = null
    let batchColumns: ColumnSpec[] = []
    let rows = 0
    const flush = async () => {
      if (batch.length && batchLayout) await adapter.bulkInsert(batchLayout.table, batchColumns, batch)
      batch = []
      batchBytes = 0
    }
    for await (const entries of reader as AsyncIterable<JournalEntry[]>) {
      for (const entry of entries) {
        const m = mapper.map(entry, n)
        if (!m) continue
        if (m.kind === 'unmapped' || m.kind === 'del') {
          unmapped.push(unmappedRow(source, m.kind === 'unmapped' ? m : asUnmapped(m, n, entry.position.offset, entry.raw, entry.op)))
          unmappedCount++
          unmappedBytes += entry.length
          if (unmapped.length >= BULK_ROWS || unmappedBytes >= BULK_BYTES) await flushUnmapped()
          continue
        }
        if (m.layout !== batchLayout) {
          await flush()
          const l: SqlLayout = m.layout
          if (!loaded.has(l.table)) loaded.set(l.table, l)
          await replica.ensureTables([l], false)
          batchLayout = l
          batchColumns = l.insertColumns.map((name, i) => ({ name, type: i === l.columns.length ? 'bytes' : l.columns[i]?.integer ? 'integer' : 'text' }))
        }
        const row: SqlValue[] = m.values.slice()
        row.push(m.raw)
        batch.push(row)
        batchBytes += entry.length
        rows++
        if (batch.length >= BULK_ROWS || batchBytes >= BULK_BYTES) await flush()
      }
    }
    await flush()
    await flushUnmapped()
    await adapter.bulkEnd()
    let replaced = 0
    for (const l of loaded.values()) replaced += await replica.addKey(l)
    await replica.createViews()
    const at = { journal: n, offset: 0 }
    await replica.setPosition(at)
    await replica.commit()
    return {
      url: target.masked,
      position: at,
      rows: rows - replaced,
      replaced,
      unmapped: unmappedCount,
      tables: loaded.size,
      bytes: size,
      seconds: (Date.now() - started) / 1000,
    }
  } catch (err) {
    await replica.rollback()
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

/** The columns of logdaemon_unmapped, in the order of {@link unmappedRow}. */
const UNMAPPED_COLUMNS: readonly ColumnSpec[] = [
  { name: 'source', type: 'text' },
  { name: 'journal', type: 'integer' },
  { name: 'offset', type: 'integer' },
  { name: 'op', type: 'text' },
  { name: 'table_name', type: 'text' },
  { name: 'version', type: 'integer' },
  { name: 'fields', type: 'text' },
  { name: 'raw', type: 'bytes' },
  { name: 'reason', type: 'text' },
]

function unmappedRow(source: string, r: UnmappedRecord): SqlValue[] {
  return [source, String(r.journal), String(r.offset), r.op, r.table, r.version === null ? null : String(r.version), r.fields, r.raw, r.reason]
}

function asUnmapped(m: { layout: SqlLayout; values: readonly (string | null)[] }, journal: number, offset: number, raw: Buffer, op: string): UnmappedRecord {
  return {
    kind: 'unmapped',
    journal,
    offset,
    op,
    table: m.layout.journalTable,
    version: m.layout.version,
    fields: JSON.stringify(m.values),
    raw: Buffer.from(raw),
    reason: 'a delete in a checkpoint',
  }
}
