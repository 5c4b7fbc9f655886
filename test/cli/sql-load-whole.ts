/**
 * `logdaemon sql load` loads only a whole checkpoint: one cut at a record
 * boundary (or still being written), or an empty one, made a replica with
 * rows missing and exit 0 (an adversarial probe). And two loads into one
 * database at once: the second is refused, never merged with the first.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { sqlLoad } from '../../lib/cli/sql-load.js'
import { RecordGenerator } from '../../lib/sim/record-generator.js'
import { inThreadRunner } from '../../lib/parallel/parallel-ranges.js'
import { BIN, binSkip } from '../helpers/daemon-run.js'
import { fixturesSkip, readFixture } from '../helpers/fixtures.js'
import { rowsOf } from '../helpers/sql-replica.js'

const whole = Buffer.concat([...new RecordGenerator(3).checkpointRecords(200_000)])

t.test('the generated checkpoint has p4d header and trailer (what the cuts below take away)', async (t) => {
  t.match(whole.subarray(0, 7).toString('latin1'), '@nx@ 0 ')
  t.match(whole.subarray(-200).toString('latin1'), /\n@nx@ 1 [^\n]*\n@ex@ [^\n]*\n$/)
})

t.test('a checkpoint cut at a record boundary, empty, or without its trailer is refused, and nothing is created', async (t) => {
  const dir = t.testdir()
  // A record boundary in the middle, and the one just before the trailer.
  const middle = whole.indexOf('\n@', whole.length >> 1) + 1
  const beforeTrailer = whole.lastIndexOf('\n@nx@ 1 ') + 1
  const cases: [string, Buffer][] = [
    ['cut in the middle', whole.subarray(0, middle)],
    ['cut before the trailer', whole.subarray(0, beforeTrailer)],
    ['the header only', whole.subarray(0, whole.indexOf('\n') + 1)],
    ['empty', Buffer.alloc(0)],
  ]
  let n = 0
  for (const [what, bytes] of cases) {
    for (const [form, data] of [
      ['plain', bytes],
      ['gzip', gzipSync(bytes)],
    ] as const) {
      for (const threads of form === 'plain' ? [1, 2] : [1]) {
        const file = join(dir, `checkpoint.${++n}${form === 'gzip' ? '.gz' : ''}`)
        writeFileSync(file, data)
        const db = join(dir, `r${n}.db`)
        const err = await sqlLoad({
          url: `sqlite:${db}`,
          checkpoint: file,
          threads,
          rangeBytes: 4096,
          runner: (fd, options) => inThreadRunner(fd, options, threads),
        }).catch((e: unknown) => e)
        t.match(err, { code: 'ERR_CHECKPOINT_INCOMPLETE', file, journal: n }, `${what}, ${form}, ${threads} thread(s)`)
        if (form === 'plain') t.notOk(existsSync(db), `${what}, ${form}: no database was created`)
        else t.same(await rowsOf(`sqlite:${db}`, 'SELECT * FROM logdaemon_position'), [], `${what}, ${form}: no position`)
      }
    }
  }
})

t.test('a whole checkpoint loads the same with 1 and 2 threads, and a trailer-like line before the end does not make a cut one whole', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'checkpoint.9')
  writeFileSync(file, whole)
  for (const threads of [1, 2]) {
    const summary = await sqlLoad({ url: `sqlite:${join(dir, `w${threads}.db`)}`, checkpoint: file, threads, rangeBytes: 4096 })
    t.same(summary.position, { journal: 9, offset: 0 })
  }
  t.same(
    await rowsOf(`sqlite:${join(dir, 'w1.db')}`, 'SELECT count(*) AS n FROM rev'),
    await rowsOf(`sqlite:${join(dir, 'w2.db')}`, 'SELECT count(*) AS n FROM rev'),
  )
  // A description holding the trailer's text (its @ doubled, as in a quoted value), then a cut after it.
  const fake = Buffer.from('@pv@ 7 @db.desc@ 5 @x\n@@nx@@ 1 1 @@50@@ 0 0 0 0 0 @@@@ \n@@ex@@ 1 2\n@ \n', 'latin1')
  const cut = join(dir, 'checkpoint.10')
  writeFileSync(cut, Buffer.concat([whole.subarray(0, whole.indexOf('\n@', whole.length >> 1) + 1), fake]))
  await t.rejects(sqlLoad({ url: `sqlite:${join(dir, 'c.db')}`, checkpoint: cut, threads: 1 }), { code: 'ERR_CHECKPOINT_INCOMPLETE' })
})

t.test('the fixtures: a checkpoint and a -jd dump load; each cut before its trailer does not', { skip: fixturesSkip }, async (t) => {
  const dir = t.testdir()
  let n = 20
  for (const name of ['checkpoint-2014.ckp', 'checkpoint-2020-windows-unicode.ckp', 'dump-2013-jd.ckp']) {
    const bytes = readFixture(name)
    const file = join(dir, `checkpoint.${++n}`)
    writeFileSync(file, bytes)
    await sqlLoad({ url: `sqlite:${join(dir, `f${n}.db`)}`, checkpoint: file, threads: 1 })
    const cutFile = join(dir, `checkpoint.${++n}`)
    writeFileSync(cutFile, bytes.subarray(0, bytes.lastIndexOf('\n@nx@ ') + 1))
    await t.rejects(sqlLoad({ url: `sqlite:${join(dir, `f${n}.db`)}`, checkpoint: cutFile, threads: 1 }), { code: 'ERR_CHECKPOINT_INCOMPLETE' }, `${name} cut`)
  }
})

t.test('two loads into one database at the same time: one loads, the other is refused', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const big = Buffer.concat([...new RecordGenerator(4).checkpointRecords(20_000_000)])
  writeFileSync(join(dir, 'checkpoint.2'), big)
  writeFileSync(join(dir, 'checkpoint.7'), whole)
  const url = `sqlite:${join(dir, 'both.db')}`
  const run = (args: string[]): Promise<{ code: number | null; stderr: string }> =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, 'sql', 'load', '--url', url, ...args], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString()
      })
      child.on('close', (code) => resolve({ code, stderr }))
    })
  const first = run(['--tables', 'db.rev', 'checkpoint.2'])
  await new Promise((r) => setTimeout(r, 300))
  const second = run(['--tables', 'db.desc', 'checkpoint.7'])
  const results = await Promise.all([first, second])
  t.same(results.map((r) => r.code).sort(), [0, 1], JSON.stringify(results))
  const refused = results.find((r) => r.code === 1)
  // Refused when the first has committed; on a machine slow enough for the first to outlast SQLite's busy timeout, locked out.
  t.match(refused?.stderr, /already holds a replica|database is locked/)
  const tables = (await rowsOf(url, 'SELECT table_name FROM logdaemon_tables ORDER BY table_name')).map((r) => r.table_name)
  t.ok(tables.length === 1, `one load's tables, not both: ${tables.join(', ')}`)
})

t.test('standard input (`-`, with --journal): a whole checkpoint loads, a cut one is refused', async (t) => {
  const dir = t.testdir()
  const { Readable } = await import('node:stream')
  const summary = await sqlLoad({
    url: `sqlite:${join(dir, 's.db')}`,
    checkpoint: '-',
    journal: 12,
    stdin: Readable.from([whole.subarray(0, 1000), whole.subarray(1000)]),
  })
  t.same(summary.position, { journal: 12, offset: 0 })
  t.ok(summary.rows > 0)
  const cut = whole.subarray(0, whole.indexOf('\n@', whole.length >> 1) + 1)
  await t.rejects(sqlLoad({ url: `sqlite:${join(dir, 'c.db')}`, checkpoint: '-', journal: 12, stdin: Readable.from([cut]) }), {
    code: 'ERR_CHECKPOINT_INCOMPLETE',
    file: '-',
  })
})

t.test('a checkpoint cut after it was checked (while the load waits for the database) is not loaded as whole', async (t) => {
  const dir = t.testdir()
  const cutAt = whole.indexOf('\n@', whole.length >> 1) + 1
  for (const threads of [1, 2]) {
    const file = join(dir, `checkpoint.${40 + threads}`)
    writeFileSync(file, whole)
    const db = join(dir, `lock${threads}.db`)
    // Another process holds the database's write lock for a while; meanwhile a third cuts the checkpoint.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const D = require('better-sqlite3'); const d = new D(${JSON.stringify(db)}); d.pragma('journal_mode = WAL'); d.exec('BEGIN IMMEDIATE');
         console.log('locked'); setTimeout(() => { require('fs').truncateSync(${JSON.stringify(file)}, ${cutAt}) }, 500); setTimeout(() => { d.exec('COMMIT'); d.close() }, 1500)`,
      ],
      { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] },
    )
    const closed = new Promise((resolve) => holder.once('close', resolve))
    await new Promise((resolve) => holder.stdout?.once('data', resolve))
    const err = await sqlLoad({ url: `sqlite:${db}`, checkpoint: file, threads, rangeBytes: 4096 }).catch((e: unknown) => e)
    await closed
    t.match(err, { code: /^ERR_(JOURNAL_SHRUNK|CHECKPOINT_INCOMPLETE)$/, file }, `${threads} thread(s): refused`)
    t.same(await rowsOf(`sqlite:${db}`, 'SELECT * FROM logdaemon_position'), [], `${threads} thread(s): no position`)
  }
})

t.test('a database with tables of its own is refused and left as it was', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'checkpoint.50')
  writeFileSync(file, whole)
  const db = join(dir, 'app.db')
  const { default: Database } = await import('better-sqlite3')
  const d = new Database(db)
  d.exec('CREATE TABLE customers (id INTEGER)')
  d.close()
  await t.rejects(sqlLoad({ url: `sqlite:${db}`, checkpoint: file, threads: 1 }), { code: 'ERR_SQL_NOT_EMPTY' })
  const names = (await rowsOf(`sqlite:${db}`, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")).map((r) => r.name)
  t.same(names, ['customers'], 'no table of logdaemon was created')
})
