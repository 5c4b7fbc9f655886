/**
 * Ours: `logdaemon sql load` of the checkpoint into a fresh SQLite file
 * (one transaction: tables, prepared inserts, unique keys, views,
 * position). Compare with sqlite-insert-rows, the same rows inserted
 * already parsed.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sqlLoad } from '../../lib/cli/sql-load.js'
import { runScenario } from '../harness/scenario.js'

runScenario('sql-load-sqlite', async ({ input }) => {
  const work = mkdtempSync(join(tmpdir(), 'logdaemon-bench-sqlite-'))
  try {
    const t0 = performance.now()
    const s = await sqlLoad({ url: `sqlite:${join(work, 'replica.db')}`, checkpoint: input, journal: 1 })
    return { bytes: s.bytes, records: s.rows, unit: 'records', ms: performance.now() - t0, extra: { tables: s.tables, unmapped: s.unmapped } }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
})
