import { finished } from 'node:stream'
import type { Writable } from 'node:stream'
import type { Client } from 'pg'
import { ErrorCodes, LogdaemonError } from '../../../errors.js'
import type { RowOp, UnmappedRecord } from './row-mapper.js'
import type { ColumnSpec, ColumnType, SqlAdapter, SqlValue, TableColumns } from './sql-adapter.js'
import { quoteIdent as q } from './sql-names.js'
import { UNMAPPED_TABLE } from './replica-ddl.js'
import type { SqlLayout } from './sql-layout.js'

/**
 * Rows per statement of a batched upsert or delete. Each statement sends one
 * array per column (unnest), so the parameter count stays at the column
 * count; the bound keeps one statement's message at a few MB.
 */
const ROWS_PER_STATEMENT = 5000

/** Bytes of COPY text gathered before one write to the COPY stream. */
const COPY_CHUNK_BYTES = 64 * 1024
/** Chunks kept for reuse (and sent ones remembered until they are free): more are left to the garbage collector. */
const MAX_SENT_CHUNKS = 8

const TAB = 0x09
const NEWLINE = 0x0a

const PG_TYPES: Record<ColumnType, string> = { integer: 'bigint', text: 'text', bytes: 'bytea' }

/**
 * PostgreSQL through `pg`. Row changes go as batched statements: per key
 * only the last change of a batch matters (each one sets or removes the
 * whole row), so a batch collapses to one upsert (`INSERT … SELECT FROM
 * unnest(…) ON CONFLICT (key) DO UPDATE`) and one delete per table
 * layout. Bulk loads use `COPY … FROM STDIN` (pg-copy-streams).
 *
 * Credentials: the URL, then the usual PG* variables, PGPASSWORD and the
 * PGPASSFILE, as `pg` reads them. Messages name the masked URL only.
 */
/** The epoch seconds PostgreSQL's timestamptz can hold (4713 BC to 294276 AD), with a margin of a day at each end. */
const PG_EPOCH_MIN = -210_866_716_800
const PG_EPOCH_MAX = 9_224_318_016_000 - 86_400

/** How long connecting may take before it fails (and is retried): a host that does not answer at all. */
const CONNECT_TIMEOUT_MS = 30_000
/** TCP keepalive probes start after this much silence: the kernel then finds a peer that is gone. */
const KEEPALIVE_DELAY_MS = 10_000
/** How long a goodbye to the server may take before the socket is simply destroyed (a peer that no longer answers). */
const END_TIMEOUT_MS = 2_000

export interface PostgresAdapterOptions {
  /**
   * A statement that has not answered after this many ms fails, and its
   * connection is dropped (the server then rolls its transaction back):
   * a network cut that leaves the socket open (a frozen proxy, a failed-over
   * host) would otherwise hang the caller for ever. 0 or absent: no limit
   * (a load, whose last statements may rightly take long).
   */
  timeoutMs?: number
}

/** See PostgresAdapter.maxKeyBytes. */
export const POSTGRES_MAX_KEY_BYTES = 2600

export class PostgresAdapter implements SqlAdapter {
  readonly dialect = 'postgres'
  /**
   * A btree index entry holds 2704 bytes at most (a third of a page): a
   * longer key failed the whole commit, retried for ever with no position
   * (a probe: a db.counters name of 4,000 characters). Some room is left
   * for the entry's own header and alignment.
   */
  readonly maxKeyBytes = POSTGRES_MAX_KEY_BYTES
  readonly bulkPayload = 'copy'
  readonly masked: string
  readonly #connectionString: string
  #client: Client | null = null
  /** The error the connection reported between calls (it is then unusable). */
  #broken: Error | null = null
  #copy: Copy | null = null
  /**
   * Called once when the connection is lost or the COPY in progress fails:
   * pg-copy-streams reports a lost connection with an 'error' event and no
   * more (a write waiting for the socket to drain, or the end waiting for
   * the server's answer, would wait for ever), so every wait on the COPY
   * also ends on this.
   */
  #onFailure: (() => void) | null = null
  /**
   * Chunks written to the COPY stream, and chunks free to fill again. A
   * chunk is free once the socket holds nothing more to send (see
   * #copyWrite): a load writes hundreds of MB in chunks, and new ones each
   * time were garbage that a thread doing little else collected late
   * (tens of MB of dead buffers at a time).
   */
  #sent: Buffer[] = []
  #freeChunks: Buffer[] = []

  readonly #timeoutMs: number

  constructor(connectionString: string, masked: string, options: PostgresAdapterOptions = {}) {
    this.#connectionString = connectionString
    this.masked = masked
    this.#timeoutMs = options.timeoutMs ?? 0
  }

  async connect(): Promise<void> {
    if (this.#client && !this.#broken) return
    await this.close()
    const { default: pg } = await import('pg')
    const client = new pg.Client({
      connectionString: this.#connectionString,
      application_name: 'logdaemon',
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
      connectionTimeoutMillis: this.#timeoutMs > 0 ? Math.min(this.#timeoutMs, CONNECT_TIMEOUT_MS) : CONNECT_TIMEOUT_MS,
      ...(this.#timeoutMs > 0 ? { query_timeout: this.#timeoutMs } : {}),
    })
    client.on('error', (err: Error) => this.#fail(client, err))
    // pg reports an unexpected end as an 'error'; this is for an end it does not report (after an error while connecting).
    client.on('end', () => this.#fail(client, new Error('Connection terminated')))
    this.#broken = null
    await client.connect()
    this.#client = client
  }

  /** Nothing: PostgreSQL keeps no setting of the replica's in the database. */
  async prepareWrites(): Promise<void> {}

  /** The connection `client` failed: it is unusable from now on, and whatever waits on its COPY stops waiting. */
  #fail(client: Client, err: Error): void {
    if (client !== this.#client) return
    this.#broken ??= err
    this.#onFailure?.()
  }

  get #conn(): Client {
    if (this.#broken) throw this.#broken
    if (!this.#client) throw new Error(`${this.masked} is not connected`)
    return this.#client
  }

  async close(): Promise<void> {
    const client = this.#client
    this.#client = null
    this.#copy = null
    this.#onFailure?.()
    if (client) await endWithin(client, END_TIMEOUT_MS)
  }

  async tables(): Promise<TableColumns> {
    const res = await this.#conn.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
         JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
        WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
        ORDER BY c.table_name, c.ordinal_position`,
    )
    const out: TableColumns = new Map()
    for (const r of res.rows) {
      const cols = (out.get(r.table_name) ?? []) as ColumnSpec[]
      cols.push({ name: r.column_name, type: r.data_type === 'bigint' || r.data_type === 'integer' ? 'integer' : r.data_type === 'bytea' ? 'bytes' : 'text' })
      out.set(r.table_name, cols)
    }
    return out
  }

  async uniqueKeys(table: string): Promise<string[][]> {
    await this.bulkEnd()
    const res = await this.#conn.query<{ columns: string[] }>(
      `SELECT array_agg(a.attname::text ORDER BY k.ord) AS columns
         FROM pg_index i
         JOIN pg_class c ON c.oid = i.indrelid
         JOIN pg_namespace n ON n.oid = c.relnamespace
         CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
         JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
        WHERE n.nspname = current_schema() AND c.relname = $1 AND i.indisunique AND i.indpred IS NULL
        GROUP BY i.indexrelid`,
      [table],
    )
    return res.rows.map((r) => r.columns)
  }

  async views(): Promise<string[]> {
    const res = await this.#conn.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.views WHERE table_schema = current_schema() ORDER BY table_name`,
    )
    return res.rows.map((r) => r.table_name)
  }

  typeName(type: ColumnType): string {
    return PG_TYPES[type]
  }

  /**
   * A view that reads the column blocks its type change: the replica's own
   * views are dropped first (Replica), a view of the user's is not ours to
   * drop. It is named in an error that is not retried (a probe: the bare
   * "cannot alter type of a column used by a view or rule" was retried for
   * ever at a p4d upgrade that widened db.counters' value).
   */
  async widenToText(table: string, column: string): Promise<void> {
    // A load's COPY may be open on the connection: it ends first, as before any other statement (else this waits behind it).
    await this.bulkEnd()
    const res = await this.#conn.query<{ view: string }>(
      `SELECT DISTINCT v.relname::text AS view
         FROM pg_depend d
         JOIN pg_rewrite r ON r.oid = d.objid
         JOIN pg_class v ON v.oid = r.ev_class
         JOIN pg_class t ON t.oid = d.refobjid
         JOIN pg_namespace n ON n.oid = t.relnamespace
         JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        WHERE n.nspname = current_schema() AND t.relname = $1 AND a.attname = $2 AND v.oid <> t.oid
        ORDER BY 1`,
      [table, column],
    )
    const views = res.rows.map((r) => r.view)
    if (views.length > 0) {
      throw Object.assign(
        new LogdaemonError(
          ErrorCodes.SQL_FAILED,
          `column ${q(column)} of ${q(table)} must become text (a newer table version holds text there), but ${views.map((v) => q(v)).join(', ')} ` +
            `read${views.length === 1 ? 's' : ''} it and PostgreSQL cannot change the type of a column a view reads: drop ${views.length === 1 ? 'that view' : 'those views'}, ` +
            `restart the daemon (it changes the column), then create ${views.length === 1 ? 'it' : 'them'} again`,
          { details: { table, column, views } },
        ),
        { retryable: false },
      )
    }
    await this.exec(`ALTER TABLE ${q(table)} ALTER COLUMN ${q(column)} TYPE text USING ${q(column)}::text`)
  }

  keyDdl(table: string, key: readonly string[]): string {
    return `ALTER TABLE ${q(table)} ADD PRIMARY KEY (${key.map(q).join(', ')})`
  }

  epochToTimestamp(expr: string): string {
    // NULL outside PostgreSQL's timestamp range, as SQLite's datetime() gives: one bad date (a probe: 2^63-1) made
    // every query of the view that reads it fail with "timestamp out of range".
    return `CASE WHEN ${expr} BETWEEN ${PG_EPOCH_MIN} AND ${PG_EPOCH_MAX} THEN to_timestamp(${expr}) END`
  }

  async begin(): Promise<void> {
    await this.#conn.query('BEGIN')
  }

  async commit(): Promise<void> {
    await this.bulkEnd()
    await this.#conn.query('COMMIT')
  }

  async rollback(): Promise<void> {
    const copy = this.#copy
    this.#copy = null
    if (copy) {
      // A COPY in progress holds the connection: a ROLLBACK would wait behind it for ever. Closing the
      // connection ends the COPY and rolls the transaction back (the server's rule for a lost client).
      copy.stream.destroy()
      await this.close()
      this.#broken = new Error(`${this.masked}: the connection was closed to abandon a COPY`)
      return
    }
    if (this.#broken || !this.#client) return
    await this.#client.query('ROLLBACK')
  }

  async exec(sql: string): Promise<void> {
    await this.bulkEnd()
    await this.#conn.query(sql)
  }

  async query(sql: string, params: readonly SqlValue[] = []): Promise<Record<string, unknown>[]> {
    await this.bulkEnd()
    return (await this.#conn.query(sql, params as SqlValue[])).rows as Record<string, unknown>[]
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<number> {
    await this.bulkEnd()
    return (await this.#conn.query(sql, params as SqlValue[])).rowCount ?? 0
  }

  async applyOps(ops: readonly RowOp[], columnsOf: (table: string) => readonly ColumnSpec[]): Promise<void> {
    await this.bulkEnd()
    // The last change of each key; Map keeps each key where it first came, which does not matter: keys are distinct.
    // An integer key counts by its value, as the database compares it: 007 and 7, 0 and -0 are one row (a probe:
    // told apart by their text, the batch's deletes missed the row its puts wrote, or one upsert hit a row twice).
    const last = new Map<string, RowOp>()
    for (const op of ops) {
      const l = op.layout
      let id = l.table
      for (const i of l.keyIndex) id += '\0' + (l.columns[i]?.integer ? integerKey(op.values[i]) : (op.values[i] as string))
      last.set(id, op)
    }
    const puts = new Map<SqlLayout, RowOp[]>()
    const dels = new Map<SqlLayout, RowOp[]>()
    for (const op of last.values()) {
      const groups = op.kind === 'put' ? puts : dels
      const g = groups.get(op.layout)
      if (g) g.push(op)
      else groups.set(op.layout, [op])
    }
    for (const [l, group] of dels) {
      for (let i = 0; i < group.length; i += ROWS_PER_STATEMENT) {
        const chunk = group.slice(i, i + ROWS_PER_STATEMENT)
        const arrays = l.keyIndex.map((k) => chunk.map((op) => op.values[k] ?? null))
        const types = l.keyIndex.map((k) => (l.columns[k]?.integer ? 'bigint' : 'text'))
        const d = l.key.map((_, j) => `k${j}`)
        await this.#conn.query(
          `DELETE FROM ${q(l.table)} t USING unnest(${types.map((t, j) => `$${j + 1}::${t}[]`).join(', ')}) AS d(${d.join(', ')}) ` +
            `WHERE ${l.key.map((k, j) => `t.${q(k)} = d.${d[j]}`).join(' AND ')}`,
          arrays,
        )
      }
    }
    for (const [l, group] of puts) {
      const sql = upsertSql(l, columnsOf(l.table))
      for (let i = 0; i < group.length; i += ROWS_PER_STATEMENT) {
        const chunk = group.slice(i, i + ROWS_PER_STATEMENT)
        const arrays: SqlValue[][] = l.columns.map((_, c) => chunk.map((op) => op.values[c] ?? null))
        arrays.push(chunk.map((op) => op.raw))
        await this.#conn.query(sql, arrays)
      }
    }
  }

  async insertUnmapped(records: readonly UnmappedRecord[], source: string): Promise<void> {
    await this.bulkEnd()
    await this.#conn.query(
      `INSERT INTO ${UNMAPPED_TABLE} (source, journal, "offset", op, table_name, version, fields, raw, reason)
       SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::bytea[], $9::text[])
       ON CONFLICT (source, journal, "offset") DO NOTHING`,
      [
        source,
        records.map((r) => r.journal),
        records.map((r) => r.offset),
        records.map((r) => r.op),
        records.map((r) => r.table),
        records.map((r) => r.version),
        records.map((r) => r.fields),
        records.map((r) => r.raw),
        records.map((r) => r.reason),
      ],
    )
  }

  /** Streams rows into `COPY table FROM STDIN` (text format); the COPY stays open until another statement or `bulkEnd`. */
  async bulkInsert(table: string, columns: readonly ColumnSpec[], rows: readonly (readonly SqlValue[])[]): Promise<void> {
    const copy = await this.#copyInto(table, columns)
    // COPY text goes straight into a chunk buffer (no string per line): a row may span two CopyData messages, which COPY allows.
    for (const row of rows) {
      for (let i = 0; i < row.length; i++) {
        const text = copyText(row[i] ?? null)
        // UTF-8 takes at most 3 bytes per UTF-16 unit; +1 for the tab or newline after the value.
        if (copy.used + text.length * 3 + 1 > copy.buf.length) {
          await this.#copyWrite()
          if (text.length * 3 + 1 > copy.buf.length) {
            // A value larger than a chunk goes as its own write.
            await this.#copyWrite(Buffer.from(text))
            copy.buf[copy.used++] = i === row.length - 1 ? NEWLINE : TAB
            continue
          }
        }
        copy.used += copy.buf.write(text, copy.used)
        copy.buf[copy.used++] = i === row.length - 1 ? NEWLINE : TAB
      }
    }
  }

  /** Rows already in COPY text (a RowBatchWriter's): copied into the chunks, so `payload` is the caller's again at once. */
  async bulkWrite(table: string, columns: readonly ColumnSpec[], payload: Buffer, _rows: number): Promise<void> {
    const copy = await this.#copyInto(table, columns)
    let p = 0
    while (p < payload.length) {
      if (copy.used === copy.buf.length) await this.#copyWrite()
      const n = Math.min(payload.length - p, copy.buf.length - copy.used)
      payload.copy(copy.buf, copy.used, p, p + n)
      copy.used += n
      p += n
    }
  }

  /** The COPY into `table` in progress, started (ending another one) when there is none. */
  async #copyInto(table: string, columns: readonly ColumnSpec[]): Promise<Copy> {
    if (this.#copy && this.#copy.table !== table) await this.bulkEnd()
    if (!this.#copy) {
      const { from: copyFrom } = await import('pg-copy-streams')
      const stream = this.#conn.query(copyFrom(`COPY ${q(table)} (${columns.map((c) => q(c.name)).join(', ')}) FROM STDIN`))
      const copy: Copy = { table, stream, buf: this.#chunk(), used: 0, failed: null }
      // An error before the end is seen at the next write or at bulkEnd (pg-copy-streams emits it without destroying the stream).
      stream.on('error', (err: Error) => {
        copy.failed ??= err
        this.#onFailure?.()
      })
      this.#copy = copy
    }
    return this.#copy
  }

  /** Writes the gathered chunk (or `data`, after it) to the COPY stream, waiting while the stream is full. */
  async #copyWrite(data?: Buffer): Promise<void> {
    const copy = this.#copy
    if (!copy) return
    // After a failure the stream has no connection left to write to (a write would throw a TypeError from inside pg-copy-streams).
    this.#copyCheck(copy)
    let chunk = data
    if (!chunk) {
      if (copy.used === 0) return
      chunk = copy.buf.subarray(0, copy.used)
      // The stream keeps the written buffer until the socket took it: the next chunk is another one.
      if (this.#sent.length < MAX_SENT_CHUNKS) this.#sent.push(copy.buf)
      copy.buf = this.#chunk()
      copy.used = 0
    }
    if (!copy.stream.write(chunk)) await this.#drained(copy)
    this.#copyCheck(copy)
    this.#reclaim(copy.stream)
  }

  /** Throws when the COPY or its connection failed, or the stream was closed. */
  #copyCheck(copy: Copy): void {
    const err = copy.failed ?? copy.stream.errored ?? this.#broken
    if (err) throw copyFailure(copy.table, err)
    if (copy.stream.destroyed || !this.#client) throw new Error(`${this.masked}: the COPY into ${copy.table} was closed`)
  }

  /**
   * Until the COPY stream drains, fails or closes, or its connection is
   * lost. Its listeners go when it returns: a COPY of a large table waits
   * here thousands of times on one stream (a race of `once(drain)` and
   * `finished()` left finished's four listeners behind each time, growing
   * with the table).
   */
  #drained(copy: Copy): Promise<void> {
    const stream = copy.stream
    if (stream.destroyed || copy.failed || this.#broken || !this.#client) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        stream.off('drain', done)
        stream.off('error', done)
        stream.off('close', done)
        this.#onFailure = null
        resolve()
      }
      stream.on('drain', done)
      stream.on('error', done)
      stream.on('close', done)
      this.#onFailure = done
    })
  }

  /** Until the server answered the end of the COPY; rejects when it failed, or its connection was lost first. */
  #ended(copy: Copy): Promise<void> {
    return new Promise((resolve, reject) => {
      let cleanup = (): void => {}
      const done = (err?: Error | null) => {
        cleanup()
        this.#onFailure = null
        const failed = err ?? copy.failed ?? this.#broken ?? (this.#client ? null : new Error(`${this.masked}: the COPY into ${copy.table} was closed`))
        if (failed) reject(copyFailure(copy.table, failed))
        else resolve()
      }
      if (copy.failed || this.#broken || !this.#client) return done()
      cleanup = finished(copy.stream, done)
      this.#onFailure = () => done()
    })
  }

  /** A chunk buffer: a free one, or a new one. */
  #chunk(): Buffer {
    return this.#freeChunks.pop() ?? Buffer.allocUnsafe(COPY_CHUNK_BYTES)
  }

  /**
   * Sent chunks are free again when neither the COPY stream nor the socket
   * under it holds bytes still to write (a socket's writableLength counts
   * a write until the kernel has taken it).
   */
  #reclaim(stream: Writable): void {
    if (this.#sent.length === 0 || stream.writableLength !== 0) return
    const socket = (this.#client as unknown as { connection?: { stream?: { writableLength?: unknown } } } | null)?.connection?.stream
    if (socket?.writableLength !== 0) return
    for (const b of this.#sent) if (this.#freeChunks.length < MAX_SENT_CHUNKS) this.#freeChunks.push(b)
    this.#sent = []
  }

  async addKeyKeepingLast(table: string, key: readonly string[]): Promise<number> {
    await this.bulkEnd()
    const c = this.#conn
    await c.query('SAVEPOINT logdaemon_key')
    try {
      await c.query(this.keyDdl(table, key))
      await c.query('RELEASE SAVEPOINT logdaemon_key')
      return 0
    } catch (err) {
      if ((err as { code?: string }).code !== '23505') throw err // unique_violation
      await c.query('ROLLBACK TO SAVEPOINT logdaemon_key')
    }
    // A table filled by COPY alone is append-only: a larger ctid is a row loaded later.
    const same = key.map((k) => `a.${q(k)} = b.${q(k)}`).join(' AND ')
    const res = await c.query(`DELETE FROM ${q(table)} a USING ${q(table)} b WHERE ${same} AND a.ctid < b.ctid`)
    await c.query(this.keyDdl(table, key))
    await c.query('RELEASE SAVEPOINT logdaemon_key')
    return res.rowCount ?? 0
  }

  async rekey(table: string, key: readonly string[], order: readonly ColumnSpec[]): Promise<number> {
    await this.bulkEnd()
    const c = this.#conn
    const pk = await c.query<{ conname: string }>(`SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'`, [q(table)])
    for (const r of pk.rows) await c.query(`ALTER TABLE ${q(table)} DROP CONSTRAINT ${q(r.conname)}`)
    // The primary key made its columns NOT NULL, and that stays: rows of the new layout may lack them.
    const notNull = await c.query<{ attname: string }>(
      `SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND attnotnull AND NOT attisdropped`,
      [q(table)],
    )
    for (const r of notNull.rows) await c.query(`ALTER TABLE ${q(table)} ALTER COLUMN ${q(r.attname)} DROP NOT NULL`)
    await c.query(`DROP INDEX IF EXISTS ${q(`${table}_key`)}`)
    // The row kept is SQLite's too (see SqlAdapter.rekey): text in byte order (COLLATE "C"). Not the last written:
    // PostgreSQL keeps no order of writes (a probe: an update went to an earlier page, before a row written first).
    const newer = order.length ? [`(${order.map((o) => `${q(o.name)} IS NULL`).join(' OR ')}) DESC`] : []
    const by = [...newer, ...order.map((o) => `${q(o.name)}${o.type === 'text' ? ' COLLATE "C"' : ''} DESC NULLS LAST`), 'ctid DESC'].join(', ')
    const keyed = key.map((k) => `${q(k)} IS NOT NULL`).join(' AND ')
    const res = await c.query(
      `DELETE FROM ${q(table)} WHERE ctid IN (SELECT ctid FROM (SELECT ctid, ROW_NUMBER() OVER (PARTITION BY ${key.map(q).join(', ')} ORDER BY ${by}) AS n ` +
        `FROM ${q(table)} WHERE ${keyed}) s WHERE n > 1)`,
    )
    await c.query(`CREATE UNIQUE INDEX ${q(`${table}_key`)} ON ${q(table)} (${key.map(q).join(', ')})`)
    return res.rowCount ?? 0
  }

  /** Ends a COPY in progress and waits for the server's answer. */
  async bulkEnd(): Promise<void> {
    const copy = this.#copy
    if (!copy) return
    await this.#copyWrite()
    this.#copy = null
    copy.stream.end()
    await this.#ended(copy)
    this.#reclaim(copy.stream)
  }
}

/** A COPY in progress: its stream, the chunk being filled, and the error it reported (pg-copy-streams emits it, and no more). */
interface Copy {
  table: string
  stream: Writable
  buf: Buffer
  used: number
  failed: Error | null
}

/** A COPY's failure, named: the server's error (its code kept) or the lost connection. */
function copyFailure(table: string, err: Error): Error {
  const code = (err as { code?: unknown }).code
  // A socket's error (EPIPE, ECONNRESET) or pg's end of the connection: the server's own message, if any, came first.
  const lost = (typeof code === 'string' && code.startsWith('E')) || err.message.startsWith('Connection terminated')
  const e = new Error(`the COPY into ${table} failed: ${lost ? `the connection to the server was lost (${err.message})` : err.message}`, { cause: err })
  return code === undefined ? e : Object.assign(e, { code })
}

/** `INSERT … SELECT * FROM unnest(…) ON CONFLICT (key) DO UPDATE`: columns the layout lacks become NULL, as a new row would have them. */
function upsertSql(l: SqlLayout, tableColumns: readonly ColumnSpec[]): string {
  const types = [...l.columns.map((c) => (c.integer ? 'bigint' : 'text')), 'bytea']
  const insert = l.insertColumns.map(q).join(', ')
  const keys = new Set(l.key)
  const layoutCols = new Set(l.insertColumns)
  const sets = tableColumns.filter((c) => !keys.has(c.name)).map((c) => `${q(c.name)} = ${layoutCols.has(c.name) ? `EXCLUDED.${q(c.name)}` : 'NULL'}`)
  return (
    `INSERT INTO ${q(l.table)} (${insert}) SELECT * FROM unnest(${types.map((t, i) => `$${i + 1}::${t}[]`).join(', ')}) ` +
    `ON CONFLICT (${l.key.map(q).join(', ')}) DO ${sets.length ? `UPDATE SET ${sets.join(', ')}` : 'NOTHING'}`
  )
}

/** A value in COPY's text format: `\N` for NULL, `\\x…` for bytes, text with backslash, tab, LF and CR escaped. */
function copyText(v: SqlValue): string {
  if (v === null) return '\\N'
  if (typeof v !== 'string') return '\\\\x' + v.toString('hex')
  return /[\\\t\n\r]/.test(v) ? v.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : v
}

/** An integer key's value as one text whatever its spelling (`007`, `+7`, `-0`); the value itself when it is no integer. */
function integerKey(v: SqlValue | undefined): string {
  if (typeof v !== 'string' || !/^[+-]?\d+$/.test(v)) return String(v)
  return BigInt(v).toString()
}

/**
 * Ends a connection politely, or destroys its socket when the server does
 * not answer in `ms` (a dead peer: `end()` would wait for ever). Never throws.
 */
async function endWithin(client: Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), ms)
  })
  const ended = await Promise.race([
    client.end().then(
      () => 'ended' as const,
      () => 'ended' as const,
    ),
    late,
  ])
  clearTimeout(timer)
  // pg keeps the socket as connection.stream (not in its types).
  if (ended === 'late') (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy()
}
