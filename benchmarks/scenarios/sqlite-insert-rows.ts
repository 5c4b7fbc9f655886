/**
 * Baseline: SQLite's own limit on the checkpoint's rows. The rows are
 * parsed and mapped before the clock starts; timed: one transaction that
 * creates each table, inserts its rows with one prepared statement, adds
 * the unique key index, commits (WAL, synchronous FULL, as the loader).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Sqlite from 'better-sqlite3'
import { quoteIdent as q } from '../../lib/listeners/builtin/sql/sql-names.js'
import { parsedRows } from '../harness/parsed-rows.js'
import { runScenario } from '../harness/scenario.js'

runScenario('sqlite-insert-rows', async ({ input }) => {
  const { tables, rows } = await parsedRows(input)
  const bytes = (await stat(input)).size
  const work = mkdtempSync(join(tmpdir(), 'logdaemon-bench-sqlite-'))
  const db = new Sqlite(join(work, 'baseline.db'))
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = FULL')
    const t0 = performance.now()
    db.exec('BEGIN')
    for (const { layout: l, rows: list } of tables.values()) {
      const types = l.columns.map((c) => `${q(c.name)} ${c.integer ? 'INTEGER' : 'TEXT'}`)
      db.exec(`CREATE TABLE ${q(l.table)} (${types.join(', ')}, logdaemon_raw BLOB)`)
      const ins = db.prepare(`INSERT INTO ${q(l.table)} VALUES (${l.insertColumns.map(() => '?').join(', ')})`)
      for (const r of list) ins.run(...r)
      db.exec(`CREATE UNIQUE INDEX ${q(`${l.table}_key`)} ON ${q(l.table)} (${l.key.map(q).join(', ')})`)
    }
    db.exec('COMMIT')
    return { bytes, records: rows, unit: 'records', ms: performance.now() - t0 }
  } finally {
    db.close()
    rmSync(work, { recursive: true, force: true })
  }
})
