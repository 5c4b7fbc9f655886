import t from 'tap'
import { join } from 'node:path'
import { suite } from '../../../helpers/sql-suite.js'

let n = 0
suite(t, async (t) => `sqlite:${join(t.testdir(), `replica-${++n}.db`)}`)

t.test('the built-in: url relative to the configuration, name, acknowledged position', async (t) => {
  const { create, optionsSchema } = await import('../../../../lib/listeners/builtin/sql/sql.js')
  const { parseConfig } = await import('../../../../lib/daemon/config.js')
  const { transactions } = await import('../../../helpers/entries.js')
  const dir = t.testdir()
  const l = create(optionsSchema.parse({ url: 'sqlite:replica.db' }), {
    name: 'reports',
    baseDir: dir,
  }) as import('../../../../lib/listeners/builtin/sql/sql.js').SqlListener
  t.equal(l.name, 'reports')
  t.equal(l.target.masked, `sqlite:${join(dir, 'replica.db')}`)
  t.equal(l.acknowledged(), null)
  const { entries } = transactions(3, 4)
  for (const e of entries) await l.listen(e)
  const end = entries.at(-1)!.position.end
  await l.sync({ journal: 4, offset: end })
  t.equal(l.acknowledged(), `4/${end}`)
  await l.close()
  t.throws(() => optionsSchema.parse({ url: 'sqlite:x.db', tables: [] }), 'at least one table pattern')
  t.throws(() => optionsSchema.parse({ url: 'sqlite:x.db', bogus: 1 }), 'strict options')
  const config = await parseConfig(
    { server: { root: dir }, listeners: [{ type: 'sql', options: { url: 'sqlite:r.db', exclude: ['db.have*'] } }] },
    { baseDir: dir },
  )
  t.match(config.listeners[0], { type: 'sql', options: { url: 'sqlite:r.db', exclude: ['db.have*'], tables: ['db.*'] } }, 'a configuration with the sql type')
  await t.rejects(parseConfig({ server: { root: dir }, listeners: [{ type: 'sql', options: { url: 42 } }] }, { baseDir: dir }), { code: 'ERR_CONFIG_INVALID' })
})

t.test('held row changes are bounded by the bytes of their records (batchBytes), not only by their count', async (t) => {
  const { SqlListener, optionsSchema } = await import('../../../../lib/listeners/builtin/sql/sql.js')
  const { SqliteAdapter } = await import('../../../../lib/listeners/builtin/sql/sqlite-adapter.js')
  const { parseSqlUrl } = await import('../../../../lib/listeners/builtin/sql/sql-url.js')
  const { entriesOf } = await import('../../../helpers/entries.js')
  const { rowsOf } = await import('../../../helpers/sql-replica.js')
  // Every call that writes row changes into the database, by its size.
  const calls: number[] = []
  const applyOps = SqliteAdapter.prototype.applyOps
  SqliteAdapter.prototype.applyOps = function (this: InstanceType<typeof SqliteAdapter>, ops) {
    calls.push(ops.length)
    return applyOps.call(this, ops)
  }
  t.teardown(() => {
    SqliteAdapter.prototype.applyOps = applyOps
  })
  const desc = (n: number) => ({ op: 'pv', version: 0, table: 'db.desc', fields: [n, 'x'.repeat(1000)] })
  const ex = { op: 'ex', fields: [42, 1611008050] }
  // Syncs after every consistent entry, as the daemon, or only after the last (a daemon whose commit interval has not passed).
  const run = async (specs: object[], options: object, everySync = true) => {
    calls.length = 0
    const url = `sqlite:${join(t.testdir(), `bytes-${++n}.db`)}`
    const l = new SqlListener(optionsSchema.parse({ url, ...options }), parseSqlUrl(url))
    const { entries } = entriesOf(specs as never, 3)
    for (const e of entries) {
      await l.listen(e)
      if (e.consistent && (everySync || e === entries.at(-1))) await l.sync({ journal: 3, offset: e.position.end })
    }
    await l.close()
    return { calls: [...calls], rows: Number((await rowsOf(url, 'SELECT COUNT(*) AS n FROM "desc"'))[0]?.n) }
  }
  const len = entriesOf([desc(1000)] as never, 3).entries[0]!.length
  // One transaction of 20 records of ~1 KB, held up to 4 batches of 2.5 records' bytes: the first 10 go into the open transaction before its end.
  const giant = Array.from({ length: 20 }, (_, i) => desc(1000 + i))
  t.same(await run([...giant, ex], { batchRows: 100_000, batchBytes: Math.floor(2.5 * len) }), { calls: [10, 10], rows: 20 }, 'a large transaction: by bytes')
  t.same(await run([...giant, ex], { batchRows: 100_000 }), { calls: [20], rows: 20 }, 'the default 256 KiB holds it all until its end')
  t.same(await run([...giant, ex], {}), { calls: [20], rows: 20 }, 'and so do the default 500 rows')
  // Small transactions, not synced each: a batch goes into the open transaction once its changes up to a consistency point reach the bound.
  const small = Array.from({ length: 12 }, (_, i) => [desc(1000 + i), ex]).flat()
  t.same(await run(small, { batchRows: 100_000, batchBytes: Math.floor(2.5 * len) }, false), { calls: [3, 3, 3, 3], rows: 12 }, 'small transactions: by bytes')
  t.same(await run(small, { batchRows: 2 }, false), { calls: [2, 2, 2, 2, 2, 2], rows: 12 }, 'by count')
  t.same(await run(small, {}, false), { calls: [12], rows: 12 }, 'the defaults hold them until the sync')
})
