import type { ColumnSpec, SqlAdapter } from './sql-adapter.js'
import { quoteIdent as q } from './sql-names.js'

/** The replica's own tables. Their names and columns are part of the stable mapping (docs/sql.md). */
export const POSITION_TABLE = 'logdaemon_position'
export const UNMAPPED_TABLE = 'logdaemon_unmapped'
export const TABLES_TABLE = 'logdaemon_tables'
export const OWN_TABLES: readonly string[] = [POSITION_TABLE, UNMAPPED_TABLE, TABLES_TABLE]
export const VIEWS: readonly string[] = ['changes', 'change_files']

/** CREATE TABLE of the replica's own tables, for a dialect. */
export function ownTablesDdl(a: SqlAdapter): string[] {
  const int = a.typeName('integer')
  const text = a.typeName('text')
  const bytes = a.typeName('bytes')
  return [
    `CREATE TABLE IF NOT EXISTS ${POSITION_TABLE} (id ${int} PRIMARY KEY CHECK (id = 1), journal ${int} NOT NULL, "offset" ${int} NOT NULL, updated ${text} NOT NULL)`,
    `CREATE TABLE IF NOT EXISTS ${UNMAPPED_TABLE} (source ${text} NOT NULL, journal ${int} NOT NULL, "offset" ${int} NOT NULL, op ${text} NOT NULL, ` +
      `table_name ${text} NOT NULL, version ${int}, fields ${text} NOT NULL, raw ${bytes} NOT NULL, reason ${text} NOT NULL, PRIMARY KEY (source, journal, "offset"))`,
    `CREATE TABLE IF NOT EXISTS ${TABLES_TABLE} (table_name ${text} PRIMARY KEY, journal_table ${text} NOT NULL, key_columns ${text} NOT NULL)`,
  ]
}

export function createTableDdl(a: SqlAdapter, table: string, columns: readonly ColumnSpec[]): string {
  return `CREATE TABLE ${q(table)} (${columns.map((c) => `${q(c.name)} ${a.typeName(c.type)}`).join(', ')})`
}

export function addColumnDdl(a: SqlAdapter, table: string, column: ColumnSpec): string {
  return `ALTER TABLE ${q(table)} ADD COLUMN ${q(column.name)} ${a.typeName(column.type)}`
}

/** Action names of db.rev's `action` as `p4 describe` prints them (the schema's Action datatype; the notify listener uses the same). */
const ACTION_NAMES = ['add', 'edit', 'delete', 'branch', 'integrate', 'import', 'purge', 'move/add', 'move/delete', 'archive']

/** Columns each view reads, by table. */
const VIEW_NEEDS: Record<string, Record<string, readonly string[]>> = {
  changes: { change: ['change', 'desc_key', 'client', 'user', 'date', 'status', 'description'], desc: ['desc_key', 'description'] },
  change_files: { rev: ['depot_file', 'depot_rev', 'action', 'change'] },
}

/** The view's SELECT, for a dialect. */
function viewSql(a: SqlAdapter, view: string): string {
  if (view === 'changes') {
    return (
      `SELECT c."change" AS "change", c."user" AS "user", c."client" AS "client", ${a.epochToTimestamp('c."date"')} AS "date", ` +
      `CASE WHEN (c."status" & 2) <> 0 THEN 'shelved' WHEN (c."status" & 1) <> 0 THEN 'submitted' ELSE 'pending' END AS "status", ` +
      `COALESCE(d."description", c."description") AS "description" ` +
      `FROM "change" c LEFT JOIN "desc" d ON d."desc_key" = c."desc_key"`
    )
  }
  const cases = ACTION_NAMES.map((name, i) => `WHEN ${i} THEN '${name}'`).join(' ')
  return (
    `SELECT r."change" AS "change", r."depot_file" AS "depot_file", r."depot_rev" AS "rev", ` +
    `CASE r."action" ${cases} ELSE CAST(r."action" AS ${a.typeName('text')}) END AS "action" FROM "rev" r`
  )
}

/**
 * The views whose tables and columns all exist, as statements that
 * (re)create them. A view is made as soon as what it reads exists.
 */
export function viewsDdl(a: SqlAdapter, has: (table: string, column: string) => boolean): string[] {
  const out: string[] = []
  for (const view of VIEWS) {
    const needs = VIEW_NEEDS[view] as Record<string, readonly string[]>
    if (!Object.entries(needs).every(([t, cols]) => cols.every((c) => has(t, c)))) continue
    // PostgreSQL refuses to drop a view that a view of the user's own reads (a report built on `changes`): a probe's
    // replica stopped for good at a p4d upgrade that added a column to db.change. Its definition is the same each
    // time (the same columns, names and types), so it is replaced in place. SQLite has no CREATE OR REPLACE VIEW,
    // and drops a view whatever reads it.
    if (a.dialect === 'postgres') out.push(`CREATE OR REPLACE VIEW ${q(view)} AS ${viewSql(a, view)}`)
    else out.push(`DROP VIEW IF EXISTS ${q(view)}`, `CREATE VIEW ${q(view)} AS ${viewSql(a, view)}`)
  }
  return out
}

/** The views that read `column` of `table`: a change of that column's type must drop them first (PostgreSQL). */
export function viewsReading(table: string, column: string): string[] {
  return VIEWS.filter((view) => (VIEW_NEEDS[view]?.[table] ?? []).includes(column))
}

/** Tables a view reads: a change to one of them may create the view. */
export const VIEW_TABLES: ReadonlySet<string> = new Set(Object.values(VIEW_NEEDS).flatMap((n) => Object.keys(n)))
