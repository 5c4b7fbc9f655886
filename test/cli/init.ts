import t from 'tap'
import { chmodSync, existsSync, lstatSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { loadConfig } from '../../lib/daemon/config.js'
import { guessStart, initConfig, renderInitConfig } from '../../lib/cli/init.js'

t.test('writes a commented JS configuration from the environment, which validates', async (t) => {
  const dir = t.testdir({ root: { 'checkpoint.40.gz': '', 'checkpoint.41': '', 'journal.40': '', 'journal.41': '', journal: '' } })
  const file = join(dir, 'logdaemon.config.mjs')
  const { info, text } = await initConfig({
    file,
    env: { P4ROOT: join(dir, 'root'), P4JOURNAL: 'journal', P4PORT: 'ssl:perforce:1666', P4USER: 'admin' },
  })
  t.equal(info.from, 41, 'starts at the newest checkpoint')
  t.equal(info.journal, join(dir, 'root', 'journal'), 'a relative P4JOURNAL is taken from P4ROOT')
  t.equal(readFileSync(file, 'utf8'), text)
  t.match(text, /^\/\/ logdaemon configuration, written by 'logdaemon init' for P4PORT "ssl:perforce:1666", P4USER "admin"\./)
  t.match(text, /the newest checkpoint found is 41/)
  t.match(text, /\/\/ \{ type: 'hot-backup'/)
  const config = await loadConfig(file)
  t.equal(config.server?.root, join(dir, 'root'))
  t.equal(config.from, 41)
  t.same(
    config.listeners.map((l) => l.name),
    ['mirror'],
  )
  t.equal(config.state, join(dir, 'logdaemon.state.json'))
  t.same(config.listeners[0]!.options, { dir: 'mirror', fsync: true })
})

t.test('never overwrites without force', async (t) => {
  const dir = t.testdir({ root: {}, 'logdaemon.config.mjs': '// mine\n' })
  const file = join(dir, 'logdaemon.config.mjs')
  await t.rejects(initConfig({ file, env: { P4ROOT: join(dir, 'root') } }), { code: 'ERR_FILE_EXISTS', file, message: /--force/ })
  t.equal(readFileSync(file, 'utf8'), '// mine\n')
  await initConfig({ file, env: { P4ROOT: join(dir, 'root') }, force: true })
  t.not(readFileSync(file, 'utf8'), '// mine\n')
})

t.test('--force replaces the path atomically: a symlink is replaced, never written through; a directory or a failed write is a coded error', async (t) => {
  const dir = t.testdir({ root: {}, 'target.txt': 'not a configuration\n', sub: {}, 'existing.mjs': '// mine\n' })
  const env = { P4ROOT: join(dir, 'root') }
  symlinkSync(join(dir, 'target.txt'), join(dir, 'link.mjs'))
  symlinkSync(join(dir, 'nowhere.txt'), join(dir, 'dangling.mjs'))
  // Without --force a symlink, dangling or not, is an existing file: never followed.
  for (const name of ['link.mjs', 'dangling.mjs']) {
    await t.rejects(initConfig({ file: join(dir, name), env }), { code: 'ERR_FILE_EXISTS' }, name)
  }
  t.equal(readFileSync(join(dir, 'target.txt'), 'utf8'), 'not a configuration\n')
  t.notOk(existsSync(join(dir, 'nowhere.txt')))
  for (const name of ['link.mjs', 'dangling.mjs']) {
    const { text } = await initConfig({ file: join(dir, name), env, force: true })
    t.ok(lstatSync(join(dir, name)).isFile(), `${name}: the link is replaced by the file`)
    t.equal(readFileSync(join(dir, name), 'utf8'), text)
  }
  t.equal(readFileSync(join(dir, 'target.txt'), 'utf8'), 'not a configuration\n', "the link's target is left as it was")
  t.notOk(existsSync(join(dir, 'nowhere.txt')), 'a dangling link does not create its target')
  // A replaced file keeps its permission bits.
  chmodSync(join(dir, 'existing.mjs'), 0o600)
  await initConfig({ file: join(dir, 'existing.mjs'), env, force: true })
  t.equal(statSync(join(dir, 'existing.mjs')).mode & 0o777, 0o600)
  t.not(readFileSync(join(dir, 'existing.mjs'), 'utf8'), '// mine\n')
  await t.rejects(initConfig({ file: join(dir, 'sub'), env, force: true }), {
    code: 'ERR_FILE_EXISTS',
    message: `${join(dir, 'sub')} is a directory: it was left as it is (--force replaces a file, never a directory). Name the file to write with -c FILE`,
  })
  t.ok(statSync(join(dir, 'sub')).isDirectory())
  await t.rejects(initConfig({ file: join(dir, 'none', 'c.mjs'), env }), {
    code: 'ERR_CONFIG_WRITE',
    message: `cannot write the configuration ${join(dir, 'none', 'c.mjs')}: its directory ${join(dir, 'none')} does not exist`,
  })
  await t.rejects(initConfig({ file: join(dir, 'none', 'c.mjs'), env, force: true }), { code: 'ERR_CONFIG_WRITE' })
  t.same(
    readdirSync(dir).filter((n) => n.endsWith('.tmp')),
    [],
    'no temporary file is left',
  )
})

t.test('needs P4ROOT or --root', async (t) => {
  const dir = t.testdir()
  await t.rejects(initConfig({ file: join(dir, 'c.mjs'), env: {} }), { code: 'ERR_USAGE', message: /P4ROOT is not set/ })
  const { info } = await initConfig({ file: join(dir, 'c.mjs'), env: {}, root: dir, prefix: 'jnl/main' })
  t.equal(info.root, dir)
  t.equal(info.prefix, 'jnl/main')
  t.equal((await loadConfig(join(dir, 'c.mjs'))).server?.prefix, 'jnl/main')
})

t.test('where to start: newest checkpoint (prefixed too), else the oldest journal, else the live one', async (t) => {
  const dir = t.testdir({
    a: { 'checkpoint.7': '', 'journal.7': '', 'journal.8.gz': '', journal: '' },
    gap: { 'checkpoint.4': '', 'journal.5': '', 'journal.6': '', journal: '' },
    b: { jnl: { 'main.ckp.12.gz': '', 'main.jnl.12': '' } },
    c: { 'journal.3': '', 'journal.4.gz': '', journal: '' },
    d: { journal: '' },
    // A fresh root's live journal that says its number (the simulator's, p4d's after a rotation): it wins over 0.
    e: { journal: '@pv@ 1 @db.counters@ @journal@ @1@ \n@ex@ 1 1611008050\n' },
  })
  t.match(await guessStart({ root: join(dir, 'a') }), { from: 7, warning: undefined })
  // Checkpoint 4 but no journal.4: run could not start from 4. init picks 5 and says why.
  const gap = await guessStart({ root: join(dir, 'gap') })
  t.match(gap, { from: 5, warning: /journal 4 is missing, so run could not start from 4\. Wrote from: 5 instead/ })
  t.match(await guessStart({ root: join(dir, 'b'), prefix: 'jnl/main' }), { from: 12 })
  t.match(await guessStart({ root: join(dir, 'c') }), { from: 3, reason: /oldest journal on disk is 3/ })
  t.match(await guessStart({ root: join(dir, 'd') }), { from: 0, reason: /live journal is number 0/ })
  t.match(await guessStart({ root: join(dir, 'e') }), { from: 1, reason: /live journal is number 1: its journal counter record says 1/ })
  t.match(await guessStart({ root: join(dir, 'missing') }), { from: 0 })
})

t.test('the rendered configuration mentions a set journal and prefix as values, unset ones as comments', async (t) => {
  const set = renderInitConfig({ root: '/p4', journal: '/logs/journal', prefix: 'jnl/x', from: 'end', fromReason: 'r' })
  t.match(set, /\n {4}journal: "\/logs\/journal",\n {4}prefix: "jnl\/x",/)
  t.match(set, /from: "end",/)
  const unset = renderInitConfig({ root: '/p4', from: 1, fromReason: 'r' })
  t.match(unset, /\/\/ journal: "\/p4\/journal"/)
  t.match(unset, /\/\/ prefix: 'jnl\/main'/)
  const dir = t.testdir()
  writeFileSync(join(dir, 'x.mjs'), unset)
  t.equal((await loadConfig(join(dir, 'x.mjs'))).server?.journal, undefined)
})

t.test('the commented listener examples validate once uncommented', async (t) => {
  const text = renderInitConfig({ root: '/p4', from: 1, fromReason: 'r', user: 'admin' })
  const [head, rest] = text.split('  listeners: [\n') as [string, string]
  const end = rest.indexOf('\n  ],\n')
  const listeners = rest
    .slice(0, end)
    .split('\n')
    .map((line) => line.replace(/^(\s*)\/\/ (\{|\s{2}|\} \},)/, '$1$2'))
    .join('\n')
  const dir = t.testdir()
  writeFileSync(join(dir, 'all.mjs'), `${head}  listeners: [\n${listeners}${rest.slice(end)}`)
  const config = await loadConfig(join(dir, 'all.mjs'))
  t.same(
    config.listeners.map((l) => l.type),
    ['mirror', 'print', 'hot-backup', 'notify', 'module'],
  )
})

t.test('hostile P4USER, P4PORT and P4ROOT cannot inject code: every value is an escaped string literal', async (t) => {
  const marks = globalThis as { initInjected?: number }
  const inject = (n: number): string => `globalThis.initInjected = ${n}; //`
  const dir = t.testdir()
  const env = {
    // A newline, U+2028 and U+2029 each end a // comment in JavaScript.
    P4USER: `admin\n${inject(1)}`,
    P4PORT: `ssl:p4:1666\u2028${inject(2)}`,
    P4ROOT: join(dir, `root\u2029${inject(3)}`),
  }
  const { text, file } = await initConfig({ file: join(dir, 'c.mjs'), env })
  t.notMatch(text, /[\n\u2028\u2029]globalThis/, 'no value starts a line of code')
  t.notMatch(text, /[\u2028\u2029\u0085]/, 'no raw line or paragraph separator anywhere')
  t.match(text, /P4USER "admin\\nglobalThis/)
  t.match(text, /P4PORT "ssl:p4:1666\\u2028globalThis/)
  const config = await loadConfig(file)
  t.equal(marks.initInjected, undefined, 'importing the module ran no injected code')
  t.equal(config.server?.root, resolve(env.P4ROOT), 'the value itself arrives intact')
  t.match(renderInitConfig({ root: '/p4', from: 1, fromReason: `r\u2028${inject(4)}`, user: `u\u2029${inject(5)}` }), /u\\u2029globalThis/)
  const dir2 = t.testdir()
  writeFileSync(join(dir2, 'x.mjs'), renderInitConfig({ root: '/p4', from: 1, fromReason: `r\u2028${inject(4)}`, user: `u\u2029${inject(5)}` }))
  await loadConfig(join(dir2, 'x.mjs'))
  t.equal(marks.initInjected, undefined, 'nor through the start reason or the example address')
})

t.test('bidi and other invisible controls in values are escaped too', async (t) => {
  const text = renderInitConfig({ root: '/p4/\u202eevil\u200b\u007f\u0085', from: 1, fromReason: 'r' })
  t.match(text, /root: "\/p4\/\\u202eevil\\u200b\\u007f\\u0085",/)
})

t.test('logdaemon init warns on standard error when the newest checkpoint’s journal is missing', async (t) => {
  const dir = t.testdir({ root: { 'checkpoint.4': '', 'journal.5': '', journal: '' } })
  const { main } = await import('../../lib/cli/logdaemon.js')
  const out: string[] = []
  const err: string[] = []
  const io = {
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    env: {},
  } as unknown as Parameters<typeof main>[1]
  t.equal(await main(['init', '--root', join(dir, 'root'), '-c', join(dir, 'c.mjs')], io), 0)
  t.match(out.join(''), /\(from: 5\)/)
  t.match(err.join(''), /^logdaemon: warning: the newest checkpoint found is 4.*journal 4 is missing, so run could not start from 4\. Wrote from: 5 instead/)
})

t.test("a fresh simulated server's root: init starts at the number its first rotation gives (1), not 0", async (t) => {
  const { SimulatedP4d } = await import('../../lib/sim/simulated-p4d.js')
  const root = t.testdir()
  const sim = new SimulatedP4d({ root, seed: 3 })
  const ac = new AbortController()
  await sim.run({ intervalMs: 1, rotateEveryMs: 0, signal: ac.signal, onAppend: () => ac.abort() })
  t.match(await guessStart({ root }), { from: 1, reason: /journal counter record says 1/ })
  const rotated = await sim.rotate('rename')
  t.equal(rotated.journal, 1, 'and the first rotation archives it as journal.1')
  await sim.close()
})
