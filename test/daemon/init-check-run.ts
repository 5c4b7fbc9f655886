import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { SimulatedP4d } from '../../lib/sim/simulated-p4d.js'
import { tick } from '../helpers/entries.js'

/**
 * What an administrator does, with the built bin and nothing else:
 * `logdaemon init` from the Perforce environment, edit one line, `check`,
 * `run`, look at the status page, SIGTERM.
 */

const BIN = fileURLToPath(new URL('../../dist/bin/logdaemon.js', import.meta.url))
const binSkip = existsSync(BIN) ? false : `built bin missing at ${BIN}: run npm run build`

t.test('init → check → run → status page → SIGTERM', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const root = join(dir, 'p4root')
  const sim = new SimulatedP4d({ root, seed: 99, startJournal: 12 })
  for (let i = 0; i < 20; i++) await sim.appendTransaction()
  await sim.rotate('rename')
  writeFileSync(join(root, 'checkpoint.13'), '') // p4d -jc wrote checkpoint 13 when journal 12 was rotated
  for (let i = 0; i < 20; i++) await sim.appendTransaction()
  await (await sim.rotate('rename-gzip')).done
  for (let i = 0; i < 5; i++) await sim.appendTransaction()

  const env = { ...process.env, P4ROOT: root, P4PORT: 'ssl:127.0.0.1:1666', P4USER: 'admin' }
  const init = spawnSync(process.execPath, [BIN, 'init'], { cwd: dir, env, encoding: 'utf8' })
  t.equal(init.status, 0, init.stderr)
  t.match(init.stdout, /^wrote .*logdaemon\.config\.mjs for the server root .*p4root \(from: 13\)/)
  const file = join(dir, 'logdaemon.config.mjs')
  t.match(readFileSync(file, 'utf8'), /P4PORT "ssl:127\.0\.0\.1:1666", P4USER "admin"/)
  const refused = spawnSync(process.execPath, [BIN, 'init'], { cwd: dir, env, encoding: 'utf8' })
  t.equal(refused.status, 1, 'a second init does not overwrite')
  t.match(refused.stderr, /^logdaemon: .*logdaemon\.config\.mjs exists/)

  // The one edit: any free port for the status page (4780 may be taken on a test machine).
  writeFileSync(file, readFileSync(file, 'utf8').replace(/port: 4780/, 'port: 0'))

  const check = spawnSync(process.execPath, [BIN, 'check'], { cwd: dir, encoding: 'utf8' })
  t.equal(check.status, 0, check.stderr)
  t.match(check.stdout, /start +journal 13 from its start/)
  t.match(check.stdout, /\n {2}13 +\S+journal\.13\.gz +gzip +\d+\n {2}14 +\S+journal +live +\d+\n/)
  t.match(check.stdout, /gaps +none/)

  const run = spawn(process.execPath, [BIN, 'run'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  run.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
  const exited = new Promise<number | null>((resolve) => run.on('exit', (code) => resolve(code)))
  while (!/status page at (http\S+)"/.test(stderr) && run.exitCode === null) await tick(20)
  const url = /status page at (http\S+)"/.exec(stderr)?.[1]
  t.ok(url, 'the status page URL is logged')
  const mirrored = (n: number) => (existsSync(join(dir, 'mirror', `journal.${n}`)) ? readFileSync(join(dir, 'mirror', `journal.${n}`)) : Buffer.alloc(0))
  for (let i = 0; i < 10; i++) await sim.appendTransaction()
  await sim.close()
  while ([13, 14].some((n) => mirrored(n).length < sim.journalBytes(n).length) && run.exitCode === null) await tick(20)
  const status = (await (await fetch(new URL('status.json', url))).json()) as {
    root: string
    listeners: { name: string; handled: number }[]
    entriesTotal: number
  }
  t.equal(status.root, root)
  t.same(
    status.listeners.map((l) => l.name),
    ['mirror'],
  )
  t.ok(status.entriesTotal > 0)
  const page = await fetch(url!)
  t.equal(page.status, 200)
  t.match(await page.text(), /<html/i)

  run.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM: finish, commit, close, exit 0')
  for (const n of [13, 14]) t.ok(mirrored(n).equals(sim.journalBytes(n)), `journal ${n} mirrored byte for byte`)
  t.notOk(existsSync(join(dir, 'mirror', 'journal.12')), 'journals before the start point are not read')
  const lines = stderr
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { level: number; msg: string })
  t.ok(lines.length >= 3, 'pino JSON lines on stderr')
  t.match(lines.at(-2)?.msg, /^stopped at 14\/\d+$/)
  t.equal(lines.at(-1)?.msg, 'exiting with code 0', 'every exit has a log line')
  t.ok(existsSync(join(dir, 'logdaemon.state.json')))
})
