/**
 * The rows of a checkpoint as the sql loader maps them, read before a
 * baseline's clock starts: per table its layout and rows of values. Used by
 * the database baselines (SQLite inserting parsed rows, PostgreSQL COPY of
 * TSV), so they measure the database's own limit on the same rows.
 */
import type { JournalEntry } from '../../lib/journal/entry.js'
import { createJournalReader } from '../../lib/journal/read-journal.js'
import { RowMapper } from '../../lib/listeners/builtin/sql/row-mapper.js'
import type { SqlValue } from '../../lib/listeners/builtin/sql/sql-adapter.js'
import type { SqlLayout } from '../../lib/listeners/builtin/sql/sql-layout.js'
import { TableFilter } from '../../lib/listeners/builtin/sql/table-filter.js'

export interface ParsedTable {
  layout: SqlLayout
  rows: SqlValue[][]
}

/**
 * Rows with the same key resolved as a `pv` (and the loader) resolves them:
 * the last wins. A checkpoint from p4d has none; the simulator's has some
 * (db.revhx, db.storage), and a baseline whose key could not be added
 * would measure nothing.
 */

export async function parsedRows(file: string): Promise<{ tables: Map<string, ParsedTable>; rows: number }> {
  const mapper = new RowMapper(new TableFilter(['db.*'], []), 'utf8')
  const tables = new Map<string, ParsedTable>()
  const byKey = new Map<string, Map<string, SqlValue[]>>()
  for await (const entry of createJournalReader(file, { journal: 1 }) as AsyncIterable<JournalEntry>) {
    const m = mapper.map(entry, 1)
    if (m?.kind !== 'put') continue
    const l = m.layout
    if (!tables.has(l.table)) tables.set(l.table, { layout: l, rows: [] })
    let keyed = byKey.get(l.table)
    if (!keyed) byKey.set(l.table, (keyed = new Map()))
    const row: SqlValue[] = m.values.slice()
    row.push(m.raw)
    const key = l.keyIndex.map((i) => m.values[i]).join('\0')
    keyed.delete(key)
    keyed.set(key, row)
  }
  let rows = 0
  for (const [table, keyed] of byKey) {
    const t = tables.get(table) as ParsedTable
    t.rows = [...keyed.values()]
    rows += t.rows.length
  }
  return { tables, rows }
}
