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
  // One transaction of 20 records of ~1 KB, held up to 4 batches of 2.5 records' bytes: the first 10 go into the open
  // transaction before its end, and then the rest a batch (3 records) at a time, not 4 batches again.
  const giant = Array.from({ length: 20 }, (_, i) => desc(1000 + i))
  t.same(
    await run([...giant, ex], { batchRows: 100_000, batchBytes: Math.floor(2.5 * len) }),
    { calls: [10, 3, 3, 3, 1], rows: 20 },
    'a large transaction: by bytes',
  )
  t.same(await run([...giant, ex], { batchRows: 2 }), { calls: [8, 2, 2, 2, 2, 2, 2], rows: 20 }, 'by count: 4 batches, then a batch at a time')
  t.same(await run([...giant, ex], { batchRows: 100_000 }), { calls: [20], rows: 20 }, 'the default 256 KiB holds it all until its end')
  t.same(await run([...giant, ex], {}), { calls: [20], rows: 20 }, 'and so do the default 500 rows')
  // Small transactions, not synced each: a batch goes into the open transaction once its changes up to a consistency point reach the bound.
  const small = Array.from({ length: 12 }, (_, i) => [desc(1000 + i), ex]).flat()
  t.same(await run(small, { batchRows: 100_000, batchBytes: Math.floor(2.5 * len) }, false), { calls: [3, 3, 3, 3], rows: 12 }, 'small transactions: by bytes')
  t.same(await run(small, { batchRows: 2 }, false), { calls: [2, 2, 2, 2, 2, 2], rows: 12 }, 'by count')
  t.same(await run(small, {}, false), { calls: [12], rows: 12 }, 'the defaults hold them until the sync')
})

t.test('bulk rows: integers bound as numbers only into INTEGER columns; a column declared TEXT keeps the text', async (t) => {
  const { SqliteAdapter } = await import('../../../../lib/listeners/builtin/sql/sqlite-adapter.js')
  const { RowBatchWriter, readSegments } = await import('../../../../lib/listeners/builtin/sql/row-batch-writer.js')
  const { JournalEntry } = await import('../../../../lib/journal/entry.js')
  const file = join(t.testdir(), 'bulk.db')
  const adapter = new SqliteAdapter(file, file)
  await adapter.connect()
  t.teardown(() => adapter.close())
  // db.desc version 0: desc_key (integer), description (text). One table declares desc_key INTEGER, one TEXT (as a table
  // made by another layout, where the column held text, would).
  await adapter.exec('CREATE TABLE as_int (desc_key INTEGER, description TEXT, logdaemon_raw BLOB)')
  await adapter.exec('CREATE TABLE as_text (desc_key TEXT, description TEXT, logdaemon_raw BLOB)')
  const w = new RowBatchWriter({ payload: 'values', tables: ['db.*'], exclude: [], encoding: 'utf8', journal: 1 })
  let offset = 0
  for (const k of ['5', '-12', '007', '12345678901234567']) {
    const b = Buffer.from(`@pv@ 0 @db.desc@ ${k} @d${k}@ \n`)
    w.addEntry(new JournalEntry(b, { journal: 1, offset, end: offset + b.length, line: 1 }))
    offset += b.length
  }
  const seg = [...readSegments(w.take() as Buffer)][0]
  t.ok(seg)
  const columns = [
    { name: 'desc_key', type: 'integer' as const },
    { name: 'description', type: 'text' as const },
    { name: 'logdaemon_raw', type: 'bytes' as const },
  ]
  await adapter.bulkWrite('as_int', columns, seg?.payload as Buffer, seg?.rows as number)
  await adapter.bulkWrite('as_text', columns, seg?.payload as Buffer, seg?.rows as number)
  const rows = (table: string) => adapter.query(`SELECT CAST(desc_key AS TEXT) AS k, typeof(desc_key) AS type, description AS d FROM ${table} ORDER BY rowid`)
  t.same(await rows('as_int'), [
    { k: '5', type: 'integer', d: 'd5' },
    { k: '-12', type: 'integer', d: 'd-12' },
    { k: '7', type: 'integer', d: 'd007' },
    { k: '12345678901234567', type: 'integer', d: 'd12345678901234567' },
  ])
  t.same(
    await rows('as_text'),
    [
      { k: '5', type: 'text', d: 'd5' },
      { k: '-12', type: 'text', d: 'd-12' },
      { k: '7', type: 'text', d: 'd007' },
      { k: '12345678901234567', type: 'text', d: 'd12345678901234567' },
    ],
    'integers as their decimal text, not 5.0 (007 as its value, as PostgreSQL stores it; the record is in logdaemon_raw)',
  )
})
