import t from 'tap'
import { postgresSkip, startPostgres, type Postgres } from '../../../helpers/postgres.js'
import { suite } from './sql-suite.js'

t.test('against a real PostgreSQL server', { skip: postgresSkip }, async (t) => {
  const pg: Postgres = await startPostgres()
  t.teardown(() => pg.stop())
  let n = 0
  suite(t, async () => pg.createDatabase(`replica_${++n}`))
})
