/**
 * The sql listener's behaviour, the same for every database: the test
 * files sql-sqlite.ts and sql-postgres.ts run it against a fresh database
 * made by `fresh()`.
 */
import type { Test } from 'tap'
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { ErrorCodes } from '../../lib/errors.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import type { RecordSpec } from '../../lib/journal/encoder.js'
import { SqlListener, optionsSchema } from '../../lib/listeners/builtin/sql/sql.js'
import { parseSqlUrl } from '../../lib/listeners/builtin/sql/sql-url.js'
import { entriesOf } from './entries.js'
import { dumpReplica, entriesOfBytes, rowsOf } from './sql-replica.js'

export type Fresh = (t: Test) => Promise<string>

const listener = (url: string, options: Record<string, unknown> = {}) => new SqlListener(optionsSchema.parse({ url, ...options }), parseSqlUrl(url))

/** Feeds entries and syncs after every consistent one, as the daemon does. */
async function feed(l: SqlListener, entries: readonly JournalEntry[], sync = true): Promise<void> {
  for (const e of entries) {
    await l.listen(e)
    if (sync && e.consistent) await l.sync({ journal: e.position.journal as number, offset: e.position.end })
  }
}

const rev = (file: string, rev: number, action: number, change: number): RecordSpec => ({
  op: 'pv',
  version: 9,
  table: 'db.rev',
  fields: [file, rev, 0, action, change, 1611008050, 1611008000, 'D41D8CD98F00B204E9800998ECF8427E', 12, 0, 1, file, `1.${change}`, 0],
})
const change2 = (n: number, desc: string, status = 1): RecordSpec => ({
  op: 'pv',
  version: 2,
  table: 'db.change',
  fields: [n, n, 'ws', 'alice', 1611008050, status, desc.slice(0, 31), '//depot/...'],
})
const change6 = (n: number, desc: string, status = 1): RecordSpec => ({
  op: 'pv',
  version: 6,
  table: 'db.change',
  fields: [n, n, 'ws', 'bob', 1611008060, status, desc.slice(0, 31), '//depot/...', '', '', 1611008060, 1611008060, '//stream/main'],
})
const desc = (n: number, text: string): RecordSpec => ({ op: 'pv', version: 0, table: 'db.desc', fields: [n, text] })
const ex = (pid = 42): RecordSpec => ({ op: 'ex', fields: [pid, 1611008050] })

export function suite(t: Test, fresh: Fresh): void {
  t.test('maps tables and columns, applies put and delete by key, commits the position', async (t) => {
    const url = await fresh(t)
    const { entries } = entriesOf([
      rev('//depot/a.c', 1, 0, 10),
      rev('//depot/b.c', 1, 0, 10),
      change2(10, 'first change'),
      desc(10, 'first change\nwith a second line and an @ sign'),
      ex(),
      rev('//depot/a.c', 2, 1, 11),
      { op: 'dv', version: 9, table: 'db.rev', fields: rev('//depot/b.c', 1, 0, 10).fields },
      { op: 'pv', version: 1, table: 'db.counters', fields: ['change', '11'] },
      { op: 'rv', version: 1, table: 'db.counters', fields: ['change', '12'] },
      ex(),
    ])
    const l = listener(url)
    await l.open()
    await feed(l, entries)
    await l.close()
    const revs = await rowsOf(url, 'SELECT depot_file, depot_rev, action, change, lbr_is_lazy FROM rev ORDER BY depot_file, depot_rev')
    t.same(
      revs.map((r) => [r.depot_file, String(r.depot_rev), String(r.action), String(r.change), String(r.lbr_is_lazy)]),
      [
        ['//depot/a.c', '1', '0', '10', '1'],
        ['//depot/a.c', '2', '1', '11', '1'],
      ],
      'db.rev → rev, depotFile → depot_file; the dv removed b.c',
    )
    t.same(
      (await rowsOf(url, 'SELECT name, value FROM counters')).map((r) => [r.name, r.value]),
      [['change', '12']],
      'rv replaced the pv by key',
    )
    const changes = await rowsOf(url, 'SELECT * FROM changes')
    t.equal(changes.length, 1)
    t.match(changes[0], { change: /^10$/, user: 'alice', client: 'ws', status: 'submitted', description: 'first change\nwith a second line and an @ sign' })
    const date = changes[0]?.date
    t.match(date instanceof Date ? date.toISOString() : String(date), /^2021-01-18.\d\d:\d\d:\d\d/, 'date as a timestamp (UTC)')
    const files = await rowsOf(url, 'SELECT change, depot_file, rev, action FROM change_files ORDER BY depot_file, rev')
    t.same(
      files.map((r) => [String(r.change), r.depot_file, String(r.rev), r.action]),
      [
        ['10', '//depot/a.c', '1', 'add'],
        ['11', '//depot/a.c', '2', 'edit'],
      ],
    )
    const dump = await dumpReplica(url)
    t.same(dump.logdaemon_position, [`1/${entries.at(-1)!.position.end}`])
    t.equal(l.position, null, 'closed: no position')
  })

  t.test('a replay after a restart is skipped; nothing is applied twice', async (t) => {
    const url = await fresh(t)
    const specs: RecordSpec[] = []
    for (let i = 0; i < 20; i++) specs.push(rev(`//depot/f${i}`, 1, 0, 100 + i), { op: 'pv', version: 7, table: 'db.bogus', fields: ['x'] }, ex())
    const { entries } = entriesOf(specs, 7)
    const once = await fresh(t)
    let l = listener(once)
    await feed(l, entries)
    await l.close()
    l = listener(url)
    await feed(l, entries.slice(0, 30))
    await l.close()
    l = listener(url)
    await feed(l, entries.slice(12)) // the daemon resumes from an older commit
    await l.close()
    t.same(await dumpReplica(url), await dumpReplica(once))
    t.equal((await rowsOf(url, 'SELECT COUNT(*) AS n FROM logdaemon_unmapped')).map((r) => Number(r.n))[0], 20, 'each unmapped record once')
  })

  t.test('work after the last sync is rolled back at close (a crash between two consistency points)', async (t) => {
    const url = await fresh(t)
    const { entries } = entriesOf([rev('//depot/a', 1, 0, 1), ex(), rev('//depot/b', 1, 0, 2)], 3)
    const l = listener(url, { batchRows: 1 }) // the second rev is written into the open transaction
    await feed(l, entries)
    await l.close()
    t.same(
      (await rowsOf(url, 'SELECT depot_file FROM rev')).map((r) => r.depot_file),
      ['//depot/a'],
    )
    t.same((await dumpReplica(url)).logdaemon_position, [`3/${entries[1]!.position.end}`])
  })

  t.test('rows written ahead into the open transaction are not committed by a sync for an earlier point: it returns the position held', async (t) => {
    // The daemon syncs no further than bytes known good (a .gz member before its CRC check); a probe: the listener
    // committed at its own last consistency point, past them, and a corrupt member's rows stayed in the replica.
    const url = await fresh(t)
    const { entries } = entriesOf([rev('//depot/a', 1, 0, 1), ex(1), rev('//depot/b', 1, 0, 2), ex(2), rev('//depot/c', 1, 0, 3), ex(3)], 3)
    const [a, ex1, b, ex2, c, ex3] = entries as [JournalEntry, JournalEntry, JournalEntry, JournalEntry, JournalEntry, JournalEntry]
    const at = (e: JournalEntry) => ({ journal: 3, offset: e.position.end })
    // One row a batch: each transaction goes into the open database transaction as soon as it ends.
    const l = listener(url, { batchRows: 1 })
    for (const e of [a, ex1]) await l.listen(e)
    t.equal(await l.sync(at(ex1)), undefined, 'a sync at the point written: committed there')
    for (const e of [b, ex2, c, ex3]) await l.listen(e)
    t.same(await l.sync(at(ex2)), at(ex1), 'c is in the open transaction: nothing committed, the position held returned')
    t.same((await dumpReplica(url)).logdaemon_position, [`3/${ex1.position.end}`])
    t.same(
      (await rowsOf(url, 'SELECT depot_file FROM rev')).map((r) => r.depot_file),
      ['//depot/a'],
      'b and c not committed',
    )
    t.equal(await l.sync(at(ex3)), undefined, 'a sync at or past them commits')
    await l.close()
    t.same((await dumpReplica(url)).logdaemon_position, [`3/${ex3.position.end}`])
    t.same(
      (await rowsOf(url, 'SELECT depot_file FROM rev ORDER BY depot_file')).map((r) => r.depot_file),
      ['//depot/a', '//depot/b', '//depot/c'],
    )
  })

  t.test('a sync for a point the listener has passed (the chain writes ahead): whole transactions, nothing dropped', async (t) => {
    const url = await fresh(t)
    const { entries } = entriesOf([rev('//depot/a', 1, 0, 1), ex(1), rev('//depot/b', 1, 0, 2), rev('//depot/c', 1, 0, 2), ex(2)], 3)
    const [a, ex1, b, c, ex2] = entries as [JournalEntry, JournalEntry, JournalEntry, JournalEntry, JournalEntry]
    const at = (e: JournalEntry) => ({ journal: 3, offset: e.position.end })
    let l = listener(url)
    for (const e of [a, ex1, b]) await l.listen(e)
    await l.sync(at(ex1))
    t.same(
      (await rowsOf(url, 'SELECT depot_file FROM rev')).map((r) => r.depot_file),
      ['//depot/a'],
      'the open transaction is not committed',
    )
    await l.close()
    // A restart: the daemon resumes before the database's position; its first sync is for a point the database has.
    l = listener(url)
    for (const e of [a, ex1, b, c]) await l.listen(e)
    await l.sync(at(ex1))
    await l.listen(ex2)
    await l.sync(at(ex2))
    await l.close()
    t.same(
      (await rowsOf(url, 'SELECT depot_file FROM rev ORDER BY depot_file')).map((r) => r.depot_file),
      ['//depot/a', '//depot/b', '//depot/c'],
    )
    t.same((await dumpReplica(url)).logdaemon_position, [`3/${ex2.position.end}`])
  })

  t.test('entries that do not continue the position are refused: ERR_SQL_GAP', async (t) => {
    const url = await fresh(t)
    const { entries } = entriesOf([rev('//depot/a', 1, 0, 1), ex(), rev('//depot/b', 1, 0, 2), ex()], 3)
    let l = listener(url)
    await t.rejects(async () => feed(l, entries.slice(2)), { code: ErrorCodes.SQL_GAP }, 'no position: must start at a journal beginning')
    await l.close()
    l = listener(url)
    await feed(l, entries.slice(0, 2))
    await l.close()
    const later = entriesOf([rev('//depot/c', 1, 0, 3), ex()], 5).entries
    l = listener(url)
    await t.rejects(async () => feed(l, later), { code: ErrorCodes.SQL_GAP }, 'journal 4 is missing')
    await l.close()
    l = listener(url)
    await feed(l, entriesOf([rev('//depot/c', 1, 0, 3), ex()], 4).entries)
    await l.close()
    t.same(
      (await rowsOf(url, 'SELECT depot_file FROM rev ORDER BY depot_file')).map((r) => r.depot_file),
      ['//depot/a', '//depot/c'],
      'the next journal continues',
    )
  })

  t.test("the daemon's start past the database's position: ERR_SQL_GAP at open, not at the server's next record", async (t) => {
    // A probe: the replica's database removed (made again empty) while the daemon's state stayed at 1/264: the listener
    // opened, waited for the next record to say so, and `run --until-caught-up` said caught up and exited 0.
    const url = await fresh(t)
    const { entries } = entriesOf([rev('//depot/a', 1, 0, 1), ex(), rev('//depot/b', 1, 0, 2), ex()], 3)
    const context = (start: { journal: number; offset: number } | null) => ({
      start,
      logger: { debug() {}, info() {}, warn() {}, error() {} },
      signal: new AbortController().signal,
    })
    const mid = { journal: 3, offset: entries[1]!.position.end }
    let l = listener(url)
    await t.rejects(l.open(context(mid)), { code: ErrorCodes.SQL_GAP, message: /has no position yet, but the daemon's next entry is at 3\/\d+/ }, 'no position')
    await l.close()
    l = listener(url)
    await l.open(context({ journal: 3, offset: 0 }))
    await feed(l, entries.slice(0, 2))
    await l.close()
    l = listener(url)
    await t.resolves(l.open(context(mid)), 'at its position')
    await l.close()
    l = listener(url)
    await t.resolves(l.open(context({ journal: 3, offset: 0 })), 'behind it: the entries up to it are skipped')
    await l.close()
    l = listener(url)
    await t.rejects(
      l.open(context({ journal: 3, offset: entries[3]!.position.end })),
      { code: ErrorCodes.SQL_GAP, message: /holds the journal up to 3\/\d+/ },
      'past it',
    )
    await l.close()
    l = listener(url)
    await t.rejects(l.open(context({ journal: 5, offset: 0 })), { code: ErrorCodes.SQL_GAP }, 'journal 4 is missing')
    await l.close()
    t.same((await dumpReplica(url)).logdaemon_position, [`3/${mid.offset}`], 'the replica as it was')
  })

  t.test("with the server's journals: a later journal's start continues the position only when nothing lies between", async (t) => {
    const url = await fresh(t)
    const root = t.testdir()
    const three = entriesOf([rev('//depot/a', 1, 0, 1), ex(), rev('//depot/b', 1, 0, 2), ex()], 3).entries
    writeFileSync(join(root, 'journal.3'), Buffer.concat(three.map((e) => e.raw)))
    const onServer = () => new SqlListener(optionsSchema.parse({ url }), parseSqlUrl(url), 'sql', { root })
    // A replica restored from a backup taken inside journal 3: journal 4's start does not continue it (a probe: row b was lost).
    let l = onServer()
    await feed(l, three.slice(0, 2))
    await l.close()
    writeFileSync(join(root, 'journal.4'), '')
    l = onServer()
    await t.rejects(async () => feed(l, entriesOf([rev('//depot/c', 1, 0, 3), ex()], 4).entries), { code: ErrorCodes.SQL_GAP }, 'journal 3 goes on past it')
    await l.close()
    l = onServer()
    await feed(l, three.slice(2))
    await l.close()
    // Idle rotations: journal 4 empty, journal 5 an empty .gz; journal 6's start continues the end of journal 3 (a probe: ERR_SQL_GAP for ever).
    writeFileSync(join(root, 'journal.5.gz'), gzipSync(Buffer.alloc(0)))
    l = onServer()
    await feed(l, entriesOf([rev('//depot/c', 1, 0, 3), ex()], 6).entries)
    await l.close()
    t.same(
      (await rowsOf(url, 'SELECT depot_file FROM rev ORDER BY depot_file')).map((r) => r.depot_file),
      ['//depot/a', '//depot/b', '//depot/c'],
      'every row once',
    )
    // Journal 7 holds a record, journal 8 is not there: journal 9's start does not continue journal 6's end.
    writeFileSync(join(root, 'journal.6'), Buffer.concat(entriesOf([rev('//depot/c', 1, 0, 3), ex()], 6).entries.map((e) => e.raw)))
    writeFileSync(join(root, 'journal.7.gz'), gzipSync(Buffer.from('@pv@ 0 @db.counters@ @x@ @1@ \n')))
    for (const [journal, why] of [
      [8, 'journal 7 is not empty'],
      [9, 'and journal 8 is missing'],
    ] as const) {
      l = onServer()
      await t.rejects(async () => feed(l, entriesOf([rev('//depot/d', 1, 0, 4), ex()], journal).entries), { code: ErrorCodes.SQL_GAP }, why)
      await l.close()
    }
  })

  t.test("with the server's journals: a replica ahead of every entry must be at a position the server's journals hold", async (t) => {
    // A probe: a replica of another server at 2/344932, and a server whose live journal 1 held 442,150 bytes: the daemon
    // skipped the whole journal as applied, exited 0 'caught up', and the replica held none of this server's rows.
    const url = await fresh(t)
    const root = t.testdir()
    const onServer = () => new SqlListener(optionsSchema.parse({ url }), parseSqlUrl(url), 'sql', { root })
    const other = entriesOf([rev('//other/a', 1, 0, 1), ex(), rev('//other/b', 1, 0, 2), ex(), rev('//other/c', 1, 0, 3), ex()], 2).entries
    let l = listener(url) // the other server's replica, at 2/END
    await feed(l, entriesOf([rev('//other/0', 1, 0, 1), ex()], 1).entries)
    await feed(l, other)
    await l.close()
    const mine = entriesOf([rev('//depot/a', 1, 0, 1), ex()], 1).entries
    writeFileSync(join(root, 'journal'), Buffer.concat(mine.map((e) => e.raw)))
    l = onServer()
    await t.rejects(
      async () => feed(l, mine),
      { code: ErrorCodes.SQL_GAP, message: /holds the journal up to 2\/\d+, but this server has no journal 2 yet \(its live journal is 1\)/ },
      'journal 2 is not there yet',
    )
    await l.close()
    // Journal 2 archived, shorter than the replica's position (plain, then gzip): refused too.
    const short = Buffer.concat(other.slice(0, 2).map((e) => e.raw))
    for (const [name, bytes] of [
      ['journal.2', short],
      ['journal.2.gz', gzipSync(short)],
    ] as const) {
      rmSync(join(root, 'journal.2'), { force: true })
      writeFileSync(join(root, name), bytes)
      writeFileSync(join(root, 'journal'), '')
      l = onServer()
      await t.rejects(
        async () => feed(l, other.slice(0, 2)),
        { code: ErrorCodes.SQL_GAP, message: /holds the journal up to 2\/\d+, but this server's journal 2 holds less/ },
        `${name} holds less`,
      )
      await l.close()
    }
    // An archive shorter than the live journal may be a copy under way (p4d copies, then truncates): not refused.
    rmSync(join(root, 'journal.2.gz'))
    writeFileSync(join(root, 'journal.2'), short)
    writeFileSync(join(root, 'journal'), Buffer.concat(other.map((e) => e.raw)))
    l = onServer()
    await t.resolves(feed(l, other.slice(0, 2)), 'journal.2 being copied from the live journal')
    await l.close()
    // The server's own journal 2, as long as the position or longer (a kill -9 left the replica ahead of the daemon): skipped, then applied.
    const longer = [...other, ...entriesOf([rev('//other/d', 1, 0, 4), ex()], 2, other.at(-1)!.position.end).entries]
    writeFileSync(join(root, 'journal.2'), Buffer.concat(longer.map((e) => e.raw)))
    l = onServer()
    await feed(l, longer)
    await l.close()
    t.same(
      (await rowsOf(url, 'SELECT depot_file FROM rev ORDER BY depot_file')).map((r) => r.depot_file),
      ['//other/0', '//other/a', '//other/b', '//other/c', '//other/d'],
      'every row once',
    )
  })

  t.test('integer keys written differently (007 and 7, 0 and -0) are one key within a batch too', async (t) => {
    // A probe: PostgreSQL's batch told keys apart by their text and ran its deletes before its puts: rows stayed.
    const url = await fresh(t)
    const text = [
      '@pv@ 0 @db.desc@ 7 @a@ ',
      '@ex@ 1 1611008050',
      '@pv@ 0 @db.desc@ 007 @b@ ',
      '@dv@ 0 @db.desc@ 7 @b@ ',
      '@ex@ 1 1611008050',
      '@pv@ 0 @db.desc@ 9 @keep@ ',
      '@dv@ 0 @db.desc@ 09 @keep@ ',
      '@pv@ 0 @db.desc@ 0 @zero@ ',
      '@pv@ 0 @db.desc@ -0 @minus zero@ ',
      '@ex@ 1 1611008050',
      '',
    ].join('\n')
    const l = listener(url)
    // One commit: every change in one batch.
    const entries = await entriesOfBytes(Buffer.from(text), 3)
    await feed(l, entries, false)
    await l.sync({ journal: 3, offset: entries.at(-1)!.position.end })
    await l.close()
    t.same(
      (await rowsOf(url, 'SELECT desc_key, description FROM "desc" ORDER BY desc_key')).map((r) => `${r.desc_key}=${r.description}`),
      ['0=minus zero'],
    )
  })

  t.test('text keys that differ only in bytes not valid in the encoding (or a NUL) stay distinct rows', async (t) => {
    // A probe: k\xff, k\xfe and k\x00 all read k\uFFFD, and the three rows became one.
    const url = await fresh(t)
    const bytes = Buffer.concat([
      Buffer.from('@pv@ 1 @db.counters@ @k\xff@ @first@ \n', 'latin1'),
      Buffer.from('@pv@ 1 @db.counters@ @k\xfe@ @second@ \n', 'latin1'),
      Buffer.from('@pv@ 1 @db.counters@ @k\x00@ @third@ \n', 'latin1'),
      Buffer.from('@pv@ 1 @db.counters@ @plain@ @fourth@ \n@ex@ 1 1611008050\n'),
    ])
    const l = listener(url)
    const entries = await entriesOfBytes(bytes, 3)
    await feed(l, entries, false)
    await l.sync({ journal: 3, offset: entries.at(-1)!.position.end })
    await l.close()
    const rows = await rowsOf(url, 'SELECT name, value FROM counters')
    t.same(rows.map((r) => String(r.value)).sort(), ['first', 'fourth', 'second', 'third'], 'four rows')
    t.ok(rows.some((r) => r.name === 'k\uf7ff') && rows.some((r) => r.name === 'k\uf700'), 'the bytes as U+F700 + byte')
  })

  t.test('a key holding a character of U+F700-U+F7FF is not the key of a byte kept that way: two rows', async (t) => {
    // A probe: k + byte 0xFF read k\uF7FF, as did the valid UTF-8 key k\uF7FF, and one row replaced the other.
    const url = await fresh(t)
    const bytes = Buffer.concat([
      Buffer.from('@pv@ 1 @db.counters@ @k\xff@ @one@ \n', 'latin1'),
      Buffer.from('@pv@ 1 @db.counters@ @k\uf7ff@ @two@ \n@ex@ 1 1611008050\n'),
    ])
    const l = listener(url)
    const entries = await entriesOfBytes(bytes, 3)
    await feed(l, entries, false)
    await l.sync({ journal: 3, offset: entries.at(-1)!.position.end })
    await l.close()
    const rows = await rowsOf(url, 'SELECT name, value, logdaemon_raw FROM counters ORDER BY value')
    t.same(
      rows.map((r) => String(r.value)),
      ['one', 'two'],
      'two rows',
    )
    t.equal(rows[1]?.name, 'k\uf7ef\uf79f\uf7bf', 'the character as its 3 bytes')
    t.same(Buffer.from(rows[1]?.logdaemon_raw as Uint8Array), bytes.subarray(bytes.indexOf('@pv@', 10), bytes.indexOf('@ex@')), 'and the record as written')
  })

  t.test("a key longer than the database's index holds goes to logdaemon_unmapped (PostgreSQL); the transactions around it apply", async (t) => {
    // A probe: on PostgreSQL a db.counters name of 4,000 characters failed the commit ("index row size 4016 exceeds
    // btree version 4 maximum 2704"), retried for ever with no position, and the transaction before it never committed.
    const url = await fresh(t)
    const long = Array.from({ length: 4000 }, (_, i) => String.fromCharCode(97 + ((i * 7919) % 26))).join('')
    const { entries } = entriesOf(
      [
        { op: 'pv', version: 1, table: 'db.counters', fields: ['before', '1'] },
        ex(),
        { op: 'pv', version: 1, table: 'db.counters', fields: [long, '2'] },
        ex(),
        { op: 'pv', version: 1, table: 'db.counters', fields: ['after', '3'] },
        ex(),
      ],
      3,
    )
    const l = listener(url)
    await feed(l, entries)
    await l.close()
    const postgres = url.startsWith('postgres')
    t.same(
      (await rowsOf(url, 'SELECT name FROM counters ORDER BY value')).map((r) => String(r.name).slice(0, 10)),
      postgres ? ['before', 'after'] : ['before', long.slice(0, 10), 'after'],
      postgres ? 'the long key is not a row' : 'SQLite has no such limit',
    )
    const unmapped = await rowsOf(url, 'SELECT table_name, reason FROM logdaemon_unmapped')
    if (postgres) t.match(unmapped, [{ table_name: 'db.counters', reason: "its key is 4004 bytes, more than the database's index holds (2600)" }])
    else t.same(unmapped, [])
    t.same(
      (await rowsOf(url, 'SELECT journal FROM logdaemon_position')).map((r) => String(r.journal)),
      ['3'],
      'committed',
    )
  })

  t.test('a replica table dropped, or its key dropped, outside logdaemon: the next open refuses, not retried', async (t) => {
    // A probe: without its unique index SQLite added a second row of a key; a dropped table failed every write, retried.
    for (const sabotage of ['key', 'table'] as const) {
      const url = await fresh(t)
      const postgres = url.startsWith('postgres')
      const counter = (name: string, value: number): RecordSpec => ({ op: 'pv', version: 1, table: 'db.counters', fields: [name, value] })
      const first = listener(url)
      await feed(first, entriesOf([counter('a', 1), ex(), counter('b', 2), ex()], 1).entries)
      await first.close()
      const [key] = (await rowsOf(url, "SELECT key_columns FROM logdaemon_tables WHERE table_name = 'counters'")).map((r) => String(r.key_columns))
      t.equal(key, 'name', 'counters is keyed by name')
      if (sabotage === 'table') await rowsOf(url, 'DROP TABLE counters')
      else if (postgres) await rowsOf(url, 'ALTER TABLE counters DROP CONSTRAINT IF EXISTS counters_pkey; DROP INDEX IF EXISTS counters_key')
      else await rowsOf(url, 'DROP INDEX counters_key')
      const again = listener(url)
      const err = await Promise.resolve(again.open()).then(
        () => null,
        (e: unknown) => e as { code?: string; retryable?: boolean; message?: string },
      )
      await again.close()
      t.match(
        err,
        {
          code: 'ERR_SQL_FAILED',
          retryable: false,
          message: sabotage === 'table' ? /changed outside logdaemon: table "counters" is missing/ : /table "counters" has no unique key on \(name\)/,
        },
        sabotage,
      )
    }
  })

  t.test('a date outside the timestamp range reads NULL in the changes view; the other rows read as usual', async (t) => {
    // A probe: on PostgreSQL one such date made every query of the view's date fail with "timestamp out of range".
    const url = await fresh(t)
    const far: RecordSpec = { op: 'pv', version: 2, table: 'db.change', fields: [2, 2, 'ws', 'alice', '9223372036854775807', 1, 'far', '//depot/...'] }
    const l = listener(url)
    await feed(l, entriesOf([change2(1, 'near'), desc(1, 'near'), far, desc(2, 'far'), ex()], 3).entries)
    await l.close()
    const rows = await rowsOf(url, 'SELECT change, date FROM changes ORDER BY change')
    t.equal(rows.length, 2)
    t.ok(rows[0]?.date !== null && rows[0]?.date !== undefined, 'the near date reads')
    t.equal(rows[1]?.date, null, 'the far one is NULL')
  })

  t.test('a newer table version adds columns with ALTER TABLE; older rows keep NULL there', async (t) => {
    const url = await fresh(t)
    const { entries } = entriesOf([change2(1, 'old'), desc(1, 'old'), ex(), change6(2, 'new'), change2(3, 'old again'), ex(), change6(1, 'rewritten'), ex()], 1)
    const l = listener(url)
    await feed(l, entries)
    await l.close()
    const rows = await rowsOf(url, 'SELECT change, "user", stream, importer FROM change ORDER BY change')
    t.same(
      rows.map((r) => [String(r.change), r.user, r.stream ?? null, r.importer ?? null]),
      [
        ['1', 'bob', '//stream/main', ''],
        ['2', 'bob', '//stream/main', ''],
        ['3', 'alice', null, null],
      ],
    )
    t.equal((await rowsOf(url, 'SELECT * FROM changes')).length, 3, 'the view still works')
  })

  t.test("a view of the user's own on the changes view does not stop an upgrade that adds columns (db.change 2 → 6)", async (t) => {
    // A probe: PostgreSQL refused to drop `changes` (a report view read it), and the replica stopped for good at the upgrade.
    const url = await fresh(t)
    const { entries } = entriesOf([change2(1, 'old'), desc(1, 'old'), ex(), change6(2, 'new'), desc(2, 'new'), ex()], 1)
    const l = listener(url)
    await feed(l, entries.slice(0, 3))
    await rowsOf(url, `CREATE VIEW submitted_by_user AS SELECT "user", COUNT(*) AS n FROM changes WHERE status = 'submitted' GROUP BY "user"`)
    await feed(l, entries.slice(3))
    await l.close()
    t.same(
      (await rowsOf(url, 'SELECT "user", n FROM submitted_by_user ORDER BY "user"')).map((r) => `${r.user}:${r.n}`),
      ['alice:1', 'bob:1'],
      "the user's view reads the upgraded replica",
    )
    t.same(
      (await rowsOf(url, 'SELECT journal FROM logdaemon_position')).map((r) => String(r.journal)),
      ['1'],
      'committed',
    )
  })

  t.test("a view of the user's own that reads a column to widen: PostgreSQL stops naming it, not retried; SQLite widens", async (t) => {
    const url = await fresh(t)
    const postgres = url.startsWith('postgres')
    const { entries } = entriesOf(
      [
        { op: 'pv', version: 0, table: 'db.counters', fields: ['change', 41] },
        ex(),
        { op: 'pv', version: 1, table: 'db.counters', fields: ['security', 'x1'] },
        ex(),
      ],
      1,
    )
    const l = listener(url)
    await feed(l, entries.slice(0, 2))
    await rowsOf(url, 'CREATE VIEW counter_values AS SELECT name, value FROM counters')
    const err = await feed(l, entries.slice(2)).then(
      () => null,
      (e: unknown) => e as { code?: string; retryable?: boolean; message?: string },
    )
    await l.close()
    if (postgres) {
      t.match(err, { code: 'ERR_SQL_FAILED', retryable: false, message: /"value" of "counters" must become text.*"counter_values" reads it.*drop that view/ })
      t.same(
        (await rowsOf(url, 'SELECT name FROM counter_values')).map((r) => r.name),
        ['change'],
        'nothing of the new version applied',
      )
    } else {
      t.equal(err, null)
      t.same(
        (await rowsOf(url, 'SELECT name, value FROM counter_values ORDER BY name')).map((r) => `${r.name}=${r.value}`),
        ['change=41', 'security=x1'],
      )
    }
  })

  t.test('a column that was an integer in an older version and is text in a newer one becomes text (db.counters 0 → 1)', async (t) => {
    const url = await fresh(t)
    const counter0 = (name: string, value: number): RecordSpec => ({ op: 'pv', version: 0, table: 'db.counters', fields: [name, value] })
    const counter1 = (name: string, value: string): RecordSpec => ({ op: 'pv', version: 1, table: 'db.counters', fields: [name, value] })
    // Text that looks like a number stays as written: SQLite's INTEGER affinity made '0042' 42 and '1.10' 1.1.
    const { entries } = entriesOf(
      [
        counter0('change', 41),
        ex(),
        counter1('journal', '7'),
        counter1('security', 'x1'),
        counter1('padded', '0042'),
        counter1('decimal', '1.10'),
        counter1('exponent', '1e3'),
        ex(),
        counter0('change', 42),
        // Version 0 again, its integer not written as p4d writes one: the column (text now) holds its value, in either database.
        { op: 'pv', version: 0, table: 'db.counters', fields: ['upgrade', '0043'] },
        ex(),
      ],
      1,
    )
    const l = listener(url)
    await feed(l, entries)
    await l.close()
    const rows = await rowsOf(url, 'SELECT name, value FROM counters ORDER BY name')
    t.strictSame(
      rows.map((r) => [r.name, r.value]),
      [
        ['change', '42'],
        ['decimal', '1.10'],
        ['exponent', '1e3'],
        ['journal', '7'],
        ['padded', '0042'],
        ['security', 'x1'],
        ['upgrade', '43'],
      ],
      'every value is the text the journal wrote; an integer field its value',
    )
  })

  t.test('a column widened to text by a restarted listener, in a table with its key and a view: rows, key and view kept', async (t) => {
    const url = await fresh(t)
    // db.rev 7 has lbrRev as an integer, 8 as text (an upgraded server): '1.10' is not '1.1'.
    const rev7 = (file: string, n: number, lbr: number): RecordSpec => ({
      op: 'pv',
      version: 7,
      table: 'db.rev',
      fields: [file, n, 0, 0, 10 + n, 1611008050, 1611008000, 'D41D8CD98F00B204E9800998ECF8427E', 12, 0, 1, file, lbr, 0],
    })
    const rev8 = (file: string, n: number, lbr: string): RecordSpec => ({
      op: 'pv',
      version: 8,
      table: 'db.rev',
      fields: [file, n, 0, 1, 10 + n, 1611008050, 1611008000, 'D41D8CD98F00B204E9800998ECF8427E', 12, 0, 1, file, lbr, 0],
    })
    const first = entriesOf([rev7('//depot/a.c', 1, 1), rev7('//depot/b.c', 1, 7), change2(11, 'first'), ex()], 1)
    const l1 = listener(url)
    await feed(l1, first.entries)
    await l1.close()
    const second = entriesOf([rev8('//depot/a.c', 2, '1.10'), rev8('//depot/b.c', 1, '1.070'), ex()], 1, first.bytes.length)
    const l2 = listener(url)
    await feed(l2, second.entries)
    await l2.close()
    const revs = await rowsOf(url, 'SELECT depot_file, depot_rev, lbr_rev FROM rev ORDER BY depot_file, depot_rev')
    t.strictSame(
      revs.map((r) => [r.depot_file, String(r.depot_rev), r.lbr_rev]),
      [
        ['//depot/a.c', '1', '1'],
        ['//depot/a.c', '2', '1.10'],
        ['//depot/b.c', '1', '1.070'],
      ],
      'older rows as text, newer ones as written; the put of b.c#1 replaced its row by key',
    )
    t.equal((await rowsOf(url, 'SELECT * FROM change_files')).length, 3, 'the view reads the widened table')
  })

  t.test('a newer layout that keys rows otherwise re-keys the table: no row doubled, none lost (db.sendq 4: taskID → taskid)', async (t) => {
    const url = await fresh(t)
    // db.sendq 4 with 18 fields (to 2019.1) keys by taskID, with 21 (from 2019.2) by taskid: task_id → taskid in SQL.
    const sendq18 = (op: string, task: number, seq: number, handle: string): RecordSpec => ({
      op,
      version: 4,
      table: 'db.sendq',
      fields: [task, seq, handle, '//depot/a', '//ws/a', 1, 0, 1611008050, 'D41D', 3, '//depot/a', '1.1', 0, 0, 0, '', 7, ''],
    })
    const sendq21 = (op: string, task: number, seq: number, handle: string): RecordSpec => ({
      op,
      version: 4,
      table: 'db.sendq',
      fields: [task, seq, handle, '//depot/a', '//ws/a', 1, 0, 1611008050, 'D41D', 3, '//depot/a', '1.1', 0, 0, 0, 1, 12, 1611008060, '', 7, ''],
    })
    const first = entriesOf([sendq18('pv', 1, 1, 'kept'), sendq18('pv', 1, 2, 'old'), sendq18('pv', 2, 1, 'deleted'), ex()], 1)
    const l1 = listener(url)
    await feed(l1, first.entries)
    await l1.close()
    // Another listener (a restart) meets the upgrade: in one batch, a change by the old key, then the new layout's.
    const second = entriesOf(
      [sendq18('pv', 4, 1, 'last by the old key'), sendq21('pv', 1, 2, 'updated'), sendq21('pv', 3, 1, 'new'), sendq21('dv', 2, 1, 'deleted'), ex()],
      1,
      first.bytes.length,
    )
    const l2 = listener(url)
    await feed(l2, second.entries, false)
    const last = second.entries.at(-1) as JournalEntry
    await l2.sync({ journal: 1, offset: last.position.end })
    await l2.close()
    // And a third: a record of the old layout after the upgrade cannot be applied by its key.
    const third = entriesOf([sendq18('pv', 1, 1, 'stale'), sendq21('pv', 5, 1, 'after'), ex()], 1, first.bytes.length + second.bytes.length)
    const l3 = listener(url)
    await feed(l3, third.entries)
    await l3.close()
    const rows = await rowsOf(url, 'SELECT taskid, seq, handle, task_id FROM sendq ORDER BY taskid, seq')
    t.strictSame(
      rows.map((r) => [String(r.taskid), String(r.seq), r.handle, r.task_id === null ? null : String(r.task_id)]),
      [
        ['1', '1', 'kept', '1'],
        ['1', '2', 'updated', null],
        ['3', '1', 'new', null],
        ['4', '1', 'last by the old key', '4'],
        ['5', '1', 'after', null],
      ],
      'old rows keyed by taskid (filled from task_id); the new layout replaced and deleted them by it',
    )
    t.strictSame(await rowsOf(url, "SELECT key_columns FROM logdaemon_tables WHERE table_name = 'sendq'"), [{ key_columns: 'taskid,seq' }])
    const unmapped = await rowsOf(url, 'SELECT table_name, version, reason FROM logdaemon_unmapped')
    t.equal(unmapped.length, 1, 'the stale record is kept, not applied')
    t.match(unmapped[0], { table_name: 'db.sendq', reason: /older than the layout the replica's key \(taskid, seq\)/ })
  })

  t.test('an older layout refused after a re-key is kept the same whether or not the listener restarted in between', async (t) => {
    // db.sendq 4 with 18 fields keys by taskID, with 21 by taskid; the newest layout keyed by taskid is 5 with 24 fields.
    const sendq = (fields: number, task: number, handle: string): RecordSpec => ({
      op: 'pv',
      version: 4,
      table: 'db.sendq',
      fields:
        fields === 18
          ? [task, 1, handle, '//depot/a', '//ws/a', 1, 0, 1611008050, 'D41D', 3, '//depot/a', '1.1', 0, 0, 0, '', 7, '']
          : [task, 1, handle, '//depot/a', '//ws/a', 1, 0, 1611008050, 'D41D', 3, '//depot/a', '1.1', 0, 0, 0, 1, 12, 1611008060, '', 7, ''],
    })
    const { entries } = entriesOf([sendq(18, 1, 'old'), ex(), sendq(21, 2, 'new'), ex(), sendq(18, 3, 'stale'), ex()], 1)
    const once = await fresh(t)
    const restarted = await fresh(t)
    let l = listener(once)
    await feed(l, entries)
    await l.close()
    l = listener(restarted)
    await feed(l, entries.slice(0, 4))
    await l.close()
    l = listener(restarted) // a restart (a kill -9, a deploy) after the re-key
    await feed(l, entries.slice(4))
    await l.close()
    const dump = await dumpReplica(restarted)
    t.equal(dump.logdaemon_unmapped?.length, 1, 'the stale record is kept')
    t.notMatch(dump.logdaemon_unmapped?.[0], /version 5/, 'no version the journal never had')
    t.same(dump, await dumpReplica(once), 'logdaemon_unmapped as without the restart')
  })

  t.test('columns the schema renamed (db.graphindex 0 → 1: file_name → name, commit_date → date) key the old rows by the new names', async (t) => {
    const url = await fresh(t)
    const g0 = (op: string, file: string, blob: string): RecordSpec => ({
      op,
      version: 0,
      table: 'db.graphindex',
      fields: [1, file, 1611008050, blob, 'C1', 0],
    })
    const g1 = (op: string, file: string, blob: string, size: number): RecordSpec => ({
      op,
      version: 1,
      table: 'db.graphindex',
      fields: [1, file, 1611008050, blob, 'C1', 0, size, 0, ''],
    })
    const { entries } = entriesOf([g0('pv', 'a.c', 'B1'), g0('pv', 'b.c', 'B2'), ex(), g1('pv', 'a.c', 'B1', 10), g1('dv', 'b.c', 'B2', 0), ex()], 1)
    const l = listener(url)
    await feed(l, entries)
    await l.close()
    const rows = await rowsOf(url, 'SELECT name, "date", file_name, size FROM graphindex ORDER BY name')
    t.strictSame(
      rows.map((r) => [r.name, String(r.date), r.file_name, r.size === null ? null : String(r.size)]),
      [['a.c', '1611008050', null, '10']],
      "a.c replaced by the new layout's record (not doubled), b.c deleted by it",
    )
  })

  t.test('a newer layout with a shorter key (db.have.rp 2 → 3): of rows it makes one, the greatest by the old key stays, in either database', async (t) => {
    const url = await fresh(t)
    const have2 = (client: string, depot: string, rev: number): RecordSpec => ({ op: 'pv', version: 2, table: 'db.have.rp', fields: [client, depot, rev, 0] })
    const have3 = (client: string, depot: string, rev: number): RecordSpec => ({
      op: 'pv',
      version: 3,
      table: 'db.have.rp',
      fields: [client, depot, rev, 0, 1611008050],
    })
    const { entries } = entriesOf(
      [
        // Written last is not the greatest: PostgreSQL cannot tell which was written last, so neither database goes by it.
        have2('//ws/a', '//depot/b', 2),
        have2('//ws/a', '//depot/b', 3),
        have2('//ws/a', '//depot/a', 1),
        have2('//ws/c', '//depot/c', 1),
        ex(),
        have3('//ws/d', '//depot/d', 4),
        ex(),
        have3('//ws/c', '//depot/c', 2),
        ex(),
      ],
      1,
    )
    const l = listener(url)
    await feed(l, entries)
    await l.close()
    const rows = await rowsOf(url, 'SELECT client_file, depot_file, have_rev FROM have_rp ORDER BY client_file')
    t.strictSame(
      rows.map((r) => [r.client_file, r.depot_file, String(r.have_rev)]),
      [
        ['//ws/a', '//depot/b', '3'],
        ['//ws/c', '//depot/c', '2'],
        ['//ws/d', '//depot/d', '4'],
      ],
    )
  })

  t.test("an integer not written as p4d writes one (007, -0): its value in the column, the record's bytes in logdaemon_raw", async (t) => {
    const url = await fresh(t)
    const { entries, bytes } = entriesOf(
      [
        desc(1, 'plain'),
        { op: 'pv', version: 0, table: 'db.desc', fields: [{ bare: '007' }, 'padded'] },
        { op: 'pv', version: 0, table: 'db.counters', fields: ['minus', { bare: '-0' }] },
        ex(),
      ],
      1,
    )
    const l = listener(url)
    await feed(l, entries)
    await l.close()
    const rows = await rowsOf(url, 'SELECT desc_key, description, logdaemon_raw FROM "desc" ORDER BY desc_key')
    t.strictSame(
      rows.map((r) => [String(r.desc_key), r.description, r.logdaemon_raw === null ? null : Buffer.from(r.logdaemon_raw as Uint8Array).toString('latin1')]),
      [
        ['1', 'plain', null],
        ['7', 'padded', bytes.subarray(entries[1]!.position.offset, entries[1]!.position.end).toString('latin1')],
      ],
      'the canonical row has no raw bytes; 007 is 7, its record kept',
    )
    const counters = await rowsOf(url, 'SELECT value, logdaemon_raw FROM counters')
    t.equal(String(counters[0]?.value), '0')
    t.ok(counters[0]?.logdaemon_raw, '-0: the record kept')
  })

  t.test('bytes that are not valid UTF-8 are kept in logdaemon_raw; valid rows have NULL there', async (t) => {
    const url = await fresh(t)
    const bad = Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x00, 0x21]) // "caf\xe9\0!": Windows-1252 é, then a NUL
    const { entries, bytes } = entriesOf([desc(1, 'plain'), { op: 'pv', version: 0, table: 'db.desc', fields: [2, bad] }, ex()], 1)
    const l = listener(url)
    await feed(l, entries)
    await l.close()
    const rows = await rowsOf(url, 'SELECT desc_key, description, logdaemon_raw FROM "desc" ORDER BY desc_key')
    t.equal(rows[0]?.logdaemon_raw, null)
    t.equal(rows[1]?.description, 'caf\uFFFD\uFFFD!')
    t.same(Buffer.from(rows[1]?.logdaemon_raw as Uint8Array), bytes.subarray(entries[1]!.position.offset, entries[1]!.position.end), 'the exact record bytes')
    const latin = await fresh(t)
    const l2 = listener(latin, { encoding: 'latin1' })
    await feed(l2, entries)
    await l2.close()
    const r2 = await rowsOf(latin, 'SELECT description, logdaemon_raw FROM "desc" WHERE desc_key = 2')
    t.equal(r2[0]?.description, 'café\uFFFD!', 'latin1: é decodes; only the NUL needs the raw bytes')
    t.not(r2[0]?.logdaemon_raw, null)
  })

  t.test('records without a documented layout go to logdaemon_unmapped; tables filter', async (t) => {
    const url = await fresh(t)
    const { entries } = entriesOf(
      [
        { op: 'pv', version: 99, table: 'db.rev', fields: ['//depot/x', 1] },
        rev('//depot/y', 'one' as unknown as number, 0, 1),
        { op: 'pv', version: 3, table: 'db.have', fields: ['//ws/a', '//depot/a', 1, 0, 0] },
        { op: 'pv', version: 1, table: 'db.counters', fields: ['journal', '4'] },
        ex(),
      ],
      2,
    )
    const l = listener(url, { exclude: ['db.have*'] })
    await feed(l, entries)
    await l.close()
    const rows = await rowsOf(url, 'SELECT journal, "offset", op, table_name, version, fields, reason FROM logdaemon_unmapped ORDER BY "offset"')
    t.equal(rows.length, 2)
    t.match(rows[0], { op: 'pv', table_name: 'db.rev', fields: '["//depot/x","1"]', reason: /no documented layout/ })
    t.match(rows[1], { table_name: 'db.rev', reason: /depot_rev is not a 64-bit integer/ })
    const tables = (await rowsOf(url, 'SELECT table_name FROM logdaemon_tables ORDER BY table_name')).map((r) => r.table_name)
    t.same(tables, ['counters'], 'db.have excluded; no table for unmapped records')
  })

  t.test('a put whose table name holds a NUL goes to logdaemon_unmapped (PostgreSQL text holds none); the transactions around it apply', async (t) => {
    // A probe: on PostgreSQL its table_name failed every commit ('invalid byte sequence for encoding "UTF8": 0x00'), retried
    // until the daemon stopped, and again at every restart: the replica never passed it.
    const url = await fresh(t)
    const bad = Buffer.from('@pv@ 1 @db.cou\0nters@ @x@ @2@ \n', 'latin1')
    const bytes = Buffer.concat([
      Buffer.from('@pv@ 1 @db.counters@ @a@ @1@ \n@ex@ 1 1\n'),
      bad,
      Buffer.from('@ex@ 2 2\n@pv@ 1 @db.counters@ @b@ @3@ \n@ex@ 3 3\n'),
    ])
    const entries = await entriesOfBytes(bytes, 4)
    const l = listener(url)
    for (const e of entries) {
      await l.listen(e)
      if (e.op === 'ex') await l.sync({ journal: 4, offset: e.position.end })
    }
    await l.close()
    t.same(
      (await rowsOf(url, 'SELECT name, value FROM counters ORDER BY name')).map((r) => `${r.name}=${r.value}`),
      ['a=1', 'b=3'],
    )
    const rows = await rowsOf(url, 'SELECT journal, "offset", table_name, raw, reason FROM logdaemon_unmapped')
    t.equal(rows.length, 1)
    t.match(rows[0], { table_name: 'db.cou\uFFFDnters', reason: /names no table/ })
    t.same(Buffer.from(rows[0]?.raw as Uint8Array), bad, "the record's exact bytes, NUL included")
    t.same((await dumpReplica(url)).logdaemon_position, [`4/${bytes.length}`])
  })

  t.test('a second writer is detected: ERR_SQL_CONFLICT', async (t) => {
    const url = await fresh(t)
    const { entries } = entriesOf([rev('//depot/a', 1, 0, 1), ex(), rev('//depot/b', 1, 0, 2), ex()], 1)
    const a = listener(url)
    const b = listener(url)
    await a.open()
    await b.open()
    await feed(a, entries.slice(0, 2))
    await t.rejects(async () => feed(b, entries.slice(0, 2)), { code: ErrorCodes.SQL_CONFLICT })
    await a.close()
    await b.close()
  })

  t.test(
    "another application's database: refused at open (ERR_SQL_NOT_EMPTY), its tables and views untouched; its table in a replica is never mixed",
    async (t) => {
      // A probe: on SQLite the listener added db.rev's columns and rows to the application's own `rev` table (no key: puts
      // doubled rows) and replaced its `changes` view; on PostgreSQL every commit failed (no key for ON CONFLICT), retried.
      const url = await fresh(t)
      const app = [
        'CREATE TABLE rev (id integer PRIMARY KEY, name text)',
        "INSERT INTO rev (id, name) VALUES (1, 'app row')",
        "CREATE VIEW changes AS SELECT 'app view' AS x",
      ]
      const target = parseSqlUrl(url)
      const file = target.kind === 'sqlite' ? target.file : null
      if (file === null) for (const sql of app) await rowsOf(url, sql)
      else {
        // Made by SQLite itself, as another application would (its default rollback journal, not WAL).
        const { default: Sqlite } = await import('better-sqlite3')
        const db = new Sqlite(file)
        for (const sql of app) db.exec(sql)
        db.close()
      }
      // SQLite: the file itself, whose header records WAL mode (the refusal once put the database in it).
      const bytes = file === null ? null : readFileSync(file)
      const { entries } = entriesOf([rev('//depot/a.c', 1, 0, 10), change2(10, 'first'), desc(10, 'first'), ex()])
      const l = listener(url)
      await t.rejects(l.open(), {
        code: ErrorCodes.SQL_NOT_EMPTY,
        message: /tables logdaemon did not create \(rev\) and views logdaemon did not create \(changes\)/,
      })
      await t.rejects(feed(l, entries), { code: ErrorCodes.SQL_NOT_EMPTY }, 'and at the first entry')
      await l.close()
      if (file !== null) t.ok(readFileSync(file).equals(bytes as Buffer), "the application's SQLite file byte for byte as it was (not put in WAL mode)")
      t.same(await rowsOf(url, 'SELECT * FROM rev'), [{ id: 1, name: 'app row' }], "the application's table as it was")
      t.same(await rowsOf(url, 'SELECT * FROM changes'), [{ x: 'app view' }], "the application's view as it was")
      t.same(await rowsOf(url, "SELECT 1 AS x FROM logdaemon_tables WHERE table_name = 'rev'").catch(() => []), [], 'no replica made')

      // A replica, and a table of the user's own under the name a journal table maps to (db.desc → desc).
      const replica = await fresh(t)
      const r = listener(replica)
      await feed(r, entriesOf([rev('//depot/a.c', 1, 0, 10), ex()]).entries)
      await r.close()
      await rowsOf(replica, 'CREATE TABLE "desc" (note text)')
      await rowsOf(replica, 'INSERT INTO "desc" (note) VALUES (\'mine\')')
      const again = listener(replica)
      const more = entriesOf([rev('//depot/a.c', 1, 0, 10), ex(), desc(11, 'second'), ex()]).entries
      await t.rejects(feed(again, more), { code: ErrorCodes.SQL_FAILED, message: /table "desc" that logdaemon did not create/ })
      await again.close()
      t.same(await rowsOf(replica, 'SELECT * FROM "desc"'), [{ note: 'mine' }], "the user's table as it was")
      t.equal((await dumpReplica(replica)).logdaemon_position?.length, 1, 'the replica kept its position')
    },
  )
}
