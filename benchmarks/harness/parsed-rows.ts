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

export async function parsedRows(file: string): Promise<{ tables: Map<string, ParsedTable>; rows: number }> {
  const mapper = new RowMapper(new TableFilter(['db.*'], []), 'utf8')
  const tables = new Map<string, ParsedTable>()
  let rows = 0
  for await (const entry of createJournalReader(file, { journal: 1 }) as AsyncIterable<JournalEntry>) {
    const m = mapper.map(entry, 1)
    if (!m || m.kind !== 'put') continue
    let t = tables.get(m.layout.table)
    if (!t) tables.set(m.layout.table, (t = { layout: m.layout, rows: [] }))
    const row: SqlValue[] = m.values.slice()
    row.push(m.raw)
    t.rows.push(row)
    rows++
  }
  return { tables, rows }
}
