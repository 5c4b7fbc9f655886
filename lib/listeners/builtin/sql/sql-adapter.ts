import type { JournalPosition } from '../../../position.js'
import type { RowPayload } from './row-batch-writer.js'
import type { RowOp, UnmappedRecord } from './row-mapper.js'

/** What a replica column holds: 64-bit integers, text, or bytes (logdaemon_raw). */
export type ColumnType = 'integer' | 'text' | 'bytes'

export interface ColumnSpec {
  readonly name: string
  readonly type: ColumnType
}

/** A table as it exists in the database: its columns in order. */
export type TableColumns = Map<string, readonly ColumnSpec[]>

/** A value as the adapters bind it: integers as decimal text, text, bytes, or NULL. */
export type SqlValue = string | Buffer | null

/**
 * The small part that differs per database. Everything else (the mapping,
 * DDL, views, positions, transactions) is shared in {@link Replica}.
 * Calls are made one at a time.
 */
export interface SqlAdapter {
  readonly dialect: 'sqlite' | 'postgres'
  /** Where the database is, for messages: the URL with its password masked. */
  readonly masked: string
  connect(): Promise<void>
  /**
   * What the database keeps for good before logdaemon writes to it (SQLite's
   * WAL mode, in its header): done once the database is known to be the
   * replica's or empty, so that another application's database, refused,
   * is left as it was.
   */
  prepareWrites(): Promise<void>
  close(): Promise<void>
  /** The tables of the database (the current schema in PostgreSQL) and their columns. */
  tables(): Promise<TableColumns>
  /** The views of the database (the current schema in PostgreSQL). */
  views(): Promise<string[]>
  /** The columns of each unique key of `table`: its primary key and its unique indexes. */
  uniqueKeys(table: string): Promise<string[][]>
  /** SQL type of a column type. */
  typeName(type: ColumnType): string
  /**
   * Turns an integer column into a text column, its values into their
   * decimal text (a table version whose column of that name holds text:
   * db.counters 0 → 1, db.rev 7 → 8). Rows, keys and indexes stay. Run in
   * the write's transaction.
   */
  widenToText(table: string, column: string): Promise<void>
  /** DDL that makes the key unique after a table is created (SQLite: a unique index; PostgreSQL: the primary key). */
  keyDdl(table: string, key: readonly string[]): string
  /** Expressions of the views. */
  epochToTimestamp(expr: string): string
  /** Starts a write transaction (SQLite: BEGIN IMMEDIATE, taking the write lock at once). */
  begin(): Promise<void>
  commit(): Promise<void>
  rollback(): Promise<void>
  exec(sql: string): Promise<void>
  query(sql: string, params?: readonly SqlValue[]): Promise<Record<string, unknown>[]>
  /** Runs a statement; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly SqlValue[]): Promise<number>
  /**
   * Applies row changes as if one by one in order. `columnsOf` gives a
   * table's current columns (for PostgreSQL's upsert, which sets the
   * columns a layout lacks to NULL).
   */
  applyOps(ops: readonly RowOp[], columnsOf: (table: string) => readonly ColumnSpec[]): Promise<void>
  insertUnmapped(records: readonly UnmappedRecord[], source: string): Promise<void>
  /** Bulk insert into a table being loaded (no key yet): COPY for PostgreSQL, a prepared insert for SQLite. */
  bulkInsert(table: string, columns: readonly ColumnSpec[], rows: readonly (readonly SqlValue[])[]): Promise<void>
  /** The longest key (its text columns' UTF-8 bytes, 4 more each, and 8 per integer column) a row may have: see {@link keyBytes}. */
  readonly maxKeyBytes: number
  /** The payload {@link bulkWrite} takes, as a RowBatchWriter writes it: COPY text (PostgreSQL) or tagged values (SQLite). */
  readonly bulkPayload: RowPayload
  /** Bulk insert of `rows` rows a RowBatchWriter wrote (in {@link bulkPayload}); `payload` is the caller's again when this resolves. */
  bulkWrite(table: string, columns: readonly ColumnSpec[], payload: Buffer, rows: number): Promise<void>
  /**
   * Adds the key of a bulk-loaded table. Rows with the same key are
   * resolved as `pv` would: the last loaded wins, the earlier are deleted.
   * Resolves to the number deleted.
   */
  addKeyKeepingLast(table: string, key: readonly string[]): Promise<number>
  /**
   * Replaces a table's key by `key` (a p4d upgrade that changed it), in
   * the write's transaction: the old key goes; of rows the new key makes
   * one, a row with no value in a column of `order` (the old key's
   * columns: the newer layout wrote it) is kept first, else the greatest
   * by `order` (text in byte order), and the others are deleted: the same
   * rows in either database (which was written last, PostgreSQL cannot say);
   * rows with NULL in a key column stay (no record names them by this
   * key). The key is then a unique index named `TABLE_key`, which allows
   * those NULLs. Resolves to the number deleted.
   */
  rekey(table: string, key: readonly string[], order: readonly ColumnSpec[]): Promise<number>
  /** Ends the bulk insert in progress (PostgreSQL: finishes the COPY). Other calls end it too. */
  bulkEnd(): Promise<void>
}

export type { JournalPosition }
