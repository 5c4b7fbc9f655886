import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { main } from '../../lib/cli/logdaemon.js'
import { ErrorCodes } from '../../lib/errors.js'
import { checkpointNumberOf, sqlLoad } from '../../lib/cli/sql-load.js'
import { RecordGenerator } from '../../lib/sim/record-generator.js'
import { postgresSkip, startPostgres } from '../helpers/postgres.js'
import { dumpReplica, replay, rowsOf } from '../helpers/sql-replica.js'
import { fakeIO } from '../helpers/stdio.js'

const checkpoint = Buffer.concat([...new RecordGenerator(11).checkpointRecords(300_000)])

function files(t: Test): { plain: string; gz: string; dir: string } {
  const dir = t.testdir()
  const plain = join(dir, 'checkpoint.5')
  const gz = join(dir, 'other.ckp.6.gz')
  writeFileSync(plain, checkpoint)
  writeFileSync(gz, gzipSync(checkpoint))
  return { plain, gz, dir }
}

/** Both dumps without the position (the load's is N/0, a replay's is the file's end). */
async function sameRows(t: Test, a: string, b: string, msg: string): Promise<void> {
  const x = await dumpReplica(a)
  const y = await dumpReplica(b)
  delete x.logdaemon_position
  delete y.logdaemon_position
  // The loader names its source checkpoint.N; the listener, journal.
  for (const d of [x, y]) d.logdaemon_unmapped = (d.logdaemon_unmapped ?? []).map((r) => r.replace(/^source=[^|]*\| /, ''))
  t.same(Object.keys(x), Object.keys(y), `${msg}: the same tables`)
  for (const k of Object.keys(y)) t.same(x[k], y[k], `${msg}: ${k} (${y[k]?.length} rows)`)
}

t.test('checkpoint numbers from file names', async (t) => {
  t.equal(checkpointNumberOf('/p4/checkpoint.42'), 42)
  t.equal(checkpointNumberOf('/p4/checkpoint.42.gz'), 42)
  t.equal(checkpointNumberOf('p4.ckp.7'), 7)
  t.equal(checkpointNumberOf('bench.ckp'), null)
})

async function loads(t: Test, fresh: () => Promise<string>): Promise<void> {
  t.test('loads a checkpoint: the same rows as applying it with the listener; position N/0', async (t) => {
    const { plain } = files(t)
    const url = await fresh()
    const s = await sqlLoad({ url, checkpoint: plain })
    t.same(s.position, { journal: 5, offset: 0 })
    t.ok(s.rows > 500 && s.tables > 10, `${s.rows} rows in ${s.tables} tables`)
    // The simulator writes db.integed version 7, which no schema document describes: kept, not guessed.
    t.ok(s.unmapped > 0, `${s.unmapped} records in logdaemon_unmapped`)
    t.same((await dumpReplica(url)).logdaemon_position, ['5/0'])
    const byListener = await fresh()
    await replay(byListener, [{ n: 5, bytes: checkpoint }])
    await sameRows(t, url, byListener, 'load = listener')
    t.ok((await rowsOf(url, 'SELECT * FROM changes')).length > 0, 'the views exist')
  })

  t.test('refuses a database with a replica unless --replace; never one with other tables', async (t) => {
    const { plain, gz } = files(t)
    const url = await fresh()
    await sqlLoad({ url, checkpoint: plain, exclude: ['db.have*'] })
    await t.rejects(sqlLoad({ url, checkpoint: gz }), { code: ErrorCodes.SQL_NOT_EMPTY })
    const s = await sqlLoad({ url, checkpoint: gz, replace: true })
    t.same(s.position, { journal: 6, offset: 0 }, 'a .gz, with a prefix name')
    const once = await fresh()
    await sqlLoad({ url: once, checkpoint: gz })
    await sameRows(t, url, once, 'replaced = loaded once')
    const other = await fresh()
    await rowsOf(other, 'CREATE TABLE payroll (x integer)')
    await t.rejects(sqlLoad({ url: other, checkpoint: plain, replace: true }), { code: ErrorCodes.SQL_NOT_EMPTY, message: /payroll/ })
  })

  t.test('rows with the same key: the last wins, as a pv replaces', async (t) => {
    const { dir } = files(t)
    const dup = join(dir, 'checkpoint.8')
    writeFileSync(
      dup,
      '@pv@ 0 @db.desc@ 1 @a@ \n@pv@ 1 @db.counters@ @change@ @1@ \n@pv@ 0 @db.desc@ 1 @b@ \n@pv@ 0 @db.desc@ 2 @c@ \n@pv@ 0 @db.desc@ 1 @d@ \n',
    )
    const url = await fresh()
    const s = await sqlLoad({ url, checkpoint: dup })
    t.match(s, { rows: 3, replaced: 2 })
    t.same(
      (await rowsOf(url, 'SELECT desc_key, description FROM "desc" ORDER BY desc_key')).map((r) => [String(r.desc_key), r.description]),
      [
        ['1', 'd'],
        ['2', 'c'],
      ],
    )
  })

  t.test('a progress bar on a terminal; deletes in a checkpoint are kept in logdaemon_unmapped', async (t) => {
    const { dir } = files(t)
    const odd = join(dir, 'checkpoint.4')
    writeFileSync(odd, '@pv@ 0 @db.desc@ 1 @a@ \n@dv@ 0 @db.desc@ 2 @b@ \n@ex@ 1 1611008050\n')
    const url = await fresh()
    const bar = new PassThrough()
    let drawn = ''
    bar.on('data', (c: Buffer) => (drawn += c.toString()))
    const s = await sqlLoad({ url, checkpoint: odd, progress: bar })
    t.match(s, { rows: 1, unmapped: 1 })
    t.match(drawn, /logdaemon sql load/, 'the bar names the command')
    const rows = await rowsOf(url, 'SELECT source, op, table_name, reason FROM logdaemon_unmapped')
    t.match(rows, [{ source: 'checkpoint.4', op: 'dv', table_name: 'db.desc', reason: /a delete in a checkpoint/ }])
  })

  t.test('a failed load leaves the database as it was', async (t) => {
    const { dir } = files(t)
    const dup = join(dir, 'checkpoint.9')
    // A record that is not a journal record: the load fails after creating tables.
    writeFileSync(dup, '@pv@ 0 @db.desc@ 1 @a@ \n@pv@ 1 @db.counters@ @change@ @1@ \n@pv@ 0 @db.desc@ 1 @b@ \n@pv@ 0 @db.desc@ 2 @unterminated \n')
    const url = await fresh()
    await t.rejects(sqlLoad({ url, checkpoint: dup }), { code: /ERR_/ })
    t.same((await rowsOf(url, 'SELECT table_name FROM logdaemon_tables')).length, 0)
    t.same((await dumpReplica(url)).logdaemon_position, [])
  })
}

t.test('SQLite', async (t) => {
  let n = 0
  const dir = t.testdir()
  await loads(t, async () => `sqlite:${join(dir, `r${++n}.db`)}`)
})

t.test('PostgreSQL', { skip: postgresSkip }, async (t) => {
  const pg = await startPostgres()
  t.teardown(() => pg.stop())
  let n = 0
  await loads(t, () => pg.createDatabase(`load_${++n}`))
})

t.test('logdaemon sql load: the command', async (t) => {
  const { plain, dir } = files(t)
  const url = `sqlite:${join(dir, 'cli.db')}`
  let f = fakeIO()
  t.equal(await main(['sql', 'load', '--url', url, plain], f.io), 0, f.stderr())
  t.match(f.stdout().toString(), /loaded \d+ rows into \d+ tables of sqlite:.*position 5\/0: run the daemon with the sql listener and from: 5/)
  f = fakeIO()
  const other = `sqlite:${join(dir, 'cli2.db')}`
  const args = ['sql', 'load', '--url', other, '--journal', '7', '--tables', 'db.*', '--exclude', 'db.have*', '--encoding', 'latin1', plain]
  t.equal(await main(args, f.io), 0, f.stderr())
  t.match(f.stdout().toString(), /position 7\/0/)
  t.same(await rowsOf(other, "SELECT table_name FROM logdaemon_tables WHERE table_name = 'have'"), [], '--exclude')
  f = fakeIO()
  t.equal(await main(['sql', 'load', '--url', url, plain], f.io), 1)
  t.match(f.stderr(), /already holds a replica at 5\/0: give --replace/)
  for (const args of [
    ['sql'],
    ['sql', 'load', plain],
    ['sql', 'load', '--url', url],
    ['sql', 'dump', '--url', url, plain],
    ['sql', 'load', '--url', url, '--journal', 'x', plain],
    ['sql', 'load', '--url', url, '--bogus', plain],
  ]) {
    f = fakeIO()
    t.equal(await main(args, f.io), 2, `${args.join(' ')}: usage error`)
  }
  f = fakeIO()
  t.equal(await main(['sql', 'load', '--url', url, join(dir, 'no-name.ckp')], f.io), 2, 'no journal number in the name')
  t.match(f.stderr(), /--journal N/)
  f = fakeIO()
  t.equal(await main(['sql', '--help'], f.io), 0)
  t.match(f.stdout().toString(), /logdaemon sql load --url URL/)
  f = fakeIO()
  t.equal(await main(['sql', 'load', '--url', 'postgres://u:hunter2@127.0.0.1:1/x', plain], f.io), 1)
  t.notMatch(f.stderr(), /hunter2/, 'the password is masked in the error')
  t.match(f.stderr(), /postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/x/)
})

t.test('bulk inserts are bounded by the bytes of their records, not only by their count', async (t) => {
  const { SqliteAdapter } = await import('../../lib/listeners/builtin/sql/sqlite-adapter.js')
  const { encodeRecord } = await import('../../lib/journal/encoder.js')
  const sizes: number[] = []
  const unmappedSizes: number[] = []
  const bulkInsert = SqliteAdapter.prototype.bulkInsert
  SqliteAdapter.prototype.bulkInsert = function (this: InstanceType<typeof SqliteAdapter>, table, columns, rows) {
    if (table === 'desc') sizes.push(rows.length)
    if (table === 'logdaemon_unmapped') unmappedSizes.push(rows.length)
    return bulkInsert.call(this, table, columns, rows)
  }
  t.teardown(() => {
    SqliteAdapter.prototype.bulkInsert = bulkInsert
  })
  const dir = t.testdir()
  const file = join(dir, 'checkpoint.2')
  // Ten descriptions of 100 KB: at most 256 KiB of records per call, so three at a time; and four with no layout (version 99).
  const specs = Array.from({ length: 10 }, (_, i) => ({ op: 'pv', version: 0, table: 'db.desc', fields: [i + 1, 'd'.repeat(100_000)] }))
  const odd = Array.from({ length: 4 }, (_, i) => ({ op: 'pv', version: 99, table: 'db.desc', fields: [i + 1, 'd'.repeat(100_000)] }))
  writeFileSync(file, Buffer.concat([...specs, ...odd].map((s) => encodeRecord(s))))
  const s = await sqlLoad({ url: `sqlite:${join(dir, 'r.db')}`, checkpoint: file })
  t.equal(s.rows, 10)
  t.equal(s.unmapped, 4)
  t.same(sizes, [3, 3, 3, 1])
  t.same(unmappedSizes, [3, 1])
  t.same(
    (await rowsOf(`sqlite:${join(dir, 'r.db')}`, 'SELECT length(description) AS n FROM "desc"')).map((r) => Number(r.n)),
    Array(10).fill(100_000),
  )
})
