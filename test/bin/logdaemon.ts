// The real bins, spawned: exit codes, help, suggestions, and the logs
// (JSON lines for a collector, readable on a terminal, at the asked level).
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'

const BIN = fileURLToPath(new URL('../../dist/bin/logdaemon.js', import.meta.url))
const CAT = fileURLToPath(new URL('../../dist/bin/logdaemon-cat.js', import.meta.url))
const binSkip = existsSync(BIN) && existsSync(CAT) ? false : 'built bins missing: run npm run build'
const script = spawnSync('script', ['--version'], { encoding: 'utf8' })
const ptySkip = binSkip || (script.status === 0 ? false : 'script(1) from util-linux is missing: cannot give the bin a terminal')

const logdaemon = (args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: options.cwd, env: { ...process.env, LOGDAEMON_LOG_LEVEL: '', ...options.env } })

t.test('help, version and usage errors', { skip: binSkip }, async (t) => {
  const help = logdaemon(['--help'])
  t.equal(help.status, 0)
  t.match(help.stdout, /^Usage: logdaemon <init\|check\|run\|verify\|demo\|schema\|sql/)
  const run = logdaemon(['run', '--help'])
  t.equal(run.status, 0)
  t.match(run.stdout, /^Usage: logdaemon run .*\n[^]*--log-level LEVEL[^]*\nExamples:\n/)
  t.match(logdaemon(['-V']).stdout, /^logdaemon \d+\.\d+\.\d+ \(gzip inflater: \S+\)\n$/)
  const typo = logdaemon(['chek'])
  t.equal(typo.status, 2)
  t.equal(typo.stderr, `logdaemon: unknown command "chek" (did you mean check?)\nTry 'logdaemon --help'.\n`)
  const option = logdaemon(['run', '--confg', 'x.mjs'])
  t.equal(option.status, 2)
  t.equal(option.stderr, `logdaemon: Unknown option '--confg' (did you mean --config?)\nTry 'logdaemon run --help'.\n`)
  t.equal(option.stdout, '')

  const cat = spawnSync(process.execPath, [CAT, '--foramt', 'json'], { encoding: 'utf8' })
  t.equal(cat.status, 2)
  t.equal(cat.stderr, `logdaemon-cat: Unknown option '--foramt' (did you mean --format?)\nTry 'logdaemon-cat --help'.\n`)
  const catHelp = spawnSync(process.execPath, [CAT, '--help'], { encoding: 'utf8' })
  t.match(catHelp.stdout, /\nExamples:\n {2}# .+\n {2}logdaemon-cat /)
})

/** A server with a journal, and a configuration whose one listener fails at open: the daemon logs, then exits 1. */
function failingSetup(t: Test): string {
  const dir = t.testdir({
    'fail.mjs':
      "export default () => ({ name: 'fails', isHandled: () => true, listen() {}, noData() {}, close() {}, open() { throw new TypeError('this listener cannot open') } })\n",
  })
  writeFileSync(
    join(dir, 'c.json'),
    JSON.stringify({ server: { root: 'root' }, from: 3, status: false, listeners: [{ type: 'module', module: './fail.mjs' }] }),
  )
  return dir
}

async function server(dir: string): Promise<void> {
  const sim = new SimulatedP4d({ root: join(dir, 'root'), seed: 5, startJournal: 3 })
  for (let i = 0; i < 3; i++) await sim.appendTransaction()
  await sim.close()
}

const logLines = (stderr: string) => stderr.split('\n').filter((l) => l !== '' && !l.startsWith('logdaemon: '))

t.test('logs: JSON lines when stderr is not a terminal, at the asked level', { skip: binSkip }, async (t) => {
  const dir = failingSetup(t)
  await server(dir)
  const info = logdaemon(['run', '-c', 'c.json'], { cwd: dir })
  t.equal(info.status, 1, 'the listener fails')
  const lines = logLines(info.stderr).map((l) => JSON.parse(l) as { level: number; msg: string })
  t.ok(
    lines.some((l) => l.level === 30 && /^reading from 3\/0/.test(l.msg)),
    'info: where it starts',
  )
  t.ok(
    lines.some((l) => l.level === 50 && /this listener cannot open/.test(l.msg)),
    'error: the failure',
  )
  t.match(info.stderr, /\nlogdaemon: listener "fail" failed in open: this listener cannot open/, 'and one line for the operator')

  const env = logdaemon(['run', '-c', 'c.json'], { cwd: dir, env: { LOGDAEMON_LOG_LEVEL: 'error' } })
  t.equal(env.status, 1)
  const errorLines = logLines(env.stderr).map((l) => JSON.parse(l) as { level: number; msg: string })
  t.same(
    errorLines.map((l) => l.level),
    [50, 50],
    'LOGDAEMON_LOG_LEVEL=error: only the error, and the exit line',
  )
  t.equal(errorLines.at(-1)?.msg, 'exiting with code 1', 'every exit has a log line')

  const flag = logdaemon(['run', '-c', 'c.json', '--log-level', 'silent'], { cwd: dir, env: { LOGDAEMON_LOG_LEVEL: 'debug' } })
  t.equal(flag.status, 1)
  t.same(logLines(flag.stderr), [], '--log-level beats LOGDAEMON_LOG_LEVEL')

  const bad = logdaemon(['run', '-c', 'c.json'], { cwd: dir, env: { LOGDAEMON_LOG_LEVEL: 'loud' } })
  t.equal(bad.status, 2)
  t.match(bad.stderr, /^logdaemon: LOGDAEMON_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent \(got "loud"\)\n/)
})

t.test('logs: readable lines when stderr is a terminal', { skip: ptySkip }, async (t) => {
  const dir = failingSetup(t)
  await server(dir)
  // script(1) runs the bin on a pseudo-terminal; what the terminal showed comes back on stdout.
  const command = [process.execPath, BIN, 'run', '-c', 'c.json'].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ')
  const tty = spawnSync('script', ['-qec', command, '/dev/null'], { cwd: dir, encoding: 'utf8', env: { ...process.env, LOGDAEMON_LOG_LEVEL: '' } })
  t.equal(tty.status, 1, tty.stdout)
  // eslint-disable-next-line no-control-regex
  const shown = tty.stdout.replace(/\x1b\[[0-9;]*m/g, '').replace(/\r/g, '')
  t.match(shown, /^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: reading from 3\/0/m, 'info lines are pretty-printed')
  t.match(shown, /^\[\d\d:\d\d:\d\d\.\d{3}\] ERROR: listener "fail" failed in open/m)
  t.notMatch(shown, /"level":/, 'no JSON')
})
