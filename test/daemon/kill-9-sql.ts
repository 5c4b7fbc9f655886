import t, { type Test } from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Random } from '../../lib/sim/random.js'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import { tick } from '../helpers/entries.js'
import { postgresSkip, startPostgres } from '../helpers/postgres.js'
import { dumpReplica, replay, rowsOf } from '../helpers/sql-replica.js'
import { binSkip, startDaemon, testSeed, writeDaemonConfig } from '../helpers/daemon-run.js'

/**
 * `logdaemon run` with the sql listener, killed with SIGKILL at random
 * points while a simulated p4d writes and rotates (rename, copy and
 * truncate, gzip), then restarted; at the end the database must equal a
 * from-scratch replay of every journal: nothing lost, nothing doubled.
 * Midway the server is "upgraded": db.change goes from version 2 to 6, so
 * the replica must widen the table (ALTER TABLE) between two kills.
 */

const KILLS = 4
const seed = testSeed

async function positionOf(url: string): Promise<string | null> {
  try {
    const rows = await rowsOf(url, 'SELECT journal, "offset" FROM logdaemon_position')
    return rows[0] ? `${String(rows[0].journal)}/${String(rows[0].offset)}` : null
  } catch (err) {
    return `none (${(err as Error).message})` // not created yet
  }
}

/** How many times a run's sql listener has logged opening its database. */
function opensLogged(dir: string): number {
  const file = join(dir, 'daemon.log')
  return existsSync(file) ? (readFileSync(file, 'utf8').match(/"msg":"sql replica /g) ?? []).length : 0
}

async function killAndCompare(t: Test, url: string, fresh: string): Promise<void> {
  t.comment(`seed ${seed} (LOGDAEMON_TEST_SEED=${seed} repeats the kill points and the journal)`)
  const rng = new Random(seed)
  const dir = t.testdir()
  const config = writeDaemonConfig(dir, [{ type: 'sql', options: { url, batchRows: 200 } }], 'info')
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed, rotateMode: 'random', maxPieces: 4 })
  sim.generator.changeVersion = 2
  await sim.restart()
  const writing = new AbortController()
  let rotations = 0
  const writer = sim.run({ intervalMs: 5, rotateEveryMs: 500, signal: writing.signal, restartNote: false, onAppend: () => {}, onRotate: () => rotations++ })

  for (let i = 0; i < KILLS; i++) {
    if (i === KILLS / 2) sim.generator.changeVersion = 6 // the upgrade
    const opened = opensLogged(dir)
    const run = startDaemon(config, dir)
    // Node's start-up takes seconds on a loaded machine: kill at random points after the listener opened the database.
    const until = Date.now() + 60_000
    while (opensLogged(dir) === opened && Date.now() < until && run.child.exitCode === null) await tick(20)
    const after = rng.int(50, 1500)
    await tick(after)
    run.child.kill('SIGKILL')
    const { signal, code } = await run.exited
    t.equal(
      signal,
      'SIGKILL',
      `run ${i + 1} killed ${after} ms after opening, at ${await positionOf(url)}${code ? ` (it had exited ${code}: ${run.stderr()})` : ''}`,
    )
  }
  writing.abort()
  const summary = await writer
  await sim.close()
  t.comment(`${summary.transactions} transactions, ${rotations} rotations, journals ${sim.journals.join(', ')}`)

  const journals = sim.journals.map((n) => ({ n, bytes: sim.journalBytes(n) })).filter((j) => j.bytes.length > 0)
  const lastJ = journals.at(-1)!
  const end = `${lastJ.n}/${lastJ.bytes.length}`
  const last = startDaemon(config, dir)
  const deadline = Date.now() + 90_000
  while ((await positionOf(url)) !== end && Date.now() < deadline && last.child.exitCode === null) await tick(100)
  last.child.kill('SIGTERM')
  const { code } = await last.exited
  t.equal(code, 0, `the last run stops cleanly on SIGTERM${code ? `: ${last.stderr()}` : ''}`)
  t.equal(await positionOf(url), end, 'the replica reached the end of the last journal')

  await replay(fresh, journals)
  const got = await dumpReplica(url)
  const want = await dumpReplica(fresh)
  t.same(Object.keys(got), Object.keys(want), 'the same tables')
  for (const table of Object.keys(want)) t.same(got[table], want[table], `${table}: ${want[table]?.length} rows, equal to a from-scratch replay`)
  const changes = got.change ?? []
  t.ok(changes.some((r) => /importer=NULL/.test(r)) && changes.some((r) => /importer=(?!NULL)/.test(r)), 'db.change rows of version 2 (importer NULL) and 6')
  const log = existsSync(join(dir, 'daemon.log')) ? readFileSync(join(dir, 'daemon.log'), 'utf8') : ''
  t.notMatch(log, /"level":(50|60)/, 'no errors logged')
}

t.test('SQLite: kill -9 at random points, restart: the replica equals a replay', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  await killAndCompare(t, `sqlite:${join(dir, 'replica.db')}`, `sqlite:${join(dir, 'fresh.db')}`)
})

t.test('PostgreSQL: kill -9 at random points, restart: the replica equals a replay', { skip: binSkip || postgresSkip }, async (t) => {
  const pg = await startPostgres()
  t.teardown(() => pg.stop())
  await killAndCompare(t, await pg.createDatabase('replica'), await pg.createDatabase('fresh'))
})
