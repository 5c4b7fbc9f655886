import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import type BetterSqlite3 from 'better-sqlite3'
import { type BoundValue, readValues } from './row-batch-writer.js'
import type { RowOp, UnmappedRecord } from './row-mapper.js'
import type { ColumnSpec, ColumnType, SqlAdapter, SqlValue, TableColumns } from './sql-adapter.js'
import type { SqlLayout } from './sql-layout.js'
import { quoteIdent as q } from './sql-names.js'
import { UNMAPPED_TABLE } from './replica-ddl.js'

type Database = BetterSqlite3.Database
type Statement = BetterSqlite3.Statement

/** How long a write waits for another connection's lock (a report holding a read transaction does not block WAL writers). */
const BUSY_TIMEOUT_MS = 10_000

/** `$1`, `$2`, … (the shared SQL's placeholders, always used in order) as SQLite's `?`. */
function placeholders(sql: string): string {
  return sql.replace(/\$\d+/g, '?')
}

/**
 * SQLite through better-sqlite3 (synchronous; each call is one statement
 * on the event loop). WAL mode, so reports read while the listener writes;
 * `synchronous = FULL`: a commit is on disk before it returns.
 *
 * Keys are unique indexes named `TABLE_key`; integers bind as their decimal
 * text and the INTEGER column affinity stores them as 64-bit integers.
 */
export class SqliteAdapter implements SqlAdapter {
  readonly dialect = 'sqlite'
  /** SQLite's index entries have no such limit (they overflow to other pages). */
  readonly maxKeyBytes = Number.POSITIVE_INFINITY
  readonly bulkPayload = 'values'
  readonly masked: string
  readonly #file: string
  #db: Database | null = null
  readonly #statements = new Map<string, Statement>()
  /** The put and delete statement of each layout, found without building a key string per row. */
  readonly #puts = new Map<SqlLayout, Statement>()
  readonly #dels = new Map<SqlLayout, Statement>()
  /** Per bulk statement: which of its columns store integers (declared with INT), bound as numbers. */
  readonly #numbers = new Map<Statement, boolean[]>()

  constructor(file: string, masked: string) {
    this.#file = file
    this.masked = masked
  }

  async connect(): Promise<void> {
    if (this.#db) return
    const { default: Sqlite } = await import('better-sqlite3')
    mkdirSync(dirname(this.#file), { recursive: true })
    const db = new Sqlite(this.#file)
    try {
      db.pragma('synchronous = FULL')
      // SQLite's own default page cache, 2 MB (better-sqlite3 builds with 16 MB): the index sort of a load spills to a temp file instead of memory.
      db.pragma('cache_size = -2000')
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`)
    } catch (err) {
      db.close()
      throw err
    }
    this.#db = db
  }

  /**
   * WAL mode, which SQLite records in the database's header: set only once
   * the database is known to be the replica's or empty (a probe: another
   * application's database, refused, had its header changed).
   */
  async prepareWrites(): Promise<void> {
    this.#conn.pragma('journal_mode = WAL')
  }

  get #conn(): Database {
    if (!this.#db) throw new Error(`${this.masked} is not open`)
    return this.#db
  }

  async close(): Promise<void> {
    this.#statements.clear()
    this.#puts.clear()
    this.#dels.clear()
    this.#numbers.clear()
    const db = this.#db
    this.#db = null
    db?.close()
  }

  async tables(): Promise<TableColumns> {
    const db = this.#conn
    const out: TableColumns = new Map()
    const names = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`).pluck().all() as string[]
    for (const name of names) {
      const cols = db.prepare(`SELECT name, type FROM pragma_table_info(?) ORDER BY cid`).all(name) as { name: string; type: string }[]
      out.set(
        name,
        cols.map((c) => ({ name: c.name, type: sqliteType(c.type) })),
      )
    }
    return out
  }

  async uniqueKeys(table: string): Promise<string[][]> {
    const db = this.#conn
    const keys: string[][] = []
    // A primary key of one INTEGER column is the rowid itself: no index lists it.
    const pk = db.prepare(`SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk`).pluck().all(table) as string[]
    if (pk.length > 0) keys.push(pk)
    const indexes = db.prepare(`SELECT name FROM pragma_index_list(?) WHERE "unique" = 1 AND partial = 0`).pluck().all(table) as string[]
    for (const index of indexes) keys.push(db.prepare(`SELECT name FROM pragma_index_info(?) ORDER BY seqno`).pluck().all(index) as string[])
    return keys
  }

  async views(): Promise<string[]> {
    return this.#conn.prepare(`SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name`).pluck().all() as string[]
  }

  typeName(type: ColumnType): string {
    return type === 'integer' ? 'INTEGER' : type === 'text' ? 'TEXT' : 'BLOB'
  }

  /**
   * SQLite cannot change a column's type, and a column declared INTEGER
   * turns text that reads as a number into one ('0042' into 42, '1.10' into
   * 1.1): the table is copied into one whose column is TEXT (each value
   * then its text), rowids kept (a load's rows keep their file order), and
   * its indexes and triggers made again. Views that read it read the copy:
   * with legacy_alter_table the rename does not check them.
   */
  async widenToText(table: string, column: string): Promise<void> {
    const db = this.#conn
    const cols = db.prepare('SELECT name, type, "notnull" AS not_null, pk FROM pragma_table_info(?) ORDER BY cid').all(table) as {
      name: string
      type: string
      not_null: number
      pk: number
    }[]
    if (!cols.some((c) => c.name === column && sqliteType(c.type) === 'integer')) return
    const dependents = db
      .prepare(`SELECT sql FROM sqlite_master WHERE type IN ('index', 'trigger') AND tbl_name = ? AND sql IS NOT NULL`)
      .pluck()
      .all(table) as string[]
    const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk)
    const defs = cols.map((c) => `${q(c.name)} ${c.name === column ? 'TEXT' : c.type}${c.not_null ? ' NOT NULL' : ''}`)
    if (pk.length > 0) defs.push(`PRIMARY KEY (${pk.map((c) => q(c.name)).join(', ')})`)
    const copy = `${table}__logdaemon_widen`
    const names = cols.map((c) => q(c.name)).join(', ')
    // Statements prepared against the old table (and which of their columns bind numbers) are made again.
    this.#statements.clear()
    this.#puts.clear()
    this.#dels.clear()
    this.#numbers.clear()
    const legacy = db.pragma('legacy_alter_table', { simple: true }) as number
    db.exec(`DROP TABLE IF EXISTS ${q(copy)}`)
    db.exec(`CREATE TABLE ${q(copy)} (${defs.join(', ')})`)
    db.exec(`INSERT INTO ${q(copy)} (rowid, ${names}) SELECT rowid, ${names} FROM ${q(table)} ORDER BY rowid`)
    db.exec(`DROP TABLE ${q(table)}`)
    db.pragma('legacy_alter_table = ON')
    try {
      db.exec(`ALTER TABLE ${q(copy)} RENAME TO ${q(table)}`)
    } finally {
      db.pragma(`legacy_alter_table = ${legacy ? 'ON' : 'OFF'}`)
    }
    for (const sql of dependents) db.exec(sql)
  }

  keyDdl(table: string, key: readonly string[]): string {
    return `CREATE UNIQUE INDEX ${q(`${table}_key`)} ON ${q(table)} (${key.map(q).join(', ')})`
  }

  epochToTimestamp(expr: string): string {
    return `datetime(${expr}, 'unixepoch')`
  }

  async begin(): Promise<void> {
    this.#conn.exec('BEGIN IMMEDIATE')
  }

  async commit(): Promise<void> {
    this.#conn.exec('COMMIT')
  }

  async rollback(): Promise<void> {
    const db = this.#conn
    if (db.inTransaction) db.exec('ROLLBACK')
  }

  async exec(sql: string): Promise<void> {
    this.#conn.exec(sql)
  }

  async query(sql: string, params: readonly SqlValue[] = []): Promise<Record<string, unknown>[]> {
    const s = this.#conn.prepare(placeholders(sql))
    if (!s.reader) {
      s.run(...params)
      return []
    }
    return s.all(...params) as Record<string, unknown>[]
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    return this.#conn.prepare(placeholders(sql)).run(...params).changes
  }

  #statement(id: string, sql: () => string): Statement {
    let s = this.#statements.get(id)
    if (!s) {
      s = this.#conn.prepare(sql())
      this.#statements.set(id, s)
    }
    return s
  }

  /** In order, one prepared statement per table layout: SQLite in-process needs no batching. */
  async applyOps(ops: readonly RowOp[]): Promise<void> {
    for (const op of ops) {
      const l = op.layout
      if (op.kind === 'put') {
        let s = this.#puts.get(l)
        if (!s) {
          s = this.#statement(`put\0${l.table}\0${l.insertColumns.join(',')}`, () => {
            const cols = l.insertColumns.map(q).join(', ')
            return `INSERT OR REPLACE INTO ${q(l.table)} (${cols}) VALUES (${l.insertColumns.map(() => '?').join(', ')})`
          })
          this.#puts.set(l, s)
        }
        s.run(...op.values, op.raw)
      } else {
        let s = this.#dels.get(l)
        if (!s) {
          s = this.#statement(`del\0${l.table}\0${l.key.join(',')}`, () => `DELETE FROM ${q(l.table)} WHERE ${l.key.map((k) => `${q(k)} = ?`).join(' AND ')}`)
          this.#dels.set(l, s)
        }
        s.run(...l.keyIndex.map((i) => op.values[i]))
      }
    }
  }

  async insertUnmapped(records: readonly UnmappedRecord[], source: string): Promise<void> {
    const s = this.#statement(
      'unmapped',
      () =>
        `INSERT OR REPLACE INTO ${UNMAPPED_TABLE} (source, journal, "offset", op, table_name, version, fields, raw, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    for (const r of records) s.run(source, r.journal, r.offset, r.op, r.table, r.version, r.fields, r.raw, r.reason)
  }

  async bulkInsert(table: string, columns: readonly ColumnSpec[], rows: readonly (readonly SqlValue[])[]): Promise<void> {
    const s = this.#bulkStatement(table, columns)
    for (const row of rows) s.run(...row)
  }

  /**
   * Each row read into one array, reused, and bound as the statement's
   * parameters in order. A short integer goes as a number into a column
   * declared INTEGER (its affinity stores the exact float as the INTEGER
   * its text would have become, without parsing text), as text elsewhere.
   */
  async bulkWrite(table: string, columns: readonly ColumnSpec[], payload: Buffer, _rows: number): Promise<void> {
    const s = this.#bulkStatement(table, columns)
    let numbers = this.#numbers.get(s)
    if (!numbers) {
      const declared = new Map(
        (this.#conn.prepare('SELECT name, type FROM pragma_table_info(?)').all(table) as { name: string; type: string }[]).map((c) => [c.name, c.type]),
      )
      numbers = columns.map((c) => sqliteType(declared.get(c.name) ?? '') === 'integer')
      this.#numbers.set(s, numbers)
    }
    readValues(payload as Parameters<typeof readValues>[0], columns.length, new Array<BoundValue>(columns.length), (row) => s.run(row), numbers)
  }

  #bulkStatement(table: string, columns: readonly ColumnSpec[]): Statement {
    return this.#statement(`bulk\0${table}\0${columns.map((c) => c.name).join(',')}`, () => {
      return `INSERT INTO ${q(table)} (${columns.map((c) => q(c.name)).join(', ')}) VALUES (${columns.map(() => '?').join(', ')})`
    })
  }

  async bulkEnd(): Promise<void> {}

  async addKeyKeepingLast(table: string, key: readonly string[]): Promise<number> {
    const db = this.#conn
    try {
      db.exec(this.keyDdl(table, key))
      return 0
    } catch (err) {
      if ((err as { code?: string }).code !== 'SQLITE_CONSTRAINT_UNIQUE') throw err
    }
    // A failed statement is undone alone; the transaction goes on. Rows were inserted in file order: rowid says which came last.
    const k = key.map(q).join(', ')
    const removed = db.prepare(`DELETE FROM ${q(table)} WHERE rowid NOT IN (SELECT MAX(rowid) FROM ${q(table)} GROUP BY ${k})`).run().changes
    db.exec(this.keyDdl(table, key))
    return removed
  }

  async rekey(table: string, key: readonly string[], order: readonly ColumnSpec[]): Promise<number> {
    const db = this.#conn
    db.exec(`DROP INDEX IF EXISTS ${q(`${table}_key`)}`)
    const keyed = key.map((c) => `${q(c)} IS NOT NULL`).join(' AND ')
    // The row kept is PostgreSQL's too (see SqlAdapter.rekey): text in byte order (BINARY).
    const newer = order.length ? [`(${order.map((c) => `${q(c.name)} IS NULL`).join(' OR ')}) DESC`] : []
    const by = [...newer, ...order.map((c) => `${q(c.name)} DESC NULLS LAST`), 'rowid DESC'].join(', ')
    const removed = db
      .prepare(
        `DELETE FROM ${q(table)} WHERE rowid IN (SELECT rowid FROM (SELECT rowid, ROW_NUMBER() OVER (PARTITION BY ${key.map(q).join(', ')} ORDER BY ${by}) AS n ` +
          `FROM ${q(table)} WHERE ${keyed}) WHERE n > 1)`,
      )
      .run().changes
    db.exec(this.keyDdl(table, key))
    return removed
  }
}

function sqliteType(declared: string): ColumnType {
  const t = declared.toUpperCase()
  return t.includes('INT') ? 'integer' : t.includes('BLOB') || t === '' ? 'bytes' : 'text'
}
