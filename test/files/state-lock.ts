import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StateLock, liveness, lockPathOf } from '../../lib/files/state-lock.js'
import { tsNodeArgs, tsNodeEnv } from '../helpers/spawn-ts.js'

const HOLD = fileURLToPath(new URL('../helpers/hold-lock.ts', import.meta.url))

/** Starts a real process that takes the lock; resolves once it holds it. */
async function holder(state: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...tsNodeArgs(), HOLD, state], { env: tsNodeEnv(), stdio: ['ignore', 'pipe', 'inherit'] })
  await new Promise<void>((resolve, reject) => {
    let out = ''
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      if (out.includes('locked')) resolve()
    })
    child.once('exit', (code) => reject(new Error(`holder exited with ${code}`)))
  })
  return child
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())))
}

t.test('a second taker is refused with ERR_LOCKED naming the holder; released, it is free again', async (t) => {
  const dir = t.testdir()
  const state = join(dir, 'state.json')
  const a = await StateLock.acquire(state, { command: 'first' })
  t.ok(existsSync(lockPathOf(state)))
  const err = await StateLock.acquire(state).catch((e: unknown) => e)
  t.match(err, { code: 'ERR_LOCKED', file: state, details: { pid: process.pid, command: 'first', lock: lockPathOf(state) } })
  t.match((err as Error).message, new RegExp(`in use by process ${process.pid} \\(first on `))
  await a.release()
  await a.release()
  t.notOk(existsSync(lockPathOf(state)), 'released: the lock file is gone')
  const b = await StateLock.acquire(state)
  await b.release()
  t.same(readdirSync(dir), [], 'no temporary or stale file left')
})

t.test('a real process holds it; after kill -9 the stale lock is taken over', async (t) => {
  const dir = t.testdir()
  const state = join(dir, 'state.json')
  const child = await holder(state)
  t.teardown(() => void child.kill('SIGKILL'))
  await t.rejects(StateLock.acquire(state), { code: 'ERR_LOCKED', details: { pid: child.pid, command: 'hold-lock' } })
  child.kill('SIGKILL')
  await exited(child)
  t.ok(existsSync(lockPathOf(state)), 'kill -9 left the lock file behind')
  const lock = await StateLock.acquire(state)
  t.equal(JSON.parse(readFileSync(lockPathOf(state), 'utf8')).pid, process.pid, 'now ours')
  await lock.release()
})

t.test('a lock whose pid now names another process (same pid, other start time) is stale', async (t) => {
  const dir = t.testdir()
  const state = join(dir, 'state.json')
  const a = await StateLock.acquire(state)
  const recorded = JSON.parse(readFileSync(lockPathOf(state), 'utf8'))
  await a.release()
  if (recorded.started === null) {
    t.comment('no /proc here: start times are not known')
    return
  }
  // As after a container restart: our own pid, recorded by a process that started at another time.
  writeFileSync(lockPathOf(state), JSON.stringify({ ...recorded, started: String(Number(recorded.started) + 1), nonce: 'old' }))
  const b = await StateLock.acquire(state)
  await b.release()
  t.equal(liveness({ ...recorded, started: String(Number(recorded.started) + 1) }), 'dead')
  t.equal(liveness(recorded), 'alive')
})

t.test('a lock from before a reboot, or of a pid that no longer exists, is stale', async (t) => {
  const dir = t.testdir()
  const state = join(dir, 'state.json')
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  const base = { pid: Number(gone.stdout), host: hostname(), bootId: null, started: null, command: 'x', since: 'then', nonce: 'n' }
  t.equal(liveness(base), 'dead', 'an ended process')
  t.equal(liveness({ ...base, pid: process.pid, bootId: 'another-boot' }), existsSync('/proc/sys/kernel/random/boot_id') ? 'dead' : 'alive')
  writeFileSync(lockPathOf(state), JSON.stringify({ format: 'logdaemon-lock', ...base }))
  const lock = await StateLock.acquire(state)
  await lock.release()
})

t.test('a lock of another host, or an unreadable one, is refused with advice, and left alone', async (t) => {
  const dir = t.testdir()
  const state = join(dir, 'state.json')
  const other = { format: 'logdaemon-lock', pid: 1, host: 'standby-host', bootId: null, started: null, command: 'logdaemon', since: 'then', nonce: 'n' }
  writeFileSync(lockPathOf(state), JSON.stringify(other))
  await t.rejects(StateLock.acquire(state), { code: 'ERR_LOCKED', message: /process 1 \(logdaemon on standby-host.*another host.*remove/ })
  writeFileSync(lockPathOf(state), 'garbage')
  await t.rejects(StateLock.acquire(state), { code: 'ERR_LOCKED', message: /not a logdaemon lock file/ })
  t.equal(readFileSync(lockPathOf(state), 'utf8'), 'garbage')
  t.same(readdirSync(dir), ['state.json.lock'], 'no temporary file left')
})

t.test('a symlink at the lock path is never followed nor replaced', async (t) => {
  const dir = t.testdir({ victim: 'precious' })
  const state = join(dir, 'state.json')
  symlinkSync(join(dir, 'victim'), lockPathOf(state))
  await t.rejects(StateLock.acquire(state), { code: 'ERR_LOCKED' })
  t.equal(readFileSync(join(dir, 'victim'), 'utf8'), 'precious')
})

t.test('a lock that cannot be created is ERR_STATE_WRITE', async (t) => {
  const dir = t.testdir()
  await t.rejects(StateLock.acquire(join(dir, 'missing', 'state.json')), { code: 'ERR_STATE_WRITE', message: /cannot create the lock/ })
})

t.test('many takers at once: exactly one wins', async (t) => {
  const dir = t.testdir()
  const state = join(dir, 'state.json')
  const results = await Promise.allSettled(Array.from({ length: 8 }, () => StateLock.acquire(state)))
  const won = results.filter((r) => r.status === 'fulfilled')
  t.equal(won.length, 1)
  for (const r of results) if (r.status === 'rejected') t.match(r.reason, { code: 'ERR_LOCKED' })
  await (won[0] as PromiseFulfilledResult<StateLock>).value.release()
})

t.test('the same state file through a symlinked directory has the same lock', async (t) => {
  const dir = t.testdir({ real: {} })
  symlinkSync(join(dir, 'real'), join(dir, 'alias'))
  const a = await StateLock.acquire(join(dir, 'real', 'state.json'))
  await t.rejects(StateLock.acquire(join(dir, 'alias', 'state.json')), { code: 'ERR_LOCKED' })
  await a.release()
})
