import t from 'tap'
import { writeFileSync } from 'node:fs'
import { connect, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { ErrorCodes } from '../../../../lib/errors.js'
import { SqlListener, optionsSchema } from '../../../../lib/listeners/builtin/sql/sql.js'
import { parseSqlUrl } from '../../../../lib/listeners/builtin/sql/sql-url.js'
import { transactions } from '../../../helpers/entries.js'
import { postgresSkip, startPostgres, type Postgres } from '../../../helpers/postgres.js'
import { rowsOf } from '../../../helpers/sql-replica.js'
import { suite } from '../../../helpers/sql-suite.js'

const listener = (url: string) => new SqlListener(optionsSchema.parse({ url }), parseSqlUrl(url))

t.test('against a real PostgreSQL server', { skip: postgresSkip }, async (t) => {
  const pg: Postgres = await startPostgres()
  t.teardown(() => pg.stop())
  let n = 0
  suite(t, async () => pg.createDatabase(`replica_${++n}`))

  t.test('a lost connection: the commit fails, is retried after a reconnect, nothing lost or doubled', async (t) => {
    const url = await pg.createDatabase('reconnect')
    const { entries } = transactions(40, 2)
    const l = listener(url)
    await l.open()
    for (const e of entries.slice(0, 20)) await l.listen(e)
    await l.sync({ journal: 2, offset: entries[19]!.position.end })
    await rowsOf(
      url.replace(/\/reconnect$/, '/postgres'),
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'reconnect' AND application_name = 'logdaemon'",
    )
    for (const e of entries.slice(20)) await l.listen(e)
    const end = { journal: 2, offset: entries.at(-1)!.position.end }
    await t.rejects(l.sync(end), { code: ErrorCodes.SQL_FAILED }, 'the first attempt fails')
    await l.sync(end) // the daemon's retry
    await l.close()
    t.same(
      (await rowsOf(url, 'SELECT value FROM counters')).map((r) => r.value),
      ['40'],
      'db.counters change = 40, from the last transaction',
    )
    t.same(
      (await rowsOf(url, 'SELECT journal, "offset" FROM logdaemon_position')).map((r) => `${r.journal}/${r.offset}`),
      [`2/${end.offset}`],
    )
  })

  t.test('a connection that stops answering (a frozen proxy): the statement fails after timeoutMs, a retry reconnects', async (t) => {
    // A probe: with the network cut and the socket left open, the listener waited for ever while the status said caught up.
    const url = await pg.createDatabase('frozen')
    let frozen = false
    const sockets = new Set<Socket>()
    const proxy = createServer((client) => {
      const server = connect(pg.port, '127.0.0.1')
      for (const s of [client, server]) {
        sockets.add(s)
        s.on('error', () => {})
        s.on('close', () => {
          client.destroy()
          server.destroy()
        })
      }
      client.on('data', (d) => frozen || server.write(d))
      server.on('data', (d) => frozen || client.write(d))
    })
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    t.teardown(() => {
      for (const s of sockets) s.destroy()
      proxy.close()
    })
    const port = (proxy.address() as { port: number }).port
    const through = url.replace(`:${pg.port}/`, `:${port}/`)
    const l = new SqlListener(optionsSchema.parse({ url: through, timeoutMs: 500 }), parseSqlUrl(through))
    t.teardown(() => l.close())
    const { entries } = transactions(40, 2)
    await l.open()
    for (const e of entries.slice(0, 20)) await l.listen(e)
    await l.sync({ journal: 2, offset: entries[19]!.position.end })
    frozen = true
    for (const e of entries.slice(20)) await l.listen(e)
    const end = { journal: 2, offset: entries.at(-1)!.position.end }
    const t0 = Date.now()
    await t.rejects(l.sync(end), { code: ErrorCodes.SQL_FAILED }, 'the commit fails')
    t.ok(Date.now() - t0 < 10_000, `within seconds (${Date.now() - t0} ms), not never`)
    frozen = false
    await l.sync(end) // the daemon's retry, on a new connection
    t.same(
      (await rowsOf(url, 'SELECT journal, "offset" FROM logdaemon_position')).map((r) => `${r.journal}/${r.offset}`),
      [`2/${end.offset}`],
    )
    t.same(
      (await rowsOf(url, 'SELECT value FROM counters')).map((r) => r.value),
      ['40'],
    )
  })
})

t.test('passwords: in the URL (never shown), from PGPASSFILE; a wrong one fails without showing it', { skip: postgresSkip }, async (t) => {
  const pg = await startPostgres({ password: 's3cret-Pw' })
  t.teardown(() => pg.stop())
  const url = await pg.createDatabase('secured')
  const { entries } = transactions(2, 1)
  const apply = async (u: string) => {
    const l = listener(u)
    try {
      for (const e of entries) await l.listen(e)
      await l.sync({ journal: 1, offset: entries.at(-1)!.position.end })
    } finally {
      await l.close()
    }
  }
  await apply(url)
  t.equal(parseSqlUrl(url).masked, `postgres://logdaemon:***@127.0.0.1:${pg.port}/secured`)

  const bare = pg.url('secured', false)
  const pgpass = join(t.testdir(), 'pgpass')
  writeFileSync(pgpass, `127.0.0.1:${pg.port}:*:logdaemon:s3cret-Pw\n`, { mode: 0o600 })
  const saved = process.env.PGPASSFILE
  process.env.PGPASSFILE = pgpass
  t.teardown(() => {
    if (saved === undefined) delete process.env.PGPASSFILE
    else process.env.PGPASSFILE = saved
  })
  const more = transactions(2, 2).entries
  const l = listener(bare)
  for (const e of more) await l.listen(e)
  await l.sync({ journal: 2, offset: more.at(-1)!.position.end })
  await l.close()
  t.pass('PGPASSFILE supplied the password')

  delete process.env.PGPASSFILE
  const wrong = `postgres://logdaemon:not-the-pw@127.0.0.1:${pg.port}/secured`
  const err = await listener(wrong)
    .open()
    .then(
      () => null,
      (e: unknown) => e as Error & { code: string },
    )
  t.match(err, { code: ErrorCodes.SQL_FAILED })
  t.notMatch(err?.message, /not-the-pw/, 'the wrong password is not in the message')
  t.match(err?.message, /logdaemon:\*\*\*@/)
})
