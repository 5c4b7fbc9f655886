import t, { type Test } from 'tap'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { main } from '../../lib/cli/logdaemon.js'
import { ErrorCodes } from '../../lib/errors.js'
import { checkpointNumberOf, sqlLoad } from '../../lib/cli/sql-load.js'
import type { RangeOptions } from '../../lib/parallel/frame-range.js'
import { RecordGenerator } from '../../lib/sim/record-generator.js'
import { parseSqlUrl } from '../../lib/listeners/builtin/sql/sql-url.js'
import { postgresSkip, startPostgres } from '../helpers/postgres.js'
import { dumpReplica, replay, rowsOf } from '../helpers/sql-replica.js'
import { fakeIO } from '../helpers/stdio.js'

const generated = Buffer.concat([...new RecordGenerator(11).checkpointRecords(300_000)])
/**
 * Records of table versions no schema document describes (db.integed 7, and db.rev 3 as conversion tools write it),
 * put before the checkpoint's second record: the load keeps them in logdaemon_unmapped, not guessed.
 */
const undocumented = Buffer.from(
  '@pv@ 7 @db.integed@ @//depot/a/x.c@ @//depot/main/x.c@ 0 3 0 1 2 17 \n' +
    '@pv@ 3 @db.rev@ @//depot/old/y.c@ 1 0 0 3 1112000000 1112000000 00000000000000000000000000000000 @//depot/old/y.c@ @1.3@ 0 \n',
  'latin1',
)
const second = generated.indexOf('\n@') + 1
const checkpoint = Buffer.concat([generated.subarray(0, second), undocumented, generated.subarray(second)])

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

t.test('a missing checkpoint or a directory: ERR_USAGE, and no database file is made', async (t) => {
  const dir = t.testdir()
  mkdirSync(join(dir, 'checkpoint.5'))
  const db = join(dir, 'replica.db')
  await t.rejects(sqlLoad({ url: `sqlite:${db}`, checkpoint: join(dir, 'checkpoint.5') }), { code: ErrorCodes.USAGE, message: /is a directory/ })
  await t.rejects(sqlLoad({ url: `sqlite:${db}`, checkpoint: join(dir, 'nope.jnl'), journal: 5 }), {
    code: ErrorCodes.USAGE,
    message: /nope\.jnl: no such file/,
  })
  t.notOk(existsSync(db), 'no database made')
})

async function loads(t: Test, fresh: () => Promise<string>): Promise<void> {
  t.test('loads a checkpoint: the same rows as applying it with the listener; position N/0', async (t) => {
    const { plain } = files(t)
    const url = await fresh()
    const s = await sqlLoad({ url, checkpoint: plain })
    t.same(s.position, { journal: 5, offset: 0 })
    t.ok(s.rows > 500 && s.tables > 10, `${s.rows} rows in ${s.tables} tables`)
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
    const target = parseSqlUrl(other)
    if (target.kind === 'sqlite') {
      // Made by SQLite itself, as another application would (its default rollback journal, not WAL).
      const { default: Sqlite } = await import('better-sqlite3')
      const db = new Sqlite(target.file)
      db.exec('CREATE TABLE payroll (x integer)')
      db.close()
    } else await rowsOf(other, 'CREATE TABLE payroll (x integer)')
    const bytes = target.kind === 'sqlite' ? readFileSync(target.file) : null
    await t.rejects(sqlLoad({ url: other, checkpoint: plain, replace: true }), { code: ErrorCodes.SQL_NOT_EMPTY, message: /payroll/ })
    if (target.kind === 'sqlite')
      t.ok(readFileSync(target.file).equals(bytes as Buffer), "the application's SQLite file byte for byte as it was (not put in WAL mode)")
    // A probe: another application's view named as the replica's was replaced by the load.
    const view = await fresh()
    await rowsOf(view, "CREATE VIEW changes AS SELECT 'app view' AS x")
    for (const replace of [false, true]) {
      await t.rejects(sqlLoad({ url: view, checkpoint: plain, replace }), {
        code: ErrorCodes.SQL_NOT_EMPTY,
        message: /views logdaemon did not create \(changes\)/,
      })
    }
    t.same(await rowsOf(view, 'SELECT * FROM changes'), [{ x: 'app view' }], "the application's view as it was")
  })

  t.test("a key longer than the database's index holds: its record in logdaemon_unmapped on PostgreSQL, the rest loaded, with threads too", async (t) => {
    const { dir } = files(t)
    const file = join(dir, 'checkpoint.7')
    const long = 'x'.repeat(3000)
    writeFileSync(file, `@pv@ 1 @db.counters@ @a@ @1@ \n@pv@ 1 @db.counters@ @${long}@ @2@ \n@pv@ 1 @db.counters@ @b@ @3@ \n`)
    const postgres = (await fresh()).startsWith('postgres')
    for (const threads of [1, 2]) {
      const url = await fresh()
      const s = await sqlLoad({ url, checkpoint: file, threads, rangeBytes: 64 })
      t.match(s, postgres ? { rows: 2, unmapped: 1 } : { rows: 3, unmapped: 0 }, `threads ${threads}`)
      t.same((await rowsOf(url, 'SELECT reason FROM logdaemon_unmapped')).length, postgres ? 1 : 0)
    }
  })

  t.test('a record whose table name holds a NUL: in logdaemon_unmapped (PostgreSQL text holds none), the rest loaded, with threads too', async (t) => {
    // A probe: on PostgreSQL the COPY into logdaemon_unmapped failed ('invalid byte sequence for encoding "UTF8": 0x00') and nothing loaded.
    const { dir } = files(t)
    const file = join(dir, 'checkpoint.7')
    writeFileSync(file, Buffer.from('@pv@ 1 @db.counters@ @a@ @1@ \n@pv@ 1 @db.cou\0nters@ @x@ @2@ \n@pv@ 1 @db.counters@ @b@ @3@ \n', 'latin1'))
    for (const threads of [1, 2]) {
      const url = await fresh()
      const s = await sqlLoad({ url, checkpoint: file, threads, rangeBytes: 32 })
      t.match(s, { rows: 2, unmapped: 1 }, `threads ${threads}`)
      t.match(await rowsOf(url, 'SELECT table_name, reason FROM logdaemon_unmapped'), [{ table_name: 'db.cou\uFFFDnters', reason: /names no table/ }])
    }
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

  t.test('a column integer in one table version and text in a later one: text as written, and the last row of a key still wins', async (t) => {
    const { dir } = files(t)
    const mixed = join(dir, 'checkpoint.9')
    writeFileSync(
      mixed,
      '@pv@ 0 @db.counters@ @change@ 41 \n@pv@ 0 @db.counters@ @padded@ 7 \n@pv@ 1 @db.counters@ @padded@ @0042@ \n@pv@ 1 @db.counters@ @z@ @1.10@ \n',
    )
    const url = await fresh()
    t.match(await sqlLoad({ url, checkpoint: mixed, threads: 1 }), { rows: 3, replaced: 1 })
    t.strictSame(
      (await rowsOf(url, 'SELECT name, value FROM counters ORDER BY name')).map((r) => [r.name, r.value]),
      [
        ['change', '41'],
        ['padded', '0042'],
        ['z', '1.10'],
      ],
    )
  })

  t.test('a table in two layouts keyed otherwise (db.sendq 4: taskID → taskid): keyed as the newer, no row doubled', async (t) => {
    const { dir } = files(t)
    const mixed = join(dir, 'checkpoint.10')
    const q18 = (task: number, seq: number, handle: string) =>
      `@pv@ 4 @db.sendq@ ${task} ${seq} @${handle}@ @//depot/a@ @//ws/a@ 1 0 1611008050 @D41D@ 3 @//depot/a@ @1.1@ 0 0 0 @@ 7 @@ \n`
    const q21 = (task: number, seq: number, handle: string) =>
      `@pv@ 4 @db.sendq@ ${task} ${seq} @${handle}@ @//depot/a@ @//ws/a@ 1 0 1611008050 @D41D@ 3 @//depot/a@ @1.1@ 0 0 0 1 12 1611008060 @@ 7 @@ \n`
    writeFileSync(mixed, q18(1, 1, 'a') + q18(1, 2, 'b') + q21(1, 2, 'c') + q21(2, 1, 'd'))
    const url = await fresh()
    t.match(await sqlLoad({ url, checkpoint: mixed, threads: 1 }), { rows: 3, replaced: 1 })
    t.strictSame(
      (await rowsOf(url, 'SELECT taskid, seq, handle FROM sendq ORDER BY taskid, seq')).map((r) => [String(r.taskid), String(r.seq), r.handle]),
      [
        ['1', '1', 'a'],
        ['1', '2', 'c'],
        ['2', '1', 'd'],
      ],
    )
    t.strictSame(await rowsOf(url, "SELECT key_columns FROM logdaemon_tables WHERE table_name = 'sendq'"), [{ key_columns: 'taskid,seq' }])
  })

  t.test('an older layout keyed otherwise after a newer one: ERR_CHECKPOINT_LAYOUTS, nothing loaded (the rows would double)', async (t) => {
    const { dir } = files(t)
    const mixed = join(dir, 'checkpoint.11')
    const q18 = (task: number) => `@pv@ 4 @db.sendq@ ${task} 1 @h@ @//depot/a@ @//ws/a@ 1 0 1611008050 @D41D@ 3 @//depot/a@ @1.1@ 0 0 0 @@ 7 @@ \n`
    const q21 = (task: number) =>
      `@pv@ 4 @db.sendq@ ${task} 1 @h@ @//depot/a@ @//ws/a@ 1 0 1611008050 @D41D@ 3 @//depot/a@ @1.1@ 0 0 0 1 12 1611008060 @@ 7 @@ \n`
    writeFileSync(mixed, '@pv@ 0 @db.desc@ 1 @a@ \n' + q21(1) + q21(2) + q18(2))
    const url = await fresh()
    await t.rejects(sqlLoad({ url, checkpoint: mixed, threads: 1 }), {
      code: ErrorCodes.CHECKPOINT_LAYOUTS,
      message:
        /db\.sendq has records of version 4 \(18 fields, keyed by task_id, seq\) after records of a newer layout, version 4 \(21 fields, keyed by taskid, seq\)/,
    })
    t.same(
      (await rowsOf(url, "SELECT count(*) AS n FROM logdaemon_tables WHERE table_name IN ('desc', 'sendq')")).map((r) => String(r.n)),
      ['0'],
      'nothing loaded',
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

/** A line that reads like a record, inside a quoted value (its `@` doubled, as the journal writes it). */
const TRAP = '\n@pv@ 0 @db.desc@ 99 @fake@ \n'
const q = (v: string): string => `@${v.replace(/@/g, '@@')}@`

/**
 * Records that make mapping and range edges hard: values with newlines,
 * lines that look like records, `@@`, tabs, backslashes and CRs (COPY
 * escapes), bytes that are not UTF-8 and a NUL (logdaemon_raw), empty and
 * too large integers and undocumented versions (logdaemon_unmapped),
 * deletes, repeated keys (the last wins: order matters), CRLF, records
 * larger than many ranges, and records of tables no layout names.
 */
function tricky(): Buffer {
  const parts: (string | Buffer)[] = []
  for (let i = 0; i < 60; i++) {
    const k = i % 12
    const key = (i % 17) + 1
    if (k === 0) parts.push(`@pv@ 0 @db.desc@ ${key} ${q(`desc ${i}${TRAP}more`)} \n`)
    else if (k === 1) parts.push(`@pv@ 0 @db.desc@ ${key} ${q(`tab\there, back\\slash, cr\rlf\n@@ at ${i}`)} \n`)
    else if (k === 2)
      parts.push(Buffer.concat([Buffer.from(`@pv@ 0 @db.desc@ ${key} @bad `), Buffer.from([0xff, 0xfe, 0x00, 0x41]), Buffer.from(' bytes@ \n')]))
    else if (k === 3) parts.push(`@pv@ 1 @db.counters@ @c${i}@ @${i}@ \r\n`)
    else if (k === 4) parts.push(`@pv@ 1 @db.counters@ @c${i}@ @@ \n`)
    else if (k === 5) parts.push(`@pv@ 0 @db.desc@ 99999999999999999999 @too large a key@ \n`)
    else if (k === 6) parts.push(`@pv@ 77 @db.desc@ ${key} @no such version@ \n`)
    else if (k === 7) parts.push(`@dv@ 0 @db.desc@ ${key} @deleted@ \n`)
    else if (k === 8) parts.push(`@pv@ 0 @db.desc@ ${key} ${q('x'.repeat(700) + TRAP + 'é ü 中文'.repeat(40))} \n`)
    else if (k === 9) parts.push(`@ex@ ${i} 1400000000\n@nx@ 3 @x@ \n`)
    else if (k === 10) parts.push(`@pv@ 0 @db.desc@ ${key} ${q(`\n@ex@ 1 2\n@nx@ 3\n`)} \n`)
    else parts.push(`@pv@ 0 @db.nosuchtable@ ${key} @x@ \n`)
  }
  return Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)))
}

async function threaded(t: Test, fresh: () => Promise<string>): Promise<void> {
  const { inThreadRunner } = await import('../../lib/parallel/parallel-ranges.js')
  const runner = (fd: number, options: RangeOptions) => inThreadRunner(fd, options, 2)

  t.test('threads: the same rows, unmapped records and position as one thread, whatever the ranges', async (t) => {
    const dir = t.testdir()
    const file = join(dir, 'checkpoint.3')
    writeFileSync(file, tricky())
    const one = await fresh()
    const serial = await sqlLoad({ url: one, checkpoint: file, threads: 1 })
    const want = await dumpReplica(one)
    t.ok(serial.unmapped > 5 && serial.replaced > 0, `${serial.rows} rows, ${serial.replaced} replaced, ${serial.unmapped} unmapped`)
    for (const rangeBytes of [16, 37, 100, 256, 1000, 4096]) {
      const url = await fresh()
      const s = await sqlLoad({ url, checkpoint: file, threads: 2, rangeBytes, runner })
      t.same({ ...s, url: '', seconds: 0 }, { ...serial, url: '', seconds: 0 }, `ranges of ${rangeBytes} bytes: the same summary`)
      t.same(await dumpReplica(url), want, `ranges of ${rangeBytes} bytes: the same replica`)
    }
    // And once with the worker threads themselves.
    const url = await fresh()
    await sqlLoad({ url, checkpoint: file, threads: 2, rangeBytes: 512 })
    t.same(await dumpReplica(url), want, 'worker threads: the same replica')
  })

  t.test('threads: the same error at the same place as one thread, and nothing loaded', async (t) => {
    const dir = t.testdir()
    const good = tricky()
    const cases: [string, Buffer][] = [
      ['malformed in the middle', Buffer.concat([good, Buffer.from('this is no record\n'), good])],
      ['the end inside a record', Buffer.concat([good, Buffer.from('@pv@ 0 @db.desc@ 1 @unterminated \n')])],
      ['malformed at the start', Buffer.concat([Buffer.from('x\n'), good])],
    ]
    for (const [name, data] of cases) {
      const file = join(dir, 'checkpoint.4')
      writeFileSync(file, data)
      const failure = async (options: Partial<Parameters<typeof sqlLoad>[0]>) => {
        const url = await fresh()
        const err = await sqlLoad({ url, checkpoint: file, ...options }).then(
          () => null,
          (e: unknown) => e as { code?: string; message?: string; offset?: unknown; line?: unknown },
        )
        t.same((await rowsOf(url, 'SELECT table_name FROM logdaemon_tables')).length, 0, `${name}: nothing loaded`)
        return err && { code: err.code, message: err.message, offset: err.offset, line: err.line }
      }
      const want = await failure({ threads: 1 })
      t.ok(want?.code, `${name}: ${want?.code}`)
      for (const rangeBytes of [37, 1000]) t.same(await failure({ threads: 2, rangeBytes, runner }), want, `${name}: ranges of ${rangeBytes} bytes`)
    }
  })
}

t.test('SQLite', async (t) => {
  let n = 0
  const dir = t.testdir()
  await loads(t, async () => `sqlite:${join(dir, `r${++n}.db`)}`)
  await threaded(t, async () => `sqlite:${join(dir, `r${++n}.db`)}`)
})

t.test('PostgreSQL', { skip: postgresSkip }, async (t) => {
  const pg = await startPostgres()
  t.teardown(() => pg.stop())
  let n = 0
  await loads(t, () => pg.createDatabase(`load_${++n}`))
  await threaded(t, () => pg.createDatabase(`load_${++n}`))
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
  t.match(f.stderr(), /already holds a replica at 5\/0: give --replace.* \[ERR_SQL_NOT_EMPTY\]\n/)
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
  const { inThreadRunner } = await import('../../lib/parallel/parallel-ranges.js')
  const { SEGMENT_BYTES_MAX, SEGMENT_ROWS_MAX } = await import('../../lib/listeners/builtin/sql/row-batch-writer.js')
  const calls: { table: string; rows: number; bytes: number }[] = []
  const bulkWrite = SqliteAdapter.prototype.bulkWrite
  SqliteAdapter.prototype.bulkWrite = function (this: InstanceType<typeof SqliteAdapter>, table, columns, payload, rows) {
    calls.push({ table, rows, bytes: payload.length })
    return bulkWrite.call(this, table, columns, payload, rows)
  }
  t.teardown(() => {
    SqliteAdapter.prototype.bulkWrite = bulkWrite
  })
  const dir = t.testdir()
  const file = join(dir, 'checkpoint.2')
  // Ten descriptions of 100 KB and four with no layout (version 99), among 1500 small ones and 1500 small unmapped.
  const big = Array.from({ length: 10 }, (_, i) => ({ op: 'pv', version: 0, table: 'db.desc', fields: [i + 1, 'd'.repeat(100_000)] }))
  const odd = Array.from({ length: 4 }, (_, i) => ({ op: 'pv', version: 99, table: 'db.desc', fields: [i + 1, 'd'.repeat(100_000)] }))
  const small = Array.from({ length: 1500 }, (_, i) => ({ op: 'pv', version: 0, table: 'db.desc', fields: [i + 100, 'small'] }))
  const smallOdd = Array.from({ length: 1500 }, (_, i) => ({ op: 'pv', version: 99, table: 'db.desc', fields: [i + 100, 'small'] }))
  writeFileSync(file, Buffer.concat([...small, ...big, ...smallOdd, ...odd].map((s) => encodeRecord(s))))
  const largestRow = 100_000 * 3 + 1000 // a 100 KB record in logdaemon_unmapped: its fields as JSON and its raw bytes
  const runner = (fd: number, options: RangeOptions) => inThreadRunner(fd, options, 2)
  for (const threads of [1, 2]) {
    calls.length = 0
    const url = `sqlite:${join(dir, `r${threads}.db`)}`
    const s = await sqlLoad({ url, checkpoint: file, threads, rangeBytes: 600_000, runner })
    t.match(s, { rows: 1510, unmapped: 1504 }, `${threads} threads`)
    t.ok(calls.length > 4, `${threads} threads: ${calls.length} calls`)
    t.same(
      calls.filter((c) => c.rows > SEGMENT_ROWS_MAX || (c.rows > 1 && c.bytes > SEGMENT_BYTES_MAX + largestRow)),
      [],
      `${threads} threads: at most ${SEGMENT_ROWS_MAX} rows and ${SEGMENT_BYTES_MAX} bytes and a row a call`,
    )
    t.same(
      (await rowsOf(url, 'SELECT length(description) AS n FROM "desc" WHERE desc_key < 100')).map((r) => Number(r.n)),
      Array(10).fill(100_000),
    )
  }
})

t.test('PostgreSQL: a connection lost during the load fails it, or finds its commit, and never hangs', { skip: postgresSkip }, async (t) => {
  // A server of its own: a test changes its configuration (synchronous_standby_names).
  const pg = await startPostgres()
  t.teardown(() => pg.stop())
  const { default: PG } = await import('pg')
  const { PostgresAdapter } = await import('../../lib/listeners/builtin/sql/postgres-adapter.js')
  type Pg = InstanceType<typeof PostgresAdapter>
  const admin = new PG.Client({ connectionString: pg.url(), application_name: 'test' })
  await admin.connect()
  t.teardown(() => admin.end())
  const { plain } = files(t)
  let n = 0
  /** The loader's server process. */
  const backend = async (db: string): Promise<number> => {
    for (;;) {
      const r = await admin.query(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'logdaemon'`, [db])
      if (r.rows[0]) return Number(r.rows[0].pid)
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  const gone = async (pid: number): Promise<void> => {
    while ((await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rows.length) await new Promise((r) => setTimeout(r, 10))
  }
  /** The load's outcome, or 'hangs' when it has not settled in 60 s. */
  const settled = async <T>(p: Promise<T>): Promise<T | Error | 'hangs'> => {
    let timer: NodeJS.Timeout | undefined
    const hang = new Promise<'hangs'>((resolve) => {
      timer = setTimeout(() => resolve('hangs'), 60_000)
    })
    try {
      return await Promise.race([p.catch((e: Error) => e), hang])
    } finally {
      clearTimeout(timer)
    }
  }
  const patch = <K extends 'bulkWrite' | 'commit'>(name: K, wrap: (original: Pg[K]) => Pg[K]) => {
    const original = PostgresAdapter.prototype[name]
    PostgresAdapter.prototype[name] = wrap(original)
    return () => {
      PostgresAdapter.prototype[name] = original
    }
  }
  /** The load settled (no hang) with ERR_SQL_FAILED and `message`, and left nothing behind. */
  const failedCleanly = async (t: Test, err: unknown, threads: number, message: RegExp, url: string, db: string) => {
    t.not(err, 'hangs', `${threads} threads: the load settles`)
    t.match(err, { code: ErrorCodes.SQL_FAILED, message }, `${threads} threads`)
    await nothingLoaded(t, url, db)
  }
  const nothingLoaded = async (t: Test, url: string, db: string) => {
    t.same(await rowsOf(url, 'SELECT table_name FROM logdaemon_tables'), [], 'no table loaded')
    t.same((await dumpReplica(url)).logdaemon_position, [], 'no position')
    const left = await admin.query(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'logdaemon'`, [db])
    t.same(left.rows, [], 'no connection left')
  }

  t.test('the server process terminated between two writes of the COPY', async (t) => {
    for (const threads of [1, 2]) {
      const db = `lost_${++n}`
      const url = await pg.createDatabase(db)
      let calls = 0
      const restore = patch(
        'bulkWrite',
        (bulkWrite) =>
          async function (this: Pg, ...args: Parameters<Pg['bulkWrite']>) {
            if (++calls === 20) {
              const pid = await backend(db)
              await admin.query('SELECT pg_terminate_backend($1)', [pid])
              await gone(pid)
              await new Promise((r) => setTimeout(r, 100)) // the loader's socket has seen the end
            }
            return bulkWrite.apply(this, args)
          },
      )
      const err = await settled(sqlLoad({ url, checkpoint: plain, threads }))
      restore()
      await failedCleanly(
        t,
        err,
        threads,
        /the load failed and was rolled back: (the COPY into \S+ failed: )?terminating connection due to administrator command/,
        url,
        db,
      )
    }
  })

  t.test('the server process terminated before it answered the start of a COPY', async (t) => {
    for (const threads of [1, 2]) {
      const db = `lost_${++n}`
      const url = await pg.createDatabase(db)
      // The COPY into logdaemon_unmapped (a table the load finds, not one it creates) waits for this lock: the
      // load writes into a COPY the server has not accepted yet, and the server ends the connection then.
      const locker = new PG.Client({ connectionString: url, application_name: 'test' })
      await locker.connect()
      let locked = false
      // Ends the load's connection once it waits for the lock, then lets go of the lock: awaited before the locker
      // is ended (its ROLLBACK raced the end of the load once, and a rejection nobody awaited failed the test).
      let killer: Promise<unknown> = Promise.resolve()
      let settledLoad = false
      const restore = patch(
        'bulkWrite',
        (bulkWrite) =>
          async function (this: Pg, ...args: Parameters<Pg['bulkWrite']>) {
            if (!locked) {
              locked = true
              await locker.query('BEGIN')
              await locker.query('LOCK TABLE logdaemon_unmapped IN ACCESS EXCLUSIVE MODE')
              killer = (async () => {
                while (!settledLoad) {
                  const r = await admin.query(
                    `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'logdaemon' AND wait_event_type = 'Lock'`,
                    [db],
                  )
                  if (r.rows[0]) {
                    await admin.query('SELECT pg_terminate_backend($1)', [r.rows[0].pid])
                    await locker.query('ROLLBACK')
                    return
                  }
                  await new Promise((r) => setTimeout(r, 10))
                }
              })()
            }
            return bulkWrite.apply(this, args)
          },
      )
      const err = await settled(sqlLoad({ url, checkpoint: plain, threads }))
      settledLoad = true
      restore()
      await killer
      await locker.end()
      await failedCleanly(
        t,
        err,
        threads,
        /the load failed and was rolled back: the COPY into logdaemon_unmapped failed: terminating connection due to administrator command/,
        url,
        db,
      )
    }
  })

  t.test('the server process terminated after the COMMIT: the load is found committed', async (t) => {
    const db = `lost_${++n}`
    const url = await pg.createDatabase(db)
    let commits = 0
    const restore = patch(
      'commit',
      (commit) =>
        async function (this: Pg) {
          // The first commits the replica's own tables; the second, the load.
          if (++commits === 1) return commit.call(this)
          // No standby will ever confirm: the COMMIT is done locally and waits; terminated then, it stays committed, and the client gets no answer.
          await admin.query(`ALTER SYSTEM SET synchronous_standby_names = 'nobody'`)
          await admin.query('SELECT pg_reload_conf()')
          // The load's own server process reads the setting again between two statements.
          while ((await this.query('SHOW synchronous_standby_names'))[0]?.synchronous_standby_names !== 'nobody') await new Promise((r) => setTimeout(r, 10))
          let committed = false
          const kill = (async () => {
            while (!committed) {
              const r = await admin.query(`SELECT pid FROM pg_stat_activity WHERE datname = $1 AND wait_event = 'SyncRep'`, [db])
              if (r.rows[0]) {
                await admin.query('SELECT pg_terminate_backend($1)', [r.rows[0].pid])
                return
              }
              await new Promise((r) => setTimeout(r, 10))
            }
          })()
          try {
            return await commit.call(this)
          } finally {
            committed = true
            await kill
            await admin.query('ALTER SYSTEM RESET synchronous_standby_names')
            await admin.query('SELECT pg_reload_conf()')
          }
        },
    )
    const s = await settled(sqlLoad({ url, checkpoint: plain, threads: 1 }))
    restore()
    t.match(s, { position: { journal: 5, offset: 0 } }, 'the load succeeds')
    t.same((await dumpReplica(url)).logdaemon_position, ['5/0'])
    const once = await pg.createDatabase(`lost_${++n}`)
    await sqlLoad({ url: once, checkpoint: plain, threads: 1 })
    await sameRows(t, url, once, 'the same rows as a load with no failure')
  })
})
