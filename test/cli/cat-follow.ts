import t from 'tap'
import { spawn } from 'node:child_process'
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { main } from '../../lib/cli/cat.js'
import { EarlySignals } from '../../lib/cli/early-signals.js'
import { readState } from '../../lib/files/state-file.js'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import { until } from '../helpers/follow.js'
import { fakeIO } from '../helpers/stdio.js'
import { BIN_TS, tsNodeArgs, tsNodeEnv } from '../helpers/spawn-ts.js'

async function server(root: string, journals = 3): Promise<SimulatedP4d> {
  const sim = new SimulatedP4d({ root, seed: 77, startJournal: 10 })
  for (let n = 0; n < journals; n++) {
    for (let i = 0; i < 15; i++) await sim.appendTransaction()
    if (n < journals - 1) await sim.rotate(n % 2 ? 'copy-truncate' : 'rename-gzip')
  }
  await sim.idle()
  return sim
}

function allBytes(sim: SimulatedP4d, from = 10): Buffer {
  return Buffer.concat(sim.journals.filter((n) => n >= from).map((n) => sim.journalBytes(n)))
}

t.test('--follow prints the chain, then the live journal as it grows; a stop saves the state and exits 0', async (t) => {
  const root = t.testdir()
  const sim = await server(root)
  const state = join(root, 'cat.state')
  const f = fakeIO()
  const stop = new AbortController()
  const code = main(['--follow', '--root', root, '--from', '10', '--state', state], { ...f.io, signal: stop.signal })
  await until(() => f.stdout().length === allBytes(sim).length)
  await sim.appendTransaction()
  await sim.rotate('rename')
  await sim.appendTransaction()
  await until(() => f.stdout().length === allBytes(sim).length)
  stop.abort()
  t.equal(await code, 0)
  t.ok(f.stdout().equals(allBytes(sim)), 'every byte of every journal, in order')
  t.equal(f.stderr(), '')
  const saved = await readState(state)
  t.same([saved?.journal, saved?.offset], [sim.currentJournal, sim.liveSize], 'the position after the last record written')
  // A restart prints what came since.
  await sim.appendTransaction()
  const g = fakeIO()
  const stop2 = new AbortController()
  const again = main(['--follow', '--root', root, '--state', state], { ...g.io, signal: stop2.signal })
  const last = sim.journalBytes(sim.currentJournal)
  await until(() => g.stdout().length === last.length - (saved?.offset ?? 0))
  stop2.abort()
  t.equal(await again, 0)
  t.ok(g.stdout().equals(last.subarray(saved?.offset)), 'only the new records')
  await sim.close()
})

t.test('--format json has journal on every entry; filters apply', async (t) => {
  const root = t.testdir()
  const sim = await server(root, 2)
  const f = fakeIO()
  const stop = new AbortController()
  const code = main(['--follow', '--root', root, '--from', '10', '-f', 'json', '-t', 'db.rev', '-o', 'pv'], { ...f.io, signal: stop.signal })
  const revs = () =>
    f
      .stdout()
      .toString()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { journal: number; table: string; op: string })
  const want = allBytes(sim)
    .toString('latin1')
    .split('\n')
    .filter((l) => l.startsWith('@pv@ 9 @db.rev@ ')).length
  await until(() => revs().length === want)
  stop.abort()
  t.equal(await code, 0)
  const rows = revs()
  t.ok(rows.every((r) => r.table === 'db.rev' && r.op === 'pv' && (r.journal === 10 || r.journal === 11)))
  t.same([...new Set(rows.map((r) => r.journal))], [10, 11])
  await sim.close()
})

t.test('usage errors exit 2', async (t) => {
  const cases: [string[], RegExp][] = [
    [['--follow'], /needs --root/],
    [['--follow', '--root', '/x', 'file'], /not FILE arguments/],
    [['--follow', '--root', '/x', '--from', 'soon'], /--from must be/],
    [['--follow', '--root', '/x', '--from=-1'], /--from must be/],
    [['--follow', '--root', '/x', '--allow-incomplete'], /does not go with --follow/],
    [['--state', '/x/state', 'file'], /--state needs --follow/],
    [['--root', '/x'], /--root needs --follow/],
  ]
  for (const [argv, message] of cases) {
    const f = fakeIO()
    t.equal(await main(argv, f.io), 2, argv.join(' '))
    t.match(f.stderr(), message)
  }
})

t.test('data errors exit 1 with one line saying what to do', async (t) => {
  const root = t.testdir({ 'journal.1': '', 'journal.3': '', journal: '' })
  const f = fakeIO()
  t.equal(await main(['--follow', '--root', root, '--from', '1'], f.io), 1)
  t.match(f.stderr(), /^logdaemon-cat: journal 2 is missing .*--from 3/)
  const g = fakeIO()
  t.equal(await main(['--follow', '--root', root], g.io), 1)
  t.match(g.stderr(), /--from N .*--from end/)
})

t.test('a closed output ends following quietly with 0', async (t) => {
  const root = t.testdir()
  const sim = await server(root, 1)
  const f = fakeIO()
  const stdout = new PassThrough()
  let taken = 0
  stdout.on('data', (c: Buffer) => {
    taken += c.length
    stdout.destroy()
  })
  const code = await main(['--follow', '--root', root, '--from', '10'], { ...f.io, stdout })
  t.equal(code, 0)
  t.ok(taken > 0)
  t.equal(f.stderr(), '')
  await sim.close()
})

t.test('the real program: SIGTERM and SIGINT save the position and exit 0', async (t) => {
  const root = t.testdir()
  const sim = await server(root, 2)
  const state = join(root, 'cat.state')
  let printed = 0
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    const child = spawn(process.execPath, [...tsNodeArgs(), BIN_TS, '--follow', '--root', root, '--from', '10', '--state', state], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: tsNodeEnv(),
    })
    let out = 0
    let err = ''
    child.stdout.on('data', (c: Buffer) => (out += c.length))
    child.stderr.on('data', (c: Buffer) => (err += c))
    const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
    await sim.appendTransaction()
    // The first run prints everything; the second only what came after the first's saved end.
    const want = allBytes(sim).length - printed
    await until(() => out === want, 30_000, `${sig}: the child to print ${want} bytes`)
    printed += want
    child.kill(sig)
    t.equal(await closed, 0, `${sig}: exit 0`)
    t.equal(err, '', `${sig}: nothing on stderr`)
    const saved = await readState(state)
    t.same([saved?.journal, saved?.offset], [sim.currentJournal, sim.liveSize], `${sig}: the position after the last record printed`)
  }
  await sim.close()
})

t.test('the real program under | head: exits 0 at the next write after the reader is gone', async (t) => {
  const root = t.testdir()
  const sim = await server(root, 1)
  const args = [...tsNodeArgs(), BIN_TS, '--follow', '--root', root, '--from', '10'].map((a) => `'${a}'`).join(' ')
  const child = spawn('bash', ['-o', 'pipefail', '-c', `'${process.execPath}' ${args} | head -c 100 >/dev/null`], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: tsNodeEnv(),
  })
  let err = ''
  child.stderr.on('data', (c: Buffer) => (err += c))
  let exited = false
  const closed = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  void closed.then(() => (exited = true))
  // p4d goes on writing: the follower's next write finds the pipe closed.
  while (!exited) {
    await sim.appendTransaction()
    await new Promise((r) => setTimeout(r, 50))
  }
  t.equal(await closed, 0, 'exit 0 (pipefail: the follower too)')
  t.equal(err, '')
  await sim.close()
})

t.test('signals held while the bin loaded: a follower stops on SIGTERM before it starts (exit 0); a plain cat gets it back', async (t) => {
  const proc = Object.assign(new EventEmitter(), {
    pid: 4242,
    kills: [] as [number, string][],
    kill(pid: number, signal: string) {
      this.kills.push([pid, signal])
      return true
    },
  })
  const root = t.testdir({ journal: '@ex@ 1 2\n' })
  const state = join(root, 'cat.state')
  const early = new EarlySignals(proc as unknown as NodeJS.Process, { crashes: false })
  proc.emit('SIGTERM', 'SIGTERM')
  const f = fakeIO()
  const started = Date.now()
  t.equal(await main(['--follow', '--root', root, '--from', '0', '--state', state], { ...f.io, early }), 0, 'exit 0')
  t.ok(Date.now() - started < 5000, 'at once, without waiting at the live end')
  t.equal(f.stderr(), '')
  t.same(proc.kills, [], 'not sent again: the follower took it')
  t.equal(proc.listenerCount('SIGTERM'), 0, 'released')
  const plain = new EarlySignals(proc as unknown as NodeJS.Process, { crashes: false })
  proc.emit('SIGTERM', 'SIGTERM')
  const g = fakeIO('')
  await main(['-'], { ...g.io, early: plain })
  t.same(proc.kills, [[4242, 'SIGTERM']], 'a plain cat: sent again, to end it as it would have')
})
