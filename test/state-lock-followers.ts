/**
 * Two followers on one state file: the second is refused with ERR_LOCKED
 * naming the first's pid (logdaemon-cat --follow --state, the daemon's
 * `state`, the library's source); once the first has ended (a clean stop
 * or kill -9), the next one starts from the saved state.
 */
import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import pino from 'pino'
import { Daemon } from '../lib/daemon/daemon.js'
import { parseConfig } from '../lib/daemon/config.js'
import { lockPathOf } from '../lib/files/state-lock.js'
import { SimulatedP4d } from '../lib/sim/simulated-p4d.js'
import { RotatingJournalSource } from '../lib/source/rotating-journal-source.js'
import { until } from './helpers/follow.js'
import { BIN_TS, tsNodeArgs, tsNodeEnv } from './helpers/spawn-ts.js'

async function server(root: string): Promise<SimulatedP4d> {
  const sim = new SimulatedP4d({ root, seed: 5, startJournal: 3 })
  for (let i = 0; i < 20; i++) await sim.appendTransaction()
  await sim.idle()
  return sim
}

interface Cat {
  child: ChildProcess
  stdout: () => string
  stderr: () => string
  closed: Promise<number | null>
}

function cat(root: string, state: string): Cat {
  const child = spawn(process.execPath, [...tsNodeArgs(), BIN_TS, '--follow', '--root', root, '--from', '3', '--state', state], {
    env: tsNodeEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString('latin1')))
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return { child, stdout: () => out, stderr: () => err, closed }
}

t.test('logdaemon-cat --follow --state: a second follower exits 1 naming the first; after kill -9 of the first, a third goes on', async (t) => {
  const root = t.testdir()
  const sim = await server(root)
  const state = join(root, 'cat.state')
  const first = cat(root, state)
  t.teardown(() => void first.child.kill('SIGKILL'))
  const all = sim.journalBytes(3).length
  await until(() => first.stdout().length === all, 30_000, 'the first follower to print everything')
  const second = cat(root, state)
  t.equal(await second.closed, 1, 'the second exits 1')
  t.match(second.stderr(), new RegExp(`^logdaemon-cat: .*state file .*cat\\.state is in use by process ${first.child.pid} `))
  t.equal(second.stdout(), '', 'and prints nothing')
  first.child.kill('SIGKILL')
  await first.closed
  t.ok(existsSync(lockPathOf(state)), 'kill -9 left the lock behind')
  await sim.appendTransaction()
  const third = cat(root, state)
  t.teardown(() => void third.child.kill('SIGKILL'))
  const more = sim.journalBytes(3).length
  await until(
    () => third.stdout().length > 0 && sim.journalBytes(3).toString('latin1').endsWith(third.stdout()),
    30_000,
    'the third follower to print the new records',
  )
  t.ok(more > all)
  third.child.kill('SIGTERM')
  t.equal(await third.closed, 0)
  t.equal(third.stderr(), '')
  t.notOk(existsSync(lockPathOf(state)), 'a clean stop removes the lock')
  await sim.close()
})

t.test('the source: a second one on the same state fails to open with ERR_LOCKED until the first is destroyed', async (t) => {
  const root = t.testdir()
  const sim = await server(root)
  const state = join(root, 'src.state')
  const a = new RotatingJournalSource({ root, from: 3, state })
  await a.open()
  const b = new RotatingJournalSource({ root, from: 3, state })
  await t.rejects(b.open(), { code: 'ERR_LOCKED', details: { pid: process.pid } })
  b.destroy()
  a.destroy()
  await new Promise((r) => a.once('close', r))
  t.notOk(existsSync(lockPathOf(state)), 'destroy released it')
  const c = new RotatingJournalSource({ root, state })
  t.match(await c.open(), { how: 'state' })
  c.destroy()
  await new Promise((r) => c.once('close', r))
  await sim.close()
})

t.test('the daemon: no second instance on one state file', async (t) => {
  const dir = t.testdir()
  const sim = await server(join(dir, 'root'))
  const cfg = await parseConfig(
    { server: { root: 'root' }, from: 3, status: false, listeners: [{ type: 'mirror', options: { dir: 'mirror', fsync: false } }] },
    { baseDir: dir },
  )
  const silent = pino({ level: 'silent' })
  const first = new Daemon(cfg, { logger: silent })
  await first.start()
  const second = new Daemon(cfg, { logger: silent })
  await t.rejects(second.start(), { code: 'ERR_LOCKED', message: /logdaemon\.state\.json is in use by process/ })
  await first.stop()
  t.notOk(existsSync(lockPathOf(cfg.state)))
  const third = new Daemon(cfg, { logger: silent })
  await third.start()
  await third.stop()
  await sim.close()
})
