import t from 'tap'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { main } from '../../lib/cli/logdaemon.js'
import type { CliIO as MainIO } from '../../lib/cli/command.js'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import { fakeIO } from '../helpers/stdio.js'
import { tick } from '../helpers/entries.js'

function io(extra: Partial<MainIO> = {}) {
  const f = fakeIO()
  return { ...f, io: { stdout: f.io.stdout, stderr: f.io.stderr, ...extra } as MainIO }
}

t.test('--help lists the commands; COMMAND --help their options and examples; --version', async (t) => {
  const f = io()
  t.equal(await main(['--help'], f.io), 0)
  const help = f.stdout().toString()
  t.match(help, /^Usage: logdaemon <init\|check\|run\|verify\|demo\|schema\|sql[|>]/)
  for (const c of ['init', 'check', 'run', 'verify', 'demo', 'schema', 'sql']) t.match(help, new RegExp(`\n  ${c} +\\S`), `lists ${c}`)
  t.match(help, /init +write a commented starting configuration/)
  const perCommand: Record<string, string[]> = {
    init: ['--config FILE', '--root DIR', '--prefix PREFIX', '--force'],
    check: ['--config FILE'],
    run: ['--config FILE', '--log-level LEVEL'],
    demo: ['--port N', '--keep', '--log-level LEVEL'],
  }
  for (const [command, options] of Object.entries(perCommand)) {
    for (const argv of [
      [command, '--help'],
      ['-h', command],
    ]) {
      const c = io()
      t.equal(await main(argv, c.io), 0, argv.join(' '))
      const text = c.stdout().toString()
      t.match(text, new RegExp(`^Usage: logdaemon ${command}`))
      for (const opt of [...options, '--help']) t.match(text, opt, `${command} --help shows ${opt}`)
      t.match(text, /\nExamples:\n {2}# .+\n {2}(\S+=\S+ )?logdaemon /, `${command} --help has examples`)
    }
  }
  const before = io()
  t.equal(await main(['-c', 'x.mjs', 'check', '--help'], before.io), 0, 'options may come before the command')
  t.match(before.stdout().toString(), /^Usage: logdaemon check/)
  const init = io()
  await main(['init', '--help'], init.io)
  t.notMatch(init.stdout().toString(), '--port', 'init --help shows only its own options')
  const v = io()
  t.equal(await main(['-V'], v.io), 0)
  t.match(v.stdout().toString(), /^logdaemon \d+\.\d+\.\d+/)
})

t.test('usage errors exit 2 with one logdaemon: line and where to look', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /^logdaemon: a command is required\nTry 'logdaemon --help'\.\n$/],
    [['start'], /^logdaemon: unknown command "start"\nTry 'logdaemon --help'\.\n$/],
    [['chek'], /^logdaemon: unknown command "chek" \(did you mean check\?\)\n/],
    [['--colour'], /^logdaemon: Unknown option '--colour'\nTry 'logdaemon --help'\.\n$/],
    [['check', 'extra'], /^logdaemon: unexpected argument "extra"\nTry 'logdaemon check --help'\.\n$/],
    [['check', '--colour'], /^logdaemon: Unknown option '--colour'\nTry 'logdaemon check --help'\.\n$/],
    [['check', '--confg', 'x'], /^logdaemon: Unknown option '--confg' \(did you mean --config\?\)\nTry 'logdaemon check --help'\.\n$/],
    [['run', '--log-levl', 'debug'], /did you mean --log-level\?/],
    [['run', '--log-level', 'loud'], /^logdaemon: --log-level must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)\n/],
    [['init', '--port', '1'], /^logdaemon: Unknown option '--port'\nTry 'logdaemon init --help'\.\n$/],
  ]
  for (const [argv, want] of cases) {
    const f = io()
    t.equal(await main(argv, f.io), 2, argv.join(' '))
    t.match(f.stderr(), want, argv.join(' '))
  }
  const f = io({ env: {} })
  t.equal(await main(['init', '-c', '/nonexistent/x.mjs'], f.io), 2, 'init without P4ROOT')
  t.match(f.stderr(), /^logdaemon: P4ROOT is not set/)
  const p = io()
  t.equal(await main(['demo', '--port', 'x'], p.io), 2)
  const e = io({ env: { LOGDAEMON_LOG_LEVEL: 'chatty' } })
  t.equal(await main(['run', '-c', '/nonexistent/x.mjs'], e.io), 2, 'a bad LOGDAEMON_LOG_LEVEL is a usage error')
  t.match(e.stderr(), /^logdaemon: LOGDAEMON_LOG_LEVEL must be one of/)
})

t.test('init writes the configuration, check reads it; refusing to overwrite exits 1', async (t) => {
  const dir = t.testdir({ root: { 'checkpoint.3': '', 'journal.3': '', journal: '' } })
  const file = join(dir, 'ld.mjs')
  const init = io({ env: { P4ROOT: join(dir, 'root') } })
  t.equal(await main(['init', '--config', file], init.io), 0)
  t.match(init.stdout().toString(), new RegExp(`^wrote ${file} for the server root ${join(dir, 'root')} \\(from: 3\\)`))
  t.ok(existsSync(file))
  const again = io({ env: { P4ROOT: join(dir, 'root') } })
  t.equal(await main(['init', '--config', file], again.io), 1)
  t.match(again.stderr(), /^logdaemon: .* exists: it was left as it is\. Pass --force/)
  const check = io()
  t.equal(await main(['check', '-c', file], check.io), 0)
  t.match(check.stdout().toString(), /is valid\.[^]*journal\.3 +plain/)
})

t.test('check: problems exit 1; an invalid or missing configuration exits 1 naming the keys', async (t) => {
  const dir = t.testdir({
    'gap.json': JSON.stringify({ server: { root: 'root' }, from: 1, listeners: [{ type: 'print' }] }),
    'bad.json': JSON.stringify({ server: { root: 'root', jornal: 'x' }, listeners: [{ type: 'mirror' }] }),
    root: { 'journal.1': '', 'journal.3': '', journal: '' },
  })
  const gap = io()
  t.equal(await main(['check', '-c', join(dir, 'gap.json')], gap.io), 1)
  t.match(gap.stdout().toString(), /problems that would stop the daemon:\n {2}- journal 2 is missing/)
  const bad = io()
  t.equal(await main(['check', '-c', join(dir, 'bad.json')], bad.io), 1)
  t.match(bad.stderr(), /^logdaemon: .*bad\.json is invalid:\n {2}server\.jornal: unknown key\n {2}listeners\[0\]\.options\.dir: missing \(expected string\)/)
  const missing = io()
  t.equal(await main(['check', '-c', join(dir, 'none.json')], missing.io), 1)
  t.match(missing.stderr(), /does not exist: write one with 'logdaemon init'/)
})

t.test('run: reads until the stop signal, then exits 0; a start that fails exits 1', async (t) => {
  const dir = t.testdir()
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 11 })
  for (let i = 0; i < 10; i++) await sim.appendTransaction()
  await sim.close()
  const file = join(dir, 'c.json')
  writeFileSync(
    file,
    JSON.stringify({
      server: { root: 'root' },
      from: 1,
      status: false,
      log: { level: 'info', file: 'daemon.log' },
      listeners: [{ type: 'mirror', options: { dir: 'mirror', fsync: false } }],
    }),
  )
  const stop = new AbortController()
  const f = io({ signal: stop.signal })
  const running = main(['run', '-c', file], f.io)
  const size = sim.journalBytes(1).length
  while (!existsSync(join(dir, 'mirror', 'journal.1')) || readFileSync(join(dir, 'mirror', 'journal.1')).length < size) await tick(20)
  stop.abort()
  t.equal(await running, 0)
  t.ok(readFileSync(join(dir, 'mirror', 'journal.1')).equals(sim.journalBytes(1)))
  const log = readFileSync(join(dir, 'daemon.log'), 'utf8')
  t.match(log, /"msg":"reading from 1\/0 \(from\)"/)
  t.match(log, /"msg":"stopped at 1\/\d+"/)
  t.equal(f.stderr(), '')

  writeFileSync(file, JSON.stringify({ server: { root: 'elsewhere' }, state: 'other.json', status: false, listeners: [{ type: 'print' }] }))
  const nostart = io({ signal: new AbortController().signal })
  t.equal(await main(['run', '-c', file], nostart.io), 1)
  t.match(nostart.stderr(), /^logdaemon: no saved state and no start point/)

  // With a log file, the reason is there too: it said only "exiting with code 1", which in a log shared with a running
  // daemon (a second one refused with ERR_LOCKED) was a line without an explanation (a probe).
  writeFileSync(
    file,
    JSON.stringify({ server: { root: 'elsewhere' }, state: 'other.json', status: false, log: { file: 'start.log' }, listeners: [{ type: 'print' }] }),
  )
  const logged = io({ signal: new AbortController().signal })
  t.equal(await main(['run', '-c', file], logged.io), 1)
  const lines = readFileSync(join(dir, 'start.log'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { msg: string; code?: string; level: number })
  const reason = lines.find((l) => /no saved state and no start point/.test(l.msg))
  t.ok(reason, `the log file says why the start failed: ${JSON.stringify(lines.map((l) => l.msg))}`)
  t.equal(reason?.code, 'ERR_NO_START')
  t.match(lines.at(-1)?.msg, /exiting with code 1/, 'then the exit line')
  t.match(logged.stderr(), /^logdaemon: no saved state and no start point/, 'stderr still says it')
})

t.test('demo: runs until stopped, says where the status page is, and that the mirror is identical', async (t) => {
  const stop = new AbortController()
  const f = io({ signal: stop.signal })
  const running = main(['demo', '--port', '0'], f.io)
  while (!/status page: http/.test(f.stderr())) await tick(20)
  await tick(700)
  stop.abort()
  t.equal(await running, 0)
  t.match(f.stderr(), /logdaemon demo: status page: http:\/\/127\.0\.0\.1:\d+\//)
  t.match(f.stderr(), /mirror byte-identical to the journals: yes/)
  const dir = /server root (\S+)\/root/.exec(f.stderr())?.[1]
  t.notOk(dir && existsSync(dir), 'the temporary root is removed')
})

t.test('demo without --port: a free port when the default one is taken, as its help says (it failed with ERR_ADDRESS_IN_USE)', async (t) => {
  const { createServer } = await import('node:net')
  const { DEFAULT_STATUS_PORT } = await import('../../lib/daemon/config.js')
  // Taken here, unless something else holds it already: taken either way.
  const holder = createServer()
  await new Promise<void>((resolve) => {
    holder.once('error', () => resolve())
    holder.listen(DEFAULT_STATUS_PORT, '127.0.0.1', () => resolve())
  })
  t.teardown(() => new Promise<void>((resolve) => (holder.listening ? holder.close(() => resolve()) : resolve())))
  const stop = new AbortController()
  const f = io({ signal: stop.signal })
  const running = main(['demo'], f.io)
  while (!/status page: http|logdaemon: /.test(f.stderr())) await tick(20)
  stop.abort()
  t.equal(await running, 0, f.stderr())
  const port = Number(/status page: http:\/\/127\.0\.0\.1:(\d+)\//.exec(f.stderr())?.[1])
  t.ok(port > 0 && port !== DEFAULT_STATUS_PORT, `another port (${port})`)
})

t.test("demo: the mirror's journals take the server journal's mode, as under run (they were 0600)", async (t) => {
  const { readdirSync, rmSync, statSync } = await import('node:fs')
  const stop = new AbortController()
  const f = io({ signal: stop.signal })
  const running = main(['demo', '--port', '0', '--keep'], f.io)
  while (!/status page: http/.test(f.stderr())) await tick(20)
  await tick(700)
  stop.abort()
  t.equal(await running, 0)
  const dir = /server root (\S+)\/root/.exec(f.stderr())?.[1] as string
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const live = statSync(join(dir, 'root', 'journal')).mode & 0o777
  const mirrored = readdirSync(join(dir, 'mirror')).filter((n) => /^journal\.\d+$/.test(n))
  t.ok(mirrored.length > 0, 'the mirror has journals')
  for (const n of mirrored) t.equal((statSync(join(dir, 'mirror', n)).mode & 0o777).toString(8), live.toString(8), n)
})
