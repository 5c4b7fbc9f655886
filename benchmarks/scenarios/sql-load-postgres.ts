/**
 * Ours: `logdaemon sql load` of the checkpoint into a fresh PostgreSQL
 * database (COPY per table, then primary keys, views, position, one
 * transaction). The server is a private cluster started before the clock
 * (skipped without Debian's postgresql). Compare with postgres-copy-tsv.
 */
import { sqlLoad } from '../../lib/cli/sql-load.js'
import { postgresSkip, startPostgres } from '../harness/postgres-server.js'
import { runScenario, skipped } from '../harness/scenario.js'

runScenario('sql-load-postgres', async ({ input }) => {
  if (postgresSkip) return skipped('records', postgresSkip)
  const pg = await startPostgres()
  try {
    const url = await pg.createDatabase('replica')
    const t0 = performance.now()
    const s = await sqlLoad({ url, checkpoint: input, journal: 1 })
    return { bytes: s.bytes, records: s.rows, unit: 'records', ms: performance.now() - t0, extra: { tables: s.tables, unmapped: s.unmapped } }
  } finally {
    await pg.stop()
  }
})
