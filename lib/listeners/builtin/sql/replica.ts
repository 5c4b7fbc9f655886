import { ErrorCodes, LogdaemonError } from '../../../errors.js'
import { comparePositions, formatPosition, type JournalPosition } from '../../../position.js'
import type { RowOp, UnmappedRecord } from './row-mapper.js'
import type { ColumnSpec, SqlAdapter, TableColumns } from './sql-adapter.js'
import { columnIdentity, keySetOf, type SqlLayout } from './sql-layout.js'
import { RAW_COLUMN, quoteIdent as q } from './sql-names.js'
import {
  OWN_TABLES,
  POSITION_TABLE,
  TABLES_TABLE,
  VIEW_TABLES,
  VIEWS,
  addColumnDdl,
  createTableDdl,
  ownTablesDdl,
  viewsDdl,
  viewsReading,
} from './replica-ddl.js'

/**
 * The replica in a database, whatever the database: the tables it has,
 * creating and widening them (ALTER TABLE … ADD COLUMN when a newer table
 * version brings columns), the views, and the position. Knows nothing of
 * listeners or files: the `sql` listener and `logdaemon sql load` drive it.
 *
 * Every method that writes runs inside the transaction the caller opened
 * with `begin()`: DDL, rows and position commit together.
 */
export class Replica {
  readonly adapter: SqlAdapter
  #tables: TableColumns = new Map()
  /** Each replica table's key columns and journal table, as logdaemon_tables registers them. */
  #keys = new Map<string, readonly string[]>()
  #journalTables = new Map<string, string>()
  #position: JournalPosition | null = null
  /** The position set in the open transaction: it becomes `position` at commit. */
  #nextPosition: JournalPosition | null = null
  #inTransaction = false

  constructor(adapter: SqlAdapter) {
    this.adapter = adapter
  }

  /** The position the database holds (everything before it is applied), or null for none. */
  get position(): JournalPosition | null {
    return this.#position
  }

  get inTransaction(): boolean {
    return this.#inTransaction
  }

  /**
   * Connects, creates the replica's own tables when missing, reads the
   * tables and the position. A database that holds no replica but another
   * application's tables (or views named as the replica's) is refused
   * first, left as it was: ERR_SQL_NOT_EMPTY, not retried.
   */
  async open(): Promise<void> {
    await this.adapter.connect()
    const { replica, foreign } = await this.survey()
    if (!replica && foreign.length > 0) {
      throw Object.assign(
        new LogdaemonError(
          ErrorCodes.SQL_NOT_EMPTY,
          `${this.adapter.masked} holds no replica but ${foreignWhat(foreign)}: it is another application's database. ` +
            `Point the listener at a database of its own (empty, or loaded with 'logdaemon sql load')`,
          { details: { url: this.adapter.masked, foreign } },
        ),
        { retryable: false },
      )
    }
    await this.adapter.prepareWrites()
    await this.reload()
    await this.#checkRegistered()
  }

  /**
   * Each table logdaemon_tables registers is there, with its key: puts
   * replace rows by that key. A table dropped, or its key (a unique index,
   * the primary key) dropped outside logdaemon, failed every write with a
   * database error retried for ever, or (SQLite, without the index) let a
   * put add a second row of a key (a probe). Not retried: the replica must
   * be mended or loaded again.
   */
  async #checkRegistered(): Promise<void> {
    const problems: string[] = []
    for (const [table, key] of this.#keys) {
      if (!this.#tables.has(table)) {
        problems.push(`table ${q(table)} is missing`)
        continue
      }
      const want = [...key].sort().join(',')
      if (!(await this.adapter.uniqueKeys(table)).some((k) => [...k].sort().join(',') === want)) {
        problems.push(`table ${q(table)} has no unique key on (${key.join(', ')})`)
      }
    }
    if (problems.length === 0) return
    throw Object.assign(
      new LogdaemonError(
        ErrorCodes.SQL_FAILED,
        `the replica in ${this.adapter.masked} was changed outside logdaemon: ${problems.join('; ')} (registered in ${TABLES_TABLE}). ` +
          `Rows could be lost or doubled: restore the table or its key, or load the replica again ('logdaemon sql load --replace' from a checkpoint)`,
        { details: { problems } },
      ),
      { retryable: false },
    )
  }

  /** Reads what the database has (after a reconnect, or another writer). */
  async reload(): Promise<void> {
    await this.begin(false)
    try {
      for (const sql of ownTablesDdl(this.adapter)) await this.adapter.exec(sql)
      await this.commit()
    } catch (err) {
      await this.rollback()
      throw err
    }
    this.#tables = await this.adapter.tables()
    this.#position = await this.readPosition()
    await this.#readKeys()
  }

  async #readKeys(): Promise<void> {
    this.#keys = new Map()
    this.#journalTables = new Map()
    for (const r of await this.adapter.query(`SELECT table_name, journal_table, key_columns FROM ${TABLES_TABLE}`)) {
      const table = String(r.table_name)
      this.#keys.set(table, String(r.key_columns).split(','))
      this.#journalTables.set(table, String(r.journal_table))
    }
  }

  /** Each replica table's key columns (SQL names), as registered in logdaemon_tables. */
  get keys(): ReadonlyMap<string, readonly string[]> {
    return this.#keys
  }

  /** Each replica table's journal table (`rev` → `db.rev`). */
  get journalTables(): ReadonlyMap<string, string> {
    return this.#journalTables
  }

  async readPosition(): Promise<JournalPosition | null> {
    const rows = await this.adapter.query(`SELECT journal, "offset" FROM ${POSITION_TABLE} WHERE id = 1`)
    const row = rows[0]
    if (!row) return null
    return { journal: Number(row.journal), offset: Number(row.offset) }
  }

  /** Tables other than the replica's own, and views: what makes a database "not empty". */
  async contents(): Promise<{ tables: string[]; own: string[]; views: string[] }> {
    const tables = [...(await this.adapter.tables()).keys()]
    const views = await this.adapter.views()
    const registered = new Set(
      tables.includes(TABLES_TABLE) ? (await this.adapter.query(`SELECT table_name FROM ${TABLES_TABLE}`)).map((r) => String(r.table_name)) : [],
    )
    const own = tables.filter((t) => OWN_TABLES.includes(t) || registered.has(t))
    return { tables: tables.filter((t) => !own.includes(t)), own, views }
  }

  /**
   * Whether the database holds a replica (a position, or a table
   * logdaemon_tables registers), its position, and what in it logdaemon
   * did not create: tables, and, when it holds no replica, views named as
   * the replica's (`changes`, `change_files`: another application's, which
   * the replica would replace). Before, the listener on another
   * application's database took its `rev` table as the replica's (added
   * its columns and rows to it: SQLite) and replaced its `changes` view,
   * and `sql load` replaced such a view (a probe).
   */
  async survey(): Promise<{ replica: boolean; position: JournalPosition | null; foreign: string[] }> {
    const c = await this.contents()
    const position = c.own.includes(POSITION_TABLE) ? await this.readPosition().catch(() => null) : null
    const replica = position !== null || c.own.some((t) => !t.startsWith('logdaemon_'))
    return { replica, position, foreign: [...c.tables, ...(replica ? [] : c.views.filter((v) => VIEWS.includes(v)))] }
  }

  /**
   * Opens a write transaction. Unless `check` is false, first thing in it
   * the position is read again: another writer's commit since ours would
   * make our tables and position stale (ERR_SQL_CONFLICT).
   */
  async begin(check = true): Promise<void> {
    await this.adapter.begin()
    this.#inTransaction = true
    if (!check) return
    const now = await this.readPosition()
    const was = this.#position
    if (now === null ? was === null : was !== null && comparePositions(now, was) === 0) return
    await this.rollback()
    throw this.#conflict(`is ${now ? formatPosition(now) : 'empty'}, not ${was ? formatPosition(was) : 'empty'}`)
  }

  #conflict(what: string): LogdaemonError {
    return Object.assign(
      new LogdaemonError(
        ErrorCodes.SQL_CONFLICT,
        `${this.adapter.masked}: the position in ${POSITION_TABLE} ${what}: ` +
          'another logdaemon (or a load) wrote to this database. Run one writer per database, then restart',
        { details: { url: this.adapter.masked } },
      ),
      { retryable: false },
    )
  }

  async commit(): Promise<void> {
    await this.adapter.commit()
    this.#inTransaction = false
    if (this.#nextPosition) this.#position = this.#nextPosition
    this.#nextPosition = null
  }

  /** Rolls back the open transaction, if any; never throws (a broken connection has none left). */
  async rollback(): Promise<void> {
    if (!this.#inTransaction) return
    this.#inTransaction = false
    this.#nextPosition = null
    await this.adapter.rollback().catch(() => {})
    // DDL of the rolled-back transaction is gone too.
    this.#tables = await this.adapter.tables().catch(() => this.#tables)
    await this.#readKeys().catch(() => {})
  }

  /** A table's columns as they are now (in this transaction). */
  columnsOf = (table: string): readonly ColumnSpec[] => this.#tables.get(table) ?? []

  has(table: string, column: string): boolean {
    return this.columnsOf(table).some((c) => c.name === column)
  }

  /**
   * Makes sure the table of each layout exists with all its columns:
   * CREATE TABLE (with its key unless `withKey` is false: a bulk load adds
   * keys after the rows) or ALTER TABLE … ADD COLUMN for the columns a
   * newer table version brought. Columns a layout lacks stay. Recreates
   * the views when a table they read changed.
   */
  async ensureTables(layouts: Iterable<SqlLayout>, withKey = true): Promise<void> {
    let viewsChanged = false
    for (const layout of layouts) {
      const existing = this.#tables.get(layout.table)
      const wanted: ColumnSpec[] = [
        ...layout.columns.map((c) => ({ name: c.name, type: c.integer ? ('integer' as const) : ('text' as const) })),
        { name: RAW_COLUMN, type: 'bytes' },
      ]
      if (existing && !this.#keys.has(layout.table)) {
        // A table logdaemon did not create (logdaemon_tables does not register it): another application's, never mixed.
        throw Object.assign(
          new LogdaemonError(
            ErrorCodes.SQL_FAILED,
            `${this.adapter.masked} holds a table ${q(layout.table)} that logdaemon did not create (not in ${TABLES_TABLE}): ` +
              `the replica's ${layout.journalTable} would go into it. Rename or move that table, or keep the replica in a database of its own`,
            { details: { url: this.adapter.masked, table: layout.table } },
          ),
          { retryable: false },
        )
      }
      if (!existing) {
        const a = this.adapter
        await a.exec(createTableDdl(a, layout.table, wanted))
        if (withKey) await a.exec(a.keyDdl(layout.table, layout.key))
        await a.run(`INSERT INTO ${TABLES_TABLE} (table_name, journal_table, key_columns) VALUES ($1, $2, $3)`, [
          layout.table,
          layout.journalTable,
          layout.key.join(','),
        ])
        this.#tables.set(layout.table, wanted)
        this.#keys.set(layout.table, layout.key)
        this.#journalTables.set(layout.table, layout.journalTable)
        viewsChanged ||= VIEW_TABLES.has(layout.table)
        continue
      }
      const missing = wanted.filter((w) => !existing.some((c) => c.name === w.name))
      // A column that was integer in an older table version and holds text in this one becomes text (never the reverse: text holds both).
      const widen = wanted.filter((w) => w.type === 'text' && existing.some((c) => c.name === w.name && c.type === 'integer'))
      if (missing.length === 0 && widen.length === 0) continue
      // A view that reads the column blocks its type change: those views go, and are made again below. Only those: a
      // view of the user's own that reads another view blocks dropping that view (PostgreSQL).
      for (const view of new Set(widen.flatMap((c) => viewsReading(layout.table, c.name)))) await this.adapter.exec(`DROP VIEW IF EXISTS ${q(view)}`)
      for (const c of widen) await this.adapter.widenToText(layout.table, c.name)
      for (const c of missing) await this.adapter.exec(addColumnDdl(this.adapter, layout.table, c))
      // The raw column is last in new tables; added columns go after it. Order is cosmetic: inserts name columns.
      const widened = new Set(widen.map((c) => c.name))
      const now = [...existing.map((c) => (widened.has(c.name) ? { ...c, type: 'text' as const } : c)), ...missing]
      this.#tables.set(layout.table, now)
      await this.#fillRenamed(layout, missing, now)
      viewsChanged ||= VIEW_TABLES.has(layout.table)
    }
    if (viewsChanged) await this.createViews()
  }

  /** (Re)creates the views whose tables exist. */
  async createViews(): Promise<void> {
    for (const sql of viewsDdl(this.adapter, (t, c) => this.has(t, c))) await this.adapter.exec(sql)
  }

  /**
   * A column a newer layout brings that an older one had under another
   * name is the same column (see columnIdentity: `db.sendq` 4's `taskID` →
   * `taskid`, `task_id` → `taskid`; `db.graphindex`' `file_name` → `name`):
   * the rows already there get the old column's value in the new one
   * (where the types allow: the same type, or integers into text). The
   * old column stays, as every column a newer layout lacks does.
   */
  async #fillRenamed(layout: SqlLayout, added: readonly ColumnSpec[], columns: readonly ColumnSpec[]): Promise<void> {
    const inLayout = new Set(layout.columns.map((c) => c.name))
    for (const c of added) {
      const id = columnIdentity(layout.journalTable, c.name)
      const old = columns.find((o) => !inLayout.has(o.name) && o.name !== c.name && columnIdentity(layout.journalTable, o.name) === id)
      if (!old || !(old.type === c.type || (old.type === 'integer' && c.type === 'text'))) continue
      const value = old.type === c.type ? q(old.name) : `CAST(${q(old.name)} AS ${this.adapter.typeName('text')})`
      await this.adapter.exec(`UPDATE ${q(layout.table)} SET ${q(c.name)} = ${value} WHERE ${q(c.name)} IS NULL AND ${q(old.name)} IS NOT NULL`)
    }
  }

  /** Adds the key of a table loaded without one (after a bulk load); rows with one key: the last wins, as with pv. Resolves to the rows replaced. */
  async addKey(layout: SqlLayout): Promise<number> {
    await this.#register(layout)
    return this.adapter.addKeyKeepingLast(layout.table, layout.key)
  }

  /**
   * Gives a table the key of a newer layout (a p4d upgrade that changed
   * the key: `db.sendq` 4 with 18 fields → 21, `db.integedss` 0 → 1,
   * `db.have.rp` 2 → 3, `db.graphindex` 0 → 1). Its columns must exist
   * (ensureTables). The old key goes; of rows the new key makes one (a
   * key with fewer columns), the greatest by the old key is kept, the same
   * in either database (SqlAdapter.rekey); rows without a
   * value in a new key column (it did not exist in their layout and no
   * renamed column filled it) stay, keyed by nothing: no record of the new
   * layout names them. Resolves to the rows replaced.
   */
  async rekey(layout: SqlLayout): Promise<number> {
    const old = this.#keys.get(layout.table) ?? []
    const columns = this.columnsOf(layout.table)
    const order = old.map((name) => columns.find((c) => c.name === name)).filter((c): c is ColumnSpec => c !== undefined)
    await this.#register(layout)
    return this.adapter.rekey(layout.table, layout.key, order)
  }

  async #register(layout: SqlLayout): Promise<void> {
    await this.adapter.run(`UPDATE ${TABLES_TABLE} SET key_columns = $1 WHERE table_name = $2`, [layout.key.join(','), layout.table])
    this.#keys.set(layout.table, layout.key)
  }

  /**
   * Applies row changes in order, creating and widening tables first. A
   * change whose layout keys its table otherwise than the table is keyed
   * (a newer layout: the caller's KeyGate lets no older one through)
   * re-keys the table, after the changes before it went in by the old key.
   */
  async apply(ops: readonly RowOp[]): Promise<void> {
    let from = 0
    const keys = new Map<string, string>() // table → key set, as the changes before this one leave it
    for (let i = 0; i < ops.length; i++) {
      const l = (ops[i] as RowOp).layout
      const had = keys.get(l.table) ?? (this.#keys.has(l.table) ? keySetOf(this.#keys.get(l.table) as readonly string[]) : undefined)
      keys.set(l.table, l.keySet)
      if (had === undefined || had === l.keySet) continue
      await this.#applyInOrder(ops.slice(from, i))
      from = i
      await this.ensureTables([l])
      const replaced = await this.rekey(l)
      this.onRekey?.(l, replaced)
    }
    await this.#applyInOrder(from === 0 ? ops : ops.slice(from))
  }

  /** Told of each re-key (the listener logs it). */
  onRekey: ((layout: SqlLayout, replaced: number) => void) | null = null

  async #applyInOrder(ops: readonly RowOp[]): Promise<void> {
    if (ops.length === 0) return
    const layouts = new Set<SqlLayout>()
    for (const op of ops) layouts.add(op.layout)
    await this.ensureTables(layouts)
    await this.adapter.applyOps(ops, this.columnsOf)
  }

  async insertUnmapped(records: readonly UnmappedRecord[], source: string): Promise<void> {
    if (records.length > 0) await this.adapter.insertUnmapped(records, source)
  }

  /**
   * Moves the position from what this replica read to `to`, in the open
   * transaction. Compare-and-set: when the row holds another position,
   * another writer has been at this database: ERR_SQL_CONFLICT. `now`
   * goes into the row's `updated` (it tells this transaction's row from
   * another's after a commit whose answer was lost).
   */
  async setPosition(to: JournalPosition, now = new Date().toISOString()): Promise<void> {
    const from = this.#nextPosition ?? this.#position
    const changed = from
      ? await this.adapter.run(`UPDATE ${POSITION_TABLE} SET journal = $1, "offset" = $2, updated = $3 WHERE id = 1 AND journal = $4 AND "offset" = $5`, [
          String(to.journal),
          String(to.offset),
          now,
          String(from.journal),
          String(from.offset),
        ])
      : await this.adapter.run(
          `INSERT INTO ${POSITION_TABLE} (id, journal, "offset", updated) SELECT 1, $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM ${POSITION_TABLE})`,
          [String(to.journal), String(to.offset), now],
        )
    if (changed !== 1) throw this.#conflict(`is no longer ${from ? formatPosition(from) : 'empty'}`)
    this.#nextPosition = to
  }

  /** Drops the replica's tables and views (load --replace). */
  async dropAll(): Promise<void> {
    const { own, views } = await this.contents()
    for (const v of views.filter((v) => VIEWS.includes(v))) await this.adapter.exec(`DROP VIEW IF EXISTS ${q(v)}`)
    for (const t of own) await this.adapter.exec(`DROP TABLE IF EXISTS ${q(t)}`)
    for (const sql of ownTablesDdl(this.adapter)) await this.adapter.exec(sql)
    this.#tables = await this.adapter.tables()
    this.#position = null
    this.#nextPosition = null
  }
}

/** `tables logdaemon did not create (a, b)`, and the views, at most 5 names of each. */
export function foreignWhat(names: readonly string[]): string {
  const v = names.filter((n) => VIEWS.includes(n))
  const t = names.filter((n) => !VIEWS.includes(n))
  const list = (xs: readonly string[]) => `${xs.slice(0, 5).join(', ')}${xs.length > 5 ? ', …' : ''}`
  return [t.length ? `tables logdaemon did not create (${list(t)})` : '', v.length ? `views logdaemon did not create (${list(v)})` : '']
    .filter(Boolean)
    .join(' and ')
}
