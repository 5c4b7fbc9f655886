import t from 'tap'
import pg from 'pg'
import { setTimeout as sleep } from 'node:timers/promises'
import { PostgresAdapter } from '../../../../lib/listeners/builtin/sql/postgres-adapter.js'
import type { ColumnSpec, SqlValue } from '../../../../lib/listeners/builtin/sql/sql-adapter.js'
import { postgresSkip, startPostgres } from '../../../helpers/postgres.js'
import { rowsOf } from '../../../helpers/sql-replica.js'

t.test('COPY honours backpressure: a database that takes nothing stops the producer; nothing is lost', { skip: postgresSkip }, async (t) => {
  const server = await startPostgres()
  t.teardown(() => server.stop())
  const url = await server.createDatabase('backpressure')
  const adapter = new PostgresAdapter(url, 'postgres://backpressure')
  await adapter.connect()
  t.teardown(() => adapter.close())
  await adapter.exec('CREATE TABLE bp (n bigint, t text)')

  // Another session locks the table: the COPY waits for the lock and reads nothing from the socket.
  const blocker = new pg.Client({ connectionString: url })
  await blocker.connect()
  t.teardown(() => blocker.end())
  await blocker.query('BEGIN')
  await blocker.query('LOCK TABLE bp IN ACCESS EXCLUSIVE MODE')

  const columns: ColumnSpec[] = [
    { name: 'n', type: 'integer' },
    { name: 't', type: 'text' },
  ]
  const CALLS = 400
  const ROWS = 100 // about 10 kB of COPY text per call, 4 MB in all
  let accepted = 0
  await adapter.begin()
  const producer = (async () => {
    for (let c = 0; c < CALLS; c++) {
      const rows: SqlValue[][] = []
      for (let i = 0; i < ROWS; i++) rows.push([String(c * ROWS + i), 'x'.repeat(90)])
      await adapter.bulkInsert('bp', columns, rows)
      accepted += ROWS
    }
  })()
  producer.catch(() => {})

  // Wait until the server shows the COPY waiting for the lock and the producer has stopped moving.
  for (let stable = 0, last = -1; stable < 10 && accepted < CALLS * ROWS; ) {
    await sleep(20)
    const waiting = await rowsOf(url, "SELECT 1 FROM pg_stat_activity WHERE datname = 'backpressure' AND wait_event_type = 'Lock' AND query LIKE 'COPY%'")
    stable = waiting.length > 0 && accepted === last ? stable + 1 : 0
    last = accepted
  }
  // COPY text buffered in JS: the gathered chunk (64 kB) plus the stream's and the socket's buffers; never the 4 MB.
  t.ok(accepted < CALLS * ROWS, `the producer stopped (${accepted} of ${CALLS * ROWS} rows taken while the database took none)`)
  t.ok(accepted <= 2_000, `at most about 200 kB of rows held in JS (${accepted} rows)`)

  await blocker.query('ROLLBACK')
  await producer
  await adapter.commit()
  t.same(await rowsOf(url, 'SELECT count(*)::int AS n, count(DISTINCT n)::int AS d FROM bp'), [{ n: CALLS * ROWS, d: CALLS * ROWS }], 'every row, once')
})

t.test('COPY text: values larger than a chunk, escapes, non-ASCII, bytes and NULL arrive as they were', { skip: postgresSkip }, async (t) => {
  const server = await startPostgres()
  t.teardown(() => server.stop())
  const url = await server.createDatabase('copytext')
  const adapter = new PostgresAdapter(url, 'postgres://copytext')
  await adapter.connect()
  t.teardown(() => adapter.close())
  await adapter.exec('CREATE TABLE ct (n bigint, t text, b bytea)')
  const columns: ColumnSpec[] = [
    { name: 'n', type: 'integer' },
    { name: 't', type: 'text' },
    { name: 'b', type: 'bytes' },
  ]
  const texts = [
    'é€😀'.repeat(30_000), // 270 kB of UTF-8: larger than a chunk, written on its own
    'tab\there, newline\nthere, CR\r, backslash \\ and \\N',
    '',
    null,
    'x'.repeat(21_000), // fills most of a chunk: the next value goes into a new one
    'ü'.repeat(10),
  ]
  const rows: SqlValue[][] = []
  for (let i = 0; i < 300; i++) rows.push([String(i), texts[i % texts.length] ?? null, i % 4 === 0 ? null : Buffer.from([i % 256, 0, 255, 92])])
  await adapter.begin()
  await adapter.bulkInsert('ct', columns, rows.slice(0, 150))
  await adapter.bulkInsert('ct', columns, rows.slice(150))
  await adapter.commit()
  const got = await rowsOf(url, 'SELECT n::text AS n, t, b FROM ct ORDER BY ct.n')
  t.equal(got.length, rows.length)
  const bad = got.filter(
    (r, i) =>
      r.n !== String(i) || r.t !== rows[i]?.[1] || !((r.b === null && rows[i]?.[2] === null) || Buffer.compare(r.b as Buffer, rows[i]?.[2] as Buffer) === 0),
  )
  t.same(
    bad.map((r) => r.n),
    [],
    'every value as written',
  )
})
