import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Random } from '../../lib/sim/random.js'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import { tick } from '../helpers/entries.js'
import { binSkip, startDaemon, testSeed, writeDaemonConfig } from '../helpers/daemon-run.js'

/**
 * `logdaemon run` with the mirror listener, killed with SIGKILL at random
 * points while a simulated p4d writes and rotates (rename, copy and
 * truncate, gzip), then restarted; at the end every mirrored journal must
 * be byte-identical to what the server wrote. Nothing lost, nothing doubled.
 */

const KILLS = 8
const seed = testSeed

function mirrorOf(dir: string, n: number): Buffer {
  const file = join(dir, 'mirror', `journal.${n}`)
  return existsSync(file) ? readFileSync(file) : Buffer.alloc(0)
}

t.test('kill -9 at random points, restart: the mirror ends byte-identical', { skip: binSkip }, async (t) => {
  t.comment(`seed ${seed} (LOGDAEMON_TEST_SEED=${seed} repeats the kill points and the journal)`)
  const rng = new Random(seed)
  const dir = t.testdir()
  const config = writeDaemonConfig(dir, [{ type: 'mirror', options: { dir: 'mirror' } }])
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed, rotateMode: 'random', maxPieces: 4 })
  await sim.restart()
  const writing = new AbortController()
  let rotations = 0
  const writer = sim.run({ intervalMs: 5, rotateEveryMs: 400, signal: writing.signal, restartNote: false, onAppend: () => {}, onRotate: () => rotations++ })

  for (let i = 0; i < KILLS; i++) {
    const run = startDaemon(config, dir)
    const after = rng.int(100, 2500)
    await tick(after)
    run.child.kill('SIGKILL')
    const { signal, code } = await run.exited
    const mirrored = sim.journals.reduce((n, j) => n + mirrorOf(dir, j).length, 0)
    t.equal(signal, 'SIGKILL', `run ${i + 1} killed after ${after} ms, ${mirrored} bytes mirrored${code ? ` (it had exited ${code}: ${run.stderr()})` : ''}`)
  }
  writing.abort()
  const summary = await writer
  await sim.close()
  t.comment(`${summary.transactions} transactions, ${rotations} rotations, journals ${sim.journals.join(', ')}`)

  const last = startDaemon(config, dir)
  const caughtUp = () => sim.journals.every((n) => mirrorOf(dir, n).length === sim.journalBytes(n).length)
  const deadline = Date.now() + 60_000
  while (!caughtUp() && Date.now() < deadline && last.child.exitCode === null) await tick(50)
  last.child.kill('SIGTERM')
  const { code } = await last.exited
  t.equal(code, 0, `the last run stops cleanly on SIGTERM${code ? `: ${last.stderr()}` : ''}`)
  for (const n of sim.journals) {
    const want = sim.journalBytes(n)
    const got = mirrorOf(dir, n)
    t.ok(got.equals(want), `journal ${n}: mirror ${got.length} bytes, journal ${want.length} bytes, identical`)
  }
  const log = existsSync(join(dir, 'daemon.log')) ? readFileSync(join(dir, 'daemon.log'), 'utf8') : ''
  t.notMatch(log, /"level":(50|60)/, 'no errors logged')
})
