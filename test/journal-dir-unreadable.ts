import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { SimulatedP4d } from '../lib/sim/simulated-p4d.js'
import { tick } from './helpers/entries.js'
import { BIN, binSkip, type DaemonExit } from './helpers/daemon-run.js'

/**
 * The server's journal directory unreadable for a few seconds (its
 * permissions changed, as a careless script or an admin may do) is waited
 * out: the daemon keeps its place, then reads on, rotations made meanwhile
 * included. An adversarial probe (a rotation storm with the root chmod 000
 * for 0.2-3 s) found the daemon exiting 1 with a bare
 * `EACCES: permission denied, stat '…/journal.1'`: no error code, no position.
 */

/** The daemon must not be root, whom permissions do not stop: as root, the test runs it as nobody (setpriv). */
function unprivileged(): { prefix: string[]; skip: string | false } {
  if (process.getuid?.() !== 0) return { prefix: [], skip: false }
  // Nobody must also reach the built daemon: a clone under a directory only root may enter (/root) cannot be run so.
  const probe = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'test', '-r', BIN])
  return probe.status === 0
    ? { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'], skip: false }
    : { prefix: [], skip: `runs as root, and nobody cannot run ${BIN} through setpriv(1): permissions would not stop the daemon` }
}

const user = unprivileged()

for (const mode of ['rename', 'copy-truncate', 'rename-gzip'] as const)
  t.test(`a journal directory unreadable for a while is waited out, a rotation (${mode}) meanwhile included`, { skip: binSkip || user.skip }, async (t) => {
    const dir = t.testdir()
    const root = join(dir, 'root')
    const sim = new SimulatedP4d({ root, seed: 5150, rotateMode: mode })
    t.teardown(() => sim.close())
    await sim.restart()
    for (let i = 0; i < 5; i++) await sim.appendTransaction()
    // The daemon's own files are in dir, which the unprivileged user may write (the test's directories are root's).
    chmodSync(dir, 0o777)
    const config = join(dir, 'logdaemon.json')
    const listeners = [{ type: 'mirror', options: { dir: 'mirror' } }]
    writeFileSync(
      config,
      JSON.stringify({
        server: { root: 'root' },
        from: 1,
        quietMs: 200,
        commitIntervalMs: 50,
        status: false,
        log: { level: 'warn', file: 'daemon.log' },
        listeners,
      }),
    )
    // A clean environment: tap's process-info hook (which it adds to every child's NODE_OPTIONS) would write under the
    // repository as the unprivileged user, and fail.
    const clean = ['env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`]
    const [cmd, ...args] = [...user.prefix, ...clean, process.execPath, BIN, 'run', '-c', config]
    const child = spawn(cmd as string, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
    const exited = new Promise<DaemonExit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
    t.teardown(() => {
      child.kill('SIGKILL')
      if (existsSync(root)) chmodSync(root, 0o755)
    })
    const mirrorOf = (n: number) => {
      const file = join(dir, 'mirror', `journal.${n}`)
      return existsSync(file) ? readFileSync(file) : Buffer.alloc(0)
    }
    const mirrored = () => sim.journals.every((n) => mirrorOf(n).equals(sim.journalBytes(n)))
    const until = async (what: string) => {
      const deadline = Date.now() + 20_000
      while (!mirrored() && child.exitCode === null && Date.now() < deadline) await tick(50)
      t.ok(mirrored(), `${what}: the mirror holds every journal${child.exitCode === null ? '' : ` (the daemon exited ${child.exitCode}: ${stderr})`}`)
    }
    await until('before')

    chmodSync(root, 0o000)
    await sim.appendTransaction()
    await (await sim.rotate()).done
    await sim.appendTransaction()
    // Longer than the cursor's poll (1 s): it looks at the directory at least twice while it cannot.
    await tick(2500)
    t.equal(child.exitCode, null, `the daemon still runs while the directory is unreadable${child.exitCode === null ? '' : `: ${stderr}`}`)
    chmodSync(root, 0o755)
    await sim.appendTransaction()
    await until('after')
    t.same(sim.journals, [1, 2], 'journal 1 rotated while unreadable')

    child.kill('SIGTERM')
    const { code } = await exited
    t.equal(code, 0, `stops cleanly on SIGTERM${code ? `: ${stderr}` : ''}`)
  })

t.test('a server root unreadable at the start: ERR_JOURNAL_UNREADABLE naming it, exit 1', { skip: binSkip || user.skip }, async (t) => {
  const dir = t.testdir({ root: { journal: '@ex@ 1 1620557182\n' } })
  const root = join(dir, 'root')
  chmodSync(dir, 0o777)
  const config = join(dir, 'logdaemon.json')
  writeFileSync(config, JSON.stringify({ server: { root: 'root' }, from: 'end', status: false, listeners: [{ type: 'print', options: {} }] }))
  chmodSync(root, 0o000)
  t.teardown(() => existsSync(root) && chmodSync(root, 0o755))
  const clean = ['env', '-i', `PATH=${process.env.PATH ?? '/usr/bin:/bin'}`]
  const [cmd, ...args] = [...user.prefix, ...clean, process.execPath, BIN, 'run', '-c', config]
  const run = spawnSync(cmd as string, args, { cwd: dir, encoding: 'utf8', timeout: 30_000 })
  t.equal(run.status, 1, 'exit 1')
  t.match(run.stderr, /\[ERR_JOURNAL_UNREADABLE\]/, `its code (stderr: ${run.stderr})`)
  t.match(run.stderr, new RegExp(`cannot read ${root.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(EACCES`), 'the directory it could not read')
})
