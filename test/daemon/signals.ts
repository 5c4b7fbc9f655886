import t from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { transactions, tick } from '../helpers/entries.js'

/**
 * `logdaemon run` and the process: a listener that never settles, a second
 * signal, SIGHUP, process.exit from a listener. Every exit has a log line
 * and a documented code (docs/operations.md).
 */

const BIN = fileURLToPath(new URL('../../dist/bin/logdaemon.js', import.meta.url))
const binSkip = existsSync(BIN) ? false : `built bin missing at ${BIN}: run npm run build`

/** A listener module: `mode` hang (listen never settles, holds no handle), exit (calls process.exit(7)), refuse (open always fails), or ok. */
const LISTENER = `
export default function create(options) {
  let n = 0
  return {
    name: 'test',
    open() {
      if (options.mode === 'refuse') return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:1'))
    },
    isHandled: () => true,
    listen() {
      n++
      if (n === 1) process.stderr.write('listen called\\n')
      if (options.mode === 'hang') return new Promise(() => {})
      if (options.mode === 'exit' && n === 3) process.exit(7)
    },
    noData() {},
    close() {},
  }
}
`

interface Run {
  child: ChildProcess
  exited: Promise<number | null>
  stderr: () => string
  /** Resolves once the log (stderr, or `logFile`) has a line whose msg matches. */
  logged: (re: RegExp, logFile?: string) => Promise<void>
}

function setup(dir: string, mode: string, extra: Record<string, unknown> = {}): string {
  mkdirSync(join(dir, 'root'), { recursive: true })
  writeFileSync(join(dir, 'root', 'journal'), transactions(5, 1).bytes)
  writeFileSync(join(dir, 'listener.mjs'), LISTENER)
  const config = join(dir, 'logdaemon.json')
  writeFileSync(
    config,
    JSON.stringify({
      server: { root: 'root' },
      from: 1,
      quietMs: 100,
      status: false,
      listeners: [{ type: 'module', module: './listener.mjs', name: 'test', options: { mode } }],
      ...extra,
    }),
  )
  return config
}

function run(config: string, dir: string): Run {
  const child = spawn(process.execPath, [BIN, 'run', '-c', config], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  const logged = async (re: RegExp, logFile?: string): Promise<void> => {
    for (;;) {
      const text = logFile ? (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '') : err
      if (messages(text).some((m) => re.test(m))) return
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited ${child.exitCode ?? child.signalCode} before logging ${re}:\n${err}`)
      await tick(20)
    }
  }
  return { child, exited, stderr: () => err, logged }
}

/** The `msg` of each pino line (and the plain `logdaemon: …` lines as they are). */
function messages(text: string): string[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return String((JSON.parse(l) as { msg?: unknown }).msg)
      } catch {
        return l
      }
    })
}

t.test(
  'a listener that never settles, status page off: no silent exit 13; SIGTERM ends after stopTimeoutMs with exit 1 and says what it waited on',
  { skip: binSkip },
  async (t) => {
    const dir = t.testdir()
    const r = run(setup(dir, 'hang', { stopTimeoutMs: 500 }), dir)
    await r.logged(/^listen called$/)
    // Before the fix Node ended here with code 13 (an unsettled top-level await): the process had nothing to wait on.
    await tick(300)
    t.equal(r.child.exitCode, null, 'still running while the listener hangs')
    r.child.kill('SIGTERM')
    t.equal(await r.exited, 1)
    const msgs = messages(r.stderr())
    t.ok(
      msgs.some((m) => /^SIGTERM: stopping gracefully/.test(m)),
      'the signal is logged',
    )
    t.ok(
      msgs.some((m) => /stop did not finish within stopTimeoutMs \(500 ms\): waited on listener "test" in listen \(entry at 1\/0\)/.test(m)),
      'says which listener call it waited on',
    )
    t.equal(msgs.at(-1), 'exiting with code 1', 'the last line says the exit code')
  },
)

t.test('a second SIGTERM exits at once with 1, logged', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const r = run(setup(dir, 'hang', { stopTimeoutMs: 3_600_000 }), dir)
  await r.logged(/^listen called$/)
  r.child.kill('SIGTERM')
  await r.logged(/^SIGTERM: stopping gracefully/)
  r.child.kill('SIGTERM')
  t.equal(await r.exited, 1)
  const msgs = messages(r.stderr())
  t.ok(msgs.some((m) => /^SIGTERM again: stopping at once/.test(m)))
  t.ok(msgs.some((m) => /stopped at once by a second signal while waiting on listener "test" in listen/.test(m)))
  t.equal(msgs.at(-1), 'exiting with code 1')
})

t.test('SIGTERM while an open is being retried: the retries end, exit 0 at once, a warning that the listener never opened', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  // An hour between attempts: before the fix the stop waited on them and exited 1 with ERR_STOP_TIMEOUT after stopTimeoutMs.
  const r = run(setup(dir, 'refuse', { retry: { minTimeout: 3_600_000, maxTimeout: 3_600_000 }, stopTimeoutMs: 20_000 }), dir)
  await r.logged(/^listener test failed in open; retrying$/)
  const from = Date.now()
  r.child.kill('SIGTERM')
  t.equal(await r.exited, 0)
  const ms = Date.now() - from
  t.ok(ms < 10_000, `exited ${ms} ms after the signal`)
  const msgs = messages(r.stderr())
  t.ok(
    msgs.some((m) =>
      /^listener "test" never opened: the daemon is stopping; open failed once \(the last: connect ECONNREFUSED 127\.0\.0\.1:1\) and is not retried\./.test(m),
    ),
    'the warning names the listener and its last error',
  )
  t.notOk(
    msgs.some((m) => /stopTimeoutMs/.test(m)),
    'no stop timeout',
  )
  t.equal(msgs.at(-1), 'exiting with code 0')
  t.same(
    readdirSync(dir).filter((f) => /\.lock|\.sock$/.test(f)),
    [],
    'the state lock and its socket are released',
  )
})

t.test('process.exit from a listener is logged with its caller', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const r = run(setup(dir, 'exit'), dir)
  t.equal(await r.exited, 7, 'the code the listener chose')
  const lines = r
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { msg: string; stack?: string; exitCode?: number })
  const line = lines.find((l) => /^process\.exit\(7\) was called while the daemon was running/.test(l.msg))
  t.ok(line, 'logged')
  t.match(line?.stack, /listener\.mjs/, 'with the stack that names the listener module')
})

t.test('SIGHUP reopens log.file (logrotate) and does not stop the daemon; without log.file it is logged and ignored', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const log = join(dir, 'logs', 'logdaemon.log')
  const r = run(setup(dir, 'ok', { log: { level: 'info', file: 'logs/logdaemon.log' } }), dir)
  await r.logged(/^reading from 1\/0/, log)
  renameSync(log, `${log}.1`) // what logrotate does
  r.child.kill('SIGHUP')
  await r.logged(/^SIGHUP: log file reopened$/, log)
  t.equal(r.child.exitCode, null, 'still running')
  t.match(readFileSync(`${log}.1`, 'utf8'), /reading from 1\/0/, 'the old lines stay in the rotated file')
  r.child.kill('SIGTERM')
  t.equal(await r.exited, 0)
  t.match(readFileSync(log, 'utf8'), /"msg":"exiting with code 0"/, 'and the later lines go to the new file')

  const dir2 = join(dir, 'no-log-file')
  mkdirSync(dir2)
  const r2 = run(setup(dir2, 'ok'), dir2)
  await r2.logged(/^reading from 1\/0/)
  r2.child.kill('SIGHUP')
  await r2.logged(/^SIGHUP: no log file to reopen/)
  t.equal(r2.child.exitCode, null, 'still running')
  r2.child.kill('SIGTERM')
  t.equal(await r2.exited, 0)
})

t.test('SIGUSR1 and SIGUSR2 are logged and ignored: no inspector opens, the daemon does not die', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const r = run(setup(dir, 'ok'), dir)
  await r.logged(/^reading from 1\/0/)
  r.child.kill('SIGUSR1')
  await r.logged(/^SIGUSR1: ignored/)
  r.child.kill('SIGUSR2')
  await r.logged(/^SIGUSR2: ignored/)
  t.equal(r.child.exitCode, null, 'still running')
  t.notMatch(r.stderr(), /Debugger listening/, 'no inspector')
  r.child.kill('SIGTERM')
  t.equal(await r.exited, 0)
})

/** A JS configuration that says when it starts loading and then takes `ms` (a slow import, a secret fetched at start). */
function slowConfig(dir: string, ms: number): string {
  const json = setup(dir, 'ok')
  const file = join(dir, 'slow.mjs')
  writeFileSync(
    file,
    `process.stderr.write('config loading\\n')\nawait new Promise((r) => setTimeout(r, ${ms}))\nexport default ${readFileSync(json, 'utf8')}\n`,
  )
  return file
}

/**
 * Spawns the bin with a module hook that holds the loading of
 * lib/cli/logdaemon.js (the bin's main module graph) for `ms`, after
 * writing `marker`: a window in which the bin has started and its modules
 * are loading, as they do for 0.2-0.4 s on every start.
 */
function slowModules(dir: string, args: string[], ms: number): { child: ChildProcess; loading: Promise<void>; stderr: () => string } {
  const marker = join(dir, 'modules-loading')
  writeFileSync(
    join(dir, 'hooks.mjs'),
    `import { writeFileSync } from 'node:fs'\nexport async function load(url, context, next) {\n  if (url.endsWith('/lib/cli/logdaemon.js')) {\n    writeFileSync(${JSON.stringify(marker)}, '')\n    await new Promise((r) => setTimeout(r, ${ms}))\n  }\n  return next(url, context)\n}\n`,
  )
  writeFileSync(join(dir, 'register.mjs'), `import { register } from 'node:module'\nregister(new URL('./hooks.mjs', import.meta.url))\n`)
  // Without tap's process-info module, which it passes to every child it can (NODE_OPTIONS, and spawn itself): it listens for
  // SIGTERM in the child too (signal-exit), so a re-raised signal would meet a listener, not the default.
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, '--import', pathToFileURL(join(dir, 'register.mjs')).href, BIN, ...args], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let err = ''
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()))
  const loading = (async () => {
    while (!existsSync(marker)) await tick(10)
  })()
  return { child, loading, stderr: () => err }
}

const exitOf = (child: ChildProcess): Promise<{ code: number | null; signal: string | null }> =>
  new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))

t.test('SIGTERM while run loads its modules: exit 0 at once, said (it was 143)', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const config = setup(dir, 'ok')
  const r = slowModules(dir, ['run', '-c', config], 800)
  await r.loading
  r.child.kill('SIGTERM')
  t.same(await exitOf(r.child), { code: 0, signal: null }, 'exit 0, not death by the signal')
  t.match(r.stderr(), 'logdaemon: SIGTERM while starting: exiting with code 0 (nothing was started)')
  t.notMatch(r.stderr(), /listen called/, 'nothing was started: no entry reached the listener')
})

t.test(
  'SIGTERM while run loads a JS configuration that takes minutes: exit 0 at once (a review: it was held until the configuration loaded)',
  { skip: binSkip },
  async (t) => {
    const dir = t.testdir()
    const r = run(slowConfig(dir, 600_000), dir)
    await r.logged(/^config loading$/)
    const t0 = Date.now()
    r.child.kill('SIGTERM')
    t.equal(await r.exited, 0, 'exit 0, not death by the signal')
    t.ok(Date.now() - t0 < 5_000, `at once (${Date.now() - t0} ms), not when the configuration is loaded`)
    t.match(r.stderr(), 'logdaemon: SIGTERM while starting: exiting with code 0 (nothing was started)')
  },
)

t.test(
  'SIGHUP, SIGUSR1 and SIGUSR2 while logdaemon starts: taken once it listens, none ends it (logrotate at the wrong moment made it 129)',
  { skip: binSkip },
  async (t) => {
    const dir = t.testdir()
    const r = run(slowConfig(dir, 600), dir)
    await r.logged(/^config loading$/)
    for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) r.child.kill(sig)
    await r.logged(/^reading from 1\/0/)
    await r.logged(/^SIGUSR2: ignored/)
    t.equal(r.child.exitCode, null, 'still running')
    const msgs = messages(r.stderr())
    for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGUSR2']) t.ok(msgs.includes(`${sig} came while logdaemon was starting`), `${sig} logged`)
    t.notMatch(r.stderr(), /Debugger listening/, 'no inspector')
    r.child.kill('SIGTERM')
    t.equal(await r.exited, 0)
  },
)

t.test('other commands end by a signal that came while they loaded, as before; SIGUSR1 is ignored', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const config = setup(dir, 'ok')
  const r = slowModules(dir, ['check', '-c', config], 800)
  await r.loading
  r.child.kill('SIGUSR1')
  r.child.kill('SIGTERM')
  t.same(await exitOf(r.child), { code: null, signal: 'SIGTERM' }, 'check ends by SIGTERM')
  t.notMatch(r.stderr(), /Debugger listening/, 'no inspector')
})

t.test('a configuration module that never settles: ERR_CONFIG_INVALID and exit 1 (Node exited 13 without a word)', { skip: binSkip }, async (t) => {
  const dir = t.testdir({
    'tla.mjs': 'await new Promise(() => {})\nexport default {}\n',
    'fn.mjs': 'export default () => new Promise(() => {})\n',
  })
  for (const [file, what] of [
    ['tla.mjs', 'a top-level await in it never settles'],
    ['fn.mjs', 'the promise its default export returned never settles'],
  ] as const) {
    for (const command of ['run', 'check']) {
      const child = spawn(process.execPath, [BIN, command, '-c', file], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
      let err = ''
      child.stderr?.on('data', (c: Buffer) => (err += c.toString()))
      const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
      t.equal(code, 1, `${command} ${file}: exit 1`)
      t.match(err, `never finished loading: ${what}`, `${command} ${file}: says why`)
      t.match(err, '[ERR_CONFIG_INVALID]')
    }
  }
})

/** A config whose one listener is the module `source` (written as listener.mjs). */
function withListener(dir: string, source: string): string {
  const config = setup(dir, 'ok')
  writeFileSync(join(dir, 'listener.mjs'), source)
  return config
}

t.test(
  'SIGTERM while a listener factory is still running: stopped at once, exit 0 (it was logged and did nothing until the factory ended)',
  { skip: binSkip },
  async (t) => {
    const dir = t.testdir()
    const config = withListener(
      dir,
      `export default async () => {\n  process.stderr.write('factory running\\n')\n  await new Promise((r) => setTimeout(r, 600_000))\n  return { name: 'test', isHandled: () => true, listen() {} }\n}\n`,
    )
    const r = run(config, dir)
    await r.logged(/^factory running$/)
    const t0 = Date.now()
    r.child.kill('SIGTERM')
    t.equal(await r.exited, 0)
    t.ok(Date.now() - t0 < 5_000, `at once (${Date.now() - t0} ms)`)
    const msgs = messages(r.stderr())
    t.ok(msgs.includes('stopped while creating the listeners: nothing was read'), 'says so')
    t.equal(msgs.at(-1), 'exiting with code 0')
  },
)

t.test('a listener module or factory that never settles: ERR_LISTENER_LOAD, exit 1 (Node exited 13 without a word)', { skip: binSkip }, async (t) => {
  for (const [source, what] of [
    [
      'await new Promise(() => {})\nexport default () => ({ isHandled: () => true, listen() {} })\n',
      'never finished loading: a top-level await in it never settles',
    ],
    ['export default () => new Promise(() => {})\n', 'never created the listener "test": the promise its factory returned never settles'],
  ] as const) {
    const dir = t.testdir()
    const r = run(withListener(dir, source), dir)
    t.equal(await r.exited, 1, what)
    t.match(r.stderr(), what)
    t.match(r.stderr(), '[ERR_LISTENER_LOAD]')
  }
})

t.test('a listener that keeps a timer or socket open does not keep the process after "exiting with code 0"', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const config = withListener(dir, `export default () => { setInterval(() => {}, 1000); return { name: 'test', isHandled: () => true, listen() {} } }\n`)
  const r = run(config, dir)
  await r.logged(/^reading from 1\/0/)
  r.child.kill('SIGTERM')
  await r.logged(/^exiting with code 0$/)
  const t0 = Date.now()
  t.equal(await r.exited, 0)
  t.ok(Date.now() - t0 < 5_000, `it exits (${Date.now() - t0} ms after the line)`)
})

t.test('a stray rejection in a JS configuration: reported without its message or source line (they may hold a secret)', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const json = setup(dir, 'ok')
  const file = join(dir, 'leaky.mjs')
  writeFileSync(file, `const password = "hunter2"\nPromise.reject(new Error('refused for ' + password))\nexport default ${readFileSync(json, 'utf8')}\n`)
  for (const command of ['run', 'check']) {
    const child = spawn(process.execPath, [BIN, command, '-c', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()))
    const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)))
    t.equal(code, 1, `${command}: exit 1`)
    t.notMatch(out, /hunter2/, `${command}: neither the message nor the line`)
    t.match(out, /unhandled rejection/, `${command}: says what happened`)
    t.match(out, 'leaky.mjs:2', `${command}: and where`)
  }
})
