import t from 'tap'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { existsSync, mkdirSync, mkdtempSync, rmSync, readFileSync, readdirSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StateLock, liveness, lockPathOf } from '../../lib/files/state-lock.js'
import { tsNodeArgs, tsNodeEnv } from '../helpers/spawn-ts.js'

const HOLD = fileURLToPath(new URL('../helpers/hold-lock.ts', import.meta.url))

/** Starts a real process that takes the lock (behind `wrap`, a command such as unshare); resolves once it holds it. */
async function holder(state: string, wrap: string[] = []): Promise<ChildProcess> {
  const argv = [...wrap, process.execPath, ...tsNodeArgs(), HOLD, state]
  const child = spawn(argv[0] as string, argv.slice(1), { env: tsNodeEnv(), stdio: ['ignore', 'pipe', 'inherit'] })
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

t.test('an exit without a release (the daemon forced to stop) removes the lock file and its socket', async (t) => {
  const dir = t.testdir()
  const state = join(dir, 'state.json')
  const child = await holder(state)
  t.teardown(() => void child.kill('SIGKILL'))
  t.ok(
    readdirSync(dir).some((f) => f.endsWith('.sock')),
    'the holder listens on its socket',
  )
  child.kill('SIGUSR2')
  await exited(child)
  t.equal(child.exitCode, 1, 'process.exit(1), no release')
  t.same(readdirSync(dir), [], 'no lock file, no socket left')
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
  t.equal(await liveness({ ...recorded, started: String(Number(recorded.started) + 1) }), 'dead')
  t.equal(await liveness(recorded), 'alive')
})

t.test('a lock from before a reboot, or of a pid that no longer exists, is stale', async (t) => {
  const dir = t.testdir()
  const state = join(dir, 'state.json')
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  const base = {
    pid: Number(gone.stdout),
    host: hostname(),
    bootId: null,
    started: null,
    pidNs: null,
    socket: null,
    command: 'x',
    since: 'then',
    nonce: 'n',
  }
  t.equal(await liveness(base), 'dead', 'an ended process')
  t.equal(await liveness({ ...base, pid: process.pid, bootId: 'another-boot' }), existsSync('/proc/sys/kernel/random/boot_id') ? 'dead' : 'alive')
  writeFileSync(lockPathOf(state), JSON.stringify({ format: 'logdaemon-lock', ...base }))
  const lock = await StateLock.acquire(state)
  await lock.release()
})

t.test(
  'a holder killed but not yet reaped (a zombie) is dead: its lock is taken over',
  { skip: existsSync('/proc/self/stat') ? false : 'no /proc here' },
  async (t) => {
    const dir = t.testdir()
    const state = join(dir, 'state.json')
    // A parent that forks a child which ends at once, and never waits for it: the child stays a zombie. (sh with
    // `sleep 0 & exec sleep 30` raced: a child that ended before the exec was reaped by sh, and /proc lost it.)
    const parent = spawn('python3', ['-c', 'import os, sys, time\npid = os.fork()\nif pid == 0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(30)'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    t.teardown(() => void parent.kill('SIGKILL'))
    const pid = Number(await new Promise<string>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(d.toString().trim()))))
    const stat = (): string[] => {
      const text = readFileSync(`/proc/${pid}/stat`, 'utf8')
      return text.slice(text.lastIndexOf(')') + 2).split(' ')
    }
    for (let i = 0; i < 200 && stat()[0] !== 'Z'; i++) await sleep(10)
    t.equal(stat()[0], 'Z', 'a zombie')
    const a = await StateLock.acquire(state)
    const recorded = JSON.parse(readFileSync(lockPathOf(state), 'utf8'))
    await a.release()
    const zombie = { ...recorded, pid, started: stat()[19], socket: null, nonce: 'zombie' }
    t.equal(await liveness(zombie), 'dead')
    writeFileSync(lockPathOf(state), JSON.stringify(zombie))
    const b = await StateLock.acquire(state)
    t.equal(JSON.parse(readFileSync(lockPathOf(state), 'utf8')).pid, process.pid, 'now ours')
    await b.release()
  },
)

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

t.test("a state path that is a symlink to a state file shares that file's lock, and keeps its own", async (t) => {
  const dir = t.testdir({ real: { 'state.json': '{}' }, other: {} })
  const target = join(dir, 'real', 'state.json')
  const link = join(dir, 'other', 'state.json')
  symlinkSync(target, link)
  const viaLink = await StateLock.acquire(link, { command: 'via-link' })
  t.ok(existsSync(lockPathOf(target)), "the target's lock is taken")
  t.ok(existsSync(lockPathOf(link)), "and the link's own")
  await t.rejects(StateLock.acquire(target), { code: 'ERR_LOCKED', details: { command: 'via-link' } }, 'a reader naming the target is refused')
  // A save replaces the link with a file: a reader naming that path is still refused while the first one reads.
  rmSync(link)
  writeFileSync(link, '{}')
  await t.rejects(StateLock.acquire(link), { code: 'ERR_LOCKED', details: { command: 'via-link' } }, 'the link path, a file now')
  await viaLink.release()
  t.notOk(existsSync(lockPathOf(target)), 'both released')
  t.notOk(existsSync(lockPathOf(link)))
  const viaTarget = await StateLock.acquire(target, { command: 'via-target' })
  rmSync(link)
  symlinkSync(target, link)
  await t.rejects(StateLock.acquire(link), { code: 'ERR_LOCKED', details: { command: 'via-target' } }, 'and the other way round')
  t.notOk(existsSync(lockPathOf(link)), 'the refused one left its own lock behind')
  await viaTarget.release()
})

t.test(
  'a symlink to a state file in a directory no lock can be made in takes its own lock only (a read-only seed state)',
  { skip: existsSync('/proc/version') ? false : 'no /proc here' },
  async (t) => {
    // /proc takes no new file, even from root: as a directory this process may not write.
    const dir = t.testdir()
    const link = join(dir, 'state.json')
    symlinkSync('/proc/version', link)
    const lock = await StateLock.acquire(link)
    t.same(
      readdirSync(dir).filter((n) => n.endsWith('.lock')),
      ['state.json.lock'],
      'its own lock',
    )
    await t.rejects(StateLock.acquire(link), { code: 'ERR_LOCKED' }, 'which a second reader of the link finds')
    await lock.release()
  },
)

t.test('a symlink to no file, or to itself, takes only its own lock', async (t) => {
  const dir = t.testdir()
  const link = join(dir, 'state.json')
  symlinkSync(join(dir, 'missing.json'), link)
  const a = await StateLock.acquire(link)
  t.same(
    readdirSync(dir).filter((n) => n.endsWith('.lock')),
    ['state.json.lock'],
  )
  await a.release()
  const loop = join(dir, 'loop.json')
  symlinkSync(loop, loop)
  const b = await StateLock.acquire(loop)
  t.same(
    readdirSync(dir).filter((n) => n.endsWith('.lock')),
    ['loop.json.lock'],
  )
  await b.release()
})

/** Whether this machine lets a test start a process in a new PID namespace. */
function canUnshare(): boolean {
  const r = spawnSync('unshare', ['--pid', '--fork', '--kill-child', 'true'], { stdio: 'ignore' })
  return r.status === 0
}

t.test('a live holder in another PID namespace with the same host name is not taken for stale; dead, it is', async (t) => {
  if (!existsSync('/proc/self/ns/pid') || !canUnshare()) {
    t.comment('skipped: cannot start a process in a new PID namespace here (unshare --pid needs root or user namespaces)')
    return
  }
  const dir = t.testdir()
  const state = join(dir, 'state.json')
  // pid 1 in its own namespace: here, pid 1 is init, alive but started at another time.
  const child = await holder(state, ['unshare', '--pid', '--fork', '--kill-child'])
  t.teardown(() => void child.kill('SIGKILL'))
  const recorded = JSON.parse(readFileSync(lockPathOf(state), 'utf8'))
  t.equal(recorded.pid, 1, 'the holder is pid 1 in its namespace')
  t.not(recorded.pidNs, readlinkSync('/proc/self/ns/pid'), 'and records another namespace')
  t.match(recorded.socket, /^state\.json\.lock\.[0-9a-f]+\.sock$/)
  await t.rejects(StateLock.acquire(state), { code: 'ERR_LOCKED', details: { pid: 1, command: 'hold-lock' } }, 'alive: refused')
  child.kill('SIGKILL') // --kill-child: the holder dies with it
  await exited(child)
  // The holder dies a moment after unshare; the lock is taken as soon as its socket refuses.
  let lock: StateLock | null = null
  for (let i = 0; i < 200 && lock === null; i++) {
    lock = await StateLock.acquire(state).catch(async (err: { code?: string }) => {
      if (err.code !== 'ERR_LOCKED') throw err
      await sleep(50)
      return null
    })
  }
  t.ok(lock, 'dead (its socket refuses): taken over')
  t.notOk(existsSync(join(dir, recorded.socket)), "the dead holder's socket file is removed")
  await lock?.release()
  t.same(readdirSync(dir), [], 'released: no lock, no socket left')
})

t.test('another PID namespace: refused unless its socket proves the holder dead', async (t) => {
  // A short directory: the test's own socket must fit a socket address (the lock itself copes with long paths).
  const dir = mkdtempSync(join(tmpdir(), 'lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const state = join(dir, 'state.json')
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
  const other = {
    format: 'logdaemon-lock',
    pid: Number(gone.stdout), // no such process here: in its own namespace it may well run
    host: hostname(),
    bootId: null,
    started: null,
    pidNs: 'pid:[1]',
    socket: null,
    command: 'logdaemon',
    since: 'then',
    nonce: 'n',
  }
  writeFileSync(lockPathOf(state), JSON.stringify(other))
  if (!existsSync('/proc/self/ns/pid')) {
    t.comment('no /proc here: namespaces are not known, the pid decides')
    return
  }
  await t.rejects(
    StateLock.acquire(state),
    { code: 'ERR_LOCKED', message: /another PID namespace.*remove .*state\.json\.lock/ },
    'no socket: cannot be proven dead',
  )
  const sock = 'state.json.lock.abc.sock'
  const server = createServer((s) => s.destroy())
  await new Promise<void>((resolve) => server.listen(join(dir, sock), resolve))
  writeFileSync(lockPathOf(state), JSON.stringify({ ...other, socket: sock }))
  await t.rejects(StateLock.acquire(state), { code: 'ERR_LOCKED' }, 'its socket answers: alive')
  await new Promise<void>((resolve) => server.close(() => resolve()))
  writeFileSync(lockPathOf(state), JSON.stringify({ ...other, socket: 'state.json.lock.gone.sock' }))
  const lock = await StateLock.acquire(state)
  t.pass('its socket is gone: dead, taken over')
  await lock.release()
  writeFileSync(lockPathOf(state), JSON.stringify({ ...other, socket: '../elsewhere.sock' }))
  await t.rejects(StateLock.acquire(state), { code: 'ERR_LOCKED' }, 'a socket outside the lock directory is not asked')
})

t.test('a FIFO or a directory at the lock path fails at once with ERR_LOCKED naming it', async (t) => {
  const dir = t.testdir()
  const state = join(dir, 'state.json')
  mkdirSync(lockPathOf(state))
  await t.rejects(StateLock.acquire(state), { code: 'ERR_LOCKED', details: { lock: lockPathOf(state) }, message: /state\.json\.lock, but it is a directory/ })
  const fifoState = join(dir, 'fifo.json')
  const made = spawnSync('mkfifo', [lockPathOf(fifoState)])
  if (made.status !== 0) {
    t.comment('skipped: no mkfifo here')
    return
  }
  // Before the fix, opening the FIFO to read it waited for a writer forever.
  await t.rejects(StateLock.acquire(fifoState), { code: 'ERR_LOCKED', message: /fifo\.json\.lock, but it is a FIFO/ })
  t.same(readdirSync(dir).sort(), ['fifo.json.lock', 'state.json.lock'], 'left alone, no socket or temporary file left')
})

t.test('a socket at the lock path (it cannot even be opened) is refused, naming it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lock-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const state = join(dir, 's.json')
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(lockPathOf(state), resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  await t.rejects(StateLock.acquire(state), { code: 'ERR_LOCKED', message: /s\.json\.lock, but it is a socket, not a lock file/ })
})

t.test('taken, the lock removes what killed writers left beside the state and the lock: old temporary files and beacon sockets only', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'logdaemon-stale-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const state = join(dir, 'st.json')
  const lock = lockPathOf(state)
  const old = Date.now() / 1000 - 3600
  const oldTemp = join(dir, `.st.json.${'a1'.repeat(12)}.tmp`)
  const newTemp = join(dir, `.st.json.${'b2'.repeat(12)}.tmp`)
  const oldLockTemp = join(dir, `.${lockPathOf('st.json')}.${'c3'.repeat(12)}.tmp`)
  const other = join(dir, `.other.json.${'d4'.repeat(12)}.tmp`)
  const notTemp = join(dir, '.st.json.keep.tmp')
  for (const f of [oldTemp, newTemp, oldLockTemp, other, notTemp]) writeFileSync(f, '')
  for (const f of [oldTemp, oldLockTemp, other, notTemp]) utimesSync(f, old, old)
  // A beacon socket left by a holder killed with kill -9, and a fresh one (a contender at work).
  const sock = (name: string) =>
    new Promise<ReturnType<typeof createServer>>((resolve) => {
      const s = createServer()
      s.listen(join(dir, name), () => resolve(s))
    })
  const oldName = `${lock.split('/').pop()}.${'e5'.repeat(6)}.sock`
  const newName = `${lock.split('/').pop()}.${'f6'.repeat(6)}.sock`
  const a = await sock(oldName)
  const b = await sock(newName)
  t.teardown(() => {
    a.close()
    b.close()
  })
  // Their files as a killed holder leaves them; the old one dated back.
  utimesSync(join(dir, oldName), old, old)
  const held = await StateLock.acquire(state)
  t.teardown(() => held.release())
  const left = readdirSync(dir)
  t.notOk(left.includes(oldTemp.split('/').pop() as string), 'an old temporary file of the state is removed')
  t.notOk(left.includes(oldLockTemp.split('/').pop() as string), 'an old temporary file of the lock is removed')
  t.notOk(left.includes(oldName), 'an old beacon socket is removed')
  t.ok(left.includes(newTemp.split('/').pop() as string), 'a young temporary file is kept (a writer may be at work)')
  t.ok(left.includes(newName), 'a young beacon socket is kept')
  t.ok(left.includes(other.split('/').pop() as string), "another file's temporary file is kept")
  t.ok(left.includes('.st.json.keep.tmp'), 'a name of another shape is kept')
})
