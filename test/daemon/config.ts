import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { closeSync, constants, linkSync, openSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DEFAULT_STATUS_PORT, loadConfig, parseConfig } from '../../lib/daemon/config.js'
import type { LogdaemonError } from '../../lib/errors.js'
import { BUILTIN_LISTENER_TYPES } from '../../lib/listeners/builtin/index.js'

const minimal = { server: { root: '/p4/root' }, listeners: [{ type: 'mirror', options: { dir: 'mirror' } }] }

async function problems(value: unknown): Promise<string[]> {
  try {
    await parseConfig(value, { baseDir: '/etc/logdaemon' })
  } catch (err) {
    const e = err as LogdaemonError
    t.equal(e.code, 'ERR_CONFIG_INVALID')
    return e.details.problems as string[]
  }
  throw new Error('expected the configuration to be invalid')
}

/** The problems parseConfig finds in `config` (read from `dir`), each a line of its ERR_CONFIG_INVALID; none when valid. */
async function configProblems(t: Test, config: unknown, dir: string): Promise<string[]> {
  return parseConfig(config, { baseDir: dir }).then(
    () => [],
    (e: LogdaemonError) => {
      t.equal(e.code, 'ERR_CONFIG_INVALID')
      return e.details.problems as string[]
    },
  )
}

t.test('defaults, names and paths resolved from the configuration directory', async (t) => {
  const c = await parseConfig(
    { ...minimal, server: { root: 'root', journal: 'logs/journal', prefix: 'jnl/main' }, state: 'st.json', from: 12 },
    { baseDir: '/etc/logdaemon' },
  )
  t.same(c.server, { root: '/etc/logdaemon/root', journal: '/etc/logdaemon/root/logs/journal', prefix: 'jnl/main' })
  t.equal(c.state, '/etc/logdaemon/st.json')
  t.equal(c.from, 12)
  t.equal(c.quietMs, 5000)
  t.equal(c.commitIntervalMs, 1000)
  t.same(c.status, { host: '127.0.0.1', port: DEFAULT_STATUS_PORT })
  t.same(c.log, { level: 'info' })
  t.same(c.listeners, [{ type: 'mirror', name: 'mirror', options: { dir: 'mirror', fsync: true } }], 'options validated and defaulted by the listener schema')
  const d = await parseConfig({ ...minimal, status: false, from: 'end', log: { level: 'debug', file: 'd.log' } }, { baseDir: '/x' })
  t.equal(d.status, false)
  t.equal(d.from, 'end')
  t.same(d.log, { level: 'debug', file: '/x/d.log' })
  t.equal(d.state, '/x/logdaemon.state.json')
})

t.test('every error names the key and what was expected', async (t) => {
  t.same(await problems({}), ['server: missing (expected object)', 'listeners: missing (expected array)'])
  t.same(await problems({ ...minimal, server: { root: 1 } }), ['server.root: expected string, received number (got 1)'])
  t.same(await problems({ ...minimal, colour: 'blue', server: { root: '/r', jornal: 'x' } }), ['server.jornal: unknown key', 'colour: unknown key'])
  t.same(await problems({ ...minimal, from: 'start' }), ['from: expected a journal number (an integer >= 0) or "end" (got "start")'])
  t.same(await problems({ ...minimal, quietMs: -5 }), ['quietMs: Too small: expected number to be >0 (got -5)'])
  t.same(await problems({ ...minimal, listeners: [] }), ['listeners: expected at least one listener (got [])'])
  const types = [...BUILTIN_LISTENER_TYPES, 'module'].map((x) => `"${x}"`).join('|')
  t.same(await problems({ ...minimal, listeners: [{ type: 'tee' }] }), [`listeners[0].type: expected one of ${types} (got "tee")`])
  t.same(await problems({ ...minimal, listeners: [{ type: 'module' }] }), [
    'listeners[0].module: missing (expected the module specifier or path of the listener, as type is "module")',
  ])
  t.same(await problems({ ...minimal, listeners: [{ type: 'print', module: 'x' }] }), [
    'listeners[0].module: not allowed for the built-in type "print" (use type "module" for your own listener)',
  ])
  t.same(await problems({ ...minimal, listeners: [{ type: 'mirror', options: {} }] }), ['listeners[0].options.dir: missing (expected string)'])
  t.same(await problems({ ...minimal, listeners: [{ type: 'print', options: { format: 'xml', colour: 1 } }] }), [
    'listeners[0].options.format: expected one of "raw"|"json"|"row" (got "xml")',
    'listeners[0].options.colour: unknown key',
  ])
  t.same(await problems({ ...minimal, listeners: [{ type: 'print' }, { type: 'print' }] }), [
    'listeners[1].name: "print" is already the name of listeners[0] (expected a distinct name for each listener)',
  ])
  t.same(await problems({ ...minimal, status: { port: 99999 } }), ['status.port: Too big: expected number to be <=65535 (got 99999)'])
  t.same(await problems({ ...minimal, status: true }), ['status: expected false or an object { host, port, token } (got true)'])
  t.same(await problems({ ...minimal, retry: { retries: 'many' } }), ['retry.retries: expected number, received string (got "many")'])
})

t.test('a value in an error is shown as the configuration wrote it, cut when long', async (t) => {
  // Before, JSON.stringify echoed Infinity and NaN as null ("received Infinity (got null)"), and threw on a BigInt:
  // the error became "cannot be loaded: a TypeError" (a probe).
  t.same(await problems({ ...minimal, quietMs: Infinity, commitIntervalMs: -Infinity, health: { behindSeconds: Number.NaN } }), [
    'quietMs: expected number, received Infinity (got Infinity)',
    'commitIntervalMs: expected number, received -Infinity (got -Infinity)',
    'health.behindSeconds: expected number, received NaN (got NaN)',
  ])
  t.same(await problems({ ...minimal, retry: { retries: 3n } }), ['retry.retries: expected number, received bigint (got 3n)'])
  t.same(await problems({ ...minimal, retry: { retries: Symbol('x') } }), ['retry.retries: expected number, received symbol (got Symbol(x))'])
  t.same(await problems({ ...minimal, status: { port: [Number.NaN, undefined, { a: -Infinity, b: undefined, c: 'x' }] } }), [
    'status: expected false or an object { host, port, token } (got {"port":[NaN,null,{"a":-Infinity,"c":"x"}]})',
  ])
  // Long values: their first 57 characters, then "...".
  t.same(await problems({ ...minimal, listeners: [{ type: 'module', module: new Array(1e6).fill(1) }] }), [
    `listeners[0].module: expected a module specifier or path, or (in a JS configuration) a factory function or a listener object (got [${'1,'.repeat(28)}...)`,
  ])
  t.same(await problems({ ...minimal, from: 10n ** 100n }), [`from: expected a journal number (an integer >= 0) or "end" (got 1${'0'.repeat(56)}...)`])
  t.same(await problems({ ...minimal, from: 'y'.repeat(100) }), [`from: expected a journal number (an integer >= 0) or "end" (got "${'y'.repeat(56)}...)`])
})

t.test('the error message lists the problems and where to look', async (t) => {
  await t.rejects(parseConfig({ server: {} }, { file: '/etc/logdaemon/x.json' }), {
    code: 'ERR_CONFIG_INVALID',
    file: '/etc/logdaemon/x.json',
    message: /^\/etc\/logdaemon\/x\.json is invalid:\n {2}server\.root: missing \(expected string\)\n {2}listeners: missing/,
  })
})

t.test('module listeners: specifier, inline factory or object; default names', async (t) => {
  const factory = () => ({ name: 'x', isHandled: () => true, listen() {}, noData() {}, close() {} })
  const c = await parseConfig(
    {
      ...minimal,
      listeners: [
        { type: 'module', module: './listeners/audit-log.mjs', options: { any: 'thing' } },
        { type: 'module', module: factory, name: 'inline-one' },
        { type: 'module', module: factory() },
      ],
    },
    { baseDir: '/b' },
  )
  t.same(
    c.listeners.map((l) => [l.name, l.options]),
    [
      ['audit-log', { any: 'thing' }],
      ['inline-one', {}],
      ['inline', {}],
    ],
  )
  t.same(await problems({ ...minimal, listeners: [{ type: 'module', module: 42 }] }), [
    'listeners[0].module: expected a module specifier or path, or (in a JS configuration) a factory function or a listener object (got 42)',
  ])
})

t.test("a __proto__ key or a prototype in a listener's options is reported, not dropped", async (t) => {
  // Before, z.record skipped the key (reported as unknown at every other level) and copied own keys only: the
  // configuration was valid and a module listener got {} (a probe).
  const json = (options: string) =>
    JSON.parse(`{ "server": { "root": "/r" }, "listeners": [ { "type": "mirror", "options": { "dir": "m" } }, ${options} ] }`) as unknown
  t.same(await problems(json('{ "type": "module", "module": "./x.mjs", "options": { "a": 1, "__proto__": { "b": 2 } } }')), [
    'listeners[1].options.__proto__: unknown key',
  ])
  t.same(await problems(json('{ "type": "print", "name": "p", "options": { "__proto__": { "output": "/etc/x" } } }')), [
    'listeners[1].options.__proto__: unknown key',
  ])
  t.same(
    await problems({ ...(json('{ "type": "print", "name": "p", "options": { "__proto__": {}, "colour": 1 } }') as object), quietMs: -1 }),
    ['quietMs: Too small: expected number to be >0 (got -1)', 'listeners[1].options.__proto__: unknown key', 'listeners[1].options.colour: unknown key'],
    'with other problems: the key once (the built-in schema reports it too)',
  )
  const dir = t.testdir({
    'c.mjs': `export default { server: { root: 'r' }, listeners: [
      { type: 'module', module: './x.mjs', options: { a: 1, __proto__: { b: 2 } } },
      { type: 'mirror', options: { dir: 'm', __proto__: { fsync: false } } },
    ] }`,
  })
  const err = (await loadConfig(join(dir, 'c.mjs')).catch((e: unknown) => e)) as LogdaemonError
  t.equal(err.code, 'ERR_CONFIG_INVALID')
  const proto =
    'has a prototype of its own, whose keys would be ignored (expected a plain object: in a JS configuration, `__proto__: {…}` sets the prototype, it is no key)'
  t.same(err.details.problems, [`listeners[0].options: ${proto}`, `listeners[1].options: ${proto}`], 'a JS literal: the prototype it sets')
  // At every other level the schema read keys through the prototype: this root was used (a probe).
  const deeper = t.testdir({
    'd.mjs': `export default { server: { __proto__: { root: '/etc' } }, status: { port: 0, __proto__: { host: '0.0.0.0' } },
      listeners: [
        { type: 'print', options: { output: 'o', filter: { __proto__: { tables: ['db.user'] } } } },
        { type: 'module', module: { listen() {}, isHandled: () => true, noData() {} }, options: { deep: { __proto__: { kept: 1 } } } },
      ] }`,
  })
  const err2 = (await loadConfig(join(deeper, 'd.mjs')).catch((e: unknown) => e)) as LogdaemonError
  t.equal(err2.code, 'ERR_CONFIG_INVALID')
  const read = proto.replace('would be ignored', 'would be read as its own')
  t.same(
    (err2.details.problems as string[]).filter((p) => p.includes('prototype')),
    ['server: ' + read, 'status: ' + read, 'listeners[0].options.filter: ' + read],
    "any level but an inline listener and what a module listener's options hold below their top level",
  )
  // Plain data that Object did not make here: an object of another realm (vm), an instance of a class of the user's.
  const { runInNewContext } = await import('node:vm')
  class Cfg {
    server = { root: '/r' }
    listeners = [{ type: 'print', options: { output: 'o' } }]
  }
  const print = [{ type: 'print', options: { output: 'o' } }]
  t.equal((await parseConfig({ server: runInNewContext('({ root: "/r" })'), listeners: print }, { baseDir: '/b' })).server?.root, '/r', 'an object made by vm')
  t.equal((await parseConfig(new Cfg(), { baseDir: '/b' })).listeners.length, 1, 'a class instance')
  // A JS configuration may hold a cycle: looked at once.
  const cyclic: Record<string, unknown> = { output: 'o' }
  cyclic.self = { back: cyclic }
  t.same(await problems({ server: { root: '/r' }, listeners: [{ type: 'print', options: cyclic }] }), ['listeners[0].options.self: unknown key'])
  // Options that are plain objects pass on unchanged, a null prototype and nested objects included.
  const options = { a: 1, nested: { b: [2, { c: 3 }] }, bare: Object.assign(Object.create(null) as object, { d: 4 }) }
  const c = await parseConfig({ server: { root: '/r' }, listeners: [{ type: 'module', module: './x.mjs', options }] })
  t.same(c.listeners[0]?.options, options)
  t.equal(c.listeners[0]?.options.nested, options.nested, 'nested values are the same objects')
  const bare = await parseConfig({ server: { root: '/r' }, listeners: [{ type: 'module', module: './x.mjs', options: Object.create(null) as object }] })
  t.same(bare.listeners[0]?.options, {}, 'options with a null prototype are plain')
})

t.test('loadConfig reads JSON and JS modules, and says what is wrong with the file', async (t) => {
  const dir = t.testdir({
    'ok.json': JSON.stringify(minimal),
    'bad.json': '{ "server": ',
    'ok.mjs': `export default ${JSON.stringify({ ...minimal, server: { root: 'r' } })}`,
    'fn.mjs': `export default async () => (${JSON.stringify(minimal)})`,
    'none.mjs': 'export const config = {}',
    'throws.mjs': 'throw new Error("oops")',
  })
  const ok = await loadConfig(join(dir, 'ok.json'))
  t.equal(ok.file, join(dir, 'ok.json'))
  t.equal(ok.state, join(dir, 'logdaemon.state.json'))
  t.equal((await loadConfig(join(dir, 'ok.mjs'))).server?.root, join(dir, 'r'))
  t.equal((await loadConfig(join(dir, 'fn.mjs'))).server?.root, '/p4/root')
  await t.rejects(loadConfig(join(dir, 'bad.json')), { code: 'ERR_CONFIG_INVALID', message: /not valid JSON/ })
  await t.rejects(loadConfig(join(dir, 'none.mjs')), { code: 'ERR_CONFIG_INVALID', message: /no default export/ })
  await t.rejects(loadConfig(join(dir, 'missing.json')), { code: 'ERR_CONFIG_NOT_FOUND', message: /does not exist.*logdaemon init/ })
  await t.rejects(loadConfig(join(dir, 'missing.mjs')), { code: 'ERR_CONFIG_NOT_FOUND', message: /does not exist/ })
  await t.rejects(loadConfig(join(dir, 'throws.mjs')), {
    code: 'ERR_CONFIG_NOT_FOUND',
    message: /cannot be loaded: an Error at line 1, column \d+ \(its message is not shown/,
  })
})

t.test('secret values never appear in error messages', async (t) => {
  const { parseConfig } = await import('../../lib/daemon/config.js')
  const err = await parseConfig({
    server: { root: '.' },
    from: 1,
    listeners: [{ type: 'notify', options: { webhook: { url: 'http://127.0.0.1:1/x', secret: 'short-s3cr3t' } } }],
    status: { token: 5 },
  }).catch((e: unknown) => e as Error)
  t.ok(err instanceof Error)
  t.notMatch((err as Error).message, /short-s3cr3t/)
  t.match((err as Error).message, /secret.*value hidden/)
})

/** What `p` settles with, or 'timeout'; then a writer opened and closed at once ends a read blocked on `fifo`, so a test fails rather than hangs. */
async function within(p: Promise<unknown>, ms: number, fifo: string): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms)
  })
  const r = await Promise.race([p.catch((e: unknown) => e), late])
  clearTimeout(timer)
  if (r === 'timeout') {
    try {
      closeSync(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK))
    } catch {}
    await p.catch(() => {})
  }
  return r
}

t.test(
  'loadConfig refuses a FIFO, a device or a directory before reading it (a FIFO would block it for ever)',
  { skip: process.platform === 'win32' && 'no FIFOs' },
  async (t) => {
    const dir = t.testdir({ 'ok.json': JSON.stringify(minimal), 'dir.json': {}, 'dir.mjs': {} })
    for (const name of ['fifo.json', 'fifo.mjs']) execFileSync('mkfifo', [join(dir, name)])
    symlinkSync(join(dir, 'fifo.json'), join(dir, 'link.json'))
    symlinkSync('/dev/null', join(dir, 'null.json'))
    symlinkSync('/dev/null', join(dir, 'null.mjs'))
    symlinkSync(join(dir, 'ok.json'), join(dir, 'ok-link.json'))
    const cases: [string, string, string][] = [
      ['fifo.json', 'a FIFO (named pipe)', 'fifo.json'],
      ['fifo.mjs', 'a FIFO (named pipe)', 'fifo.mjs'],
      ['link.json', 'a FIFO (named pipe)', 'fifo.json'],
      ['null.json', 'a character device', 'fifo.json'],
      ['null.mjs', 'a character device', 'fifo.json'],
      ['dir.json', 'a directory', 'fifo.json'],
      ['dir.mjs', 'a directory', 'fifo.json'],
    ]
    for (const [name, kind, fifo] of cases) {
      const file = join(dir, name)
      t.match(
        await within(loadConfig(file), 5000, join(dir, fifo)),
        {
          code: 'ERR_CONFIG_NOT_FOUND',
          message: `configuration ${file} is not a regular file but ${kind}: name the configuration file itself with --config FILE`,
        },
        name,
      )
    }
    t.equal((await loadConfig(join(dir, 'ok-link.json'))).file, join(dir, 'ok-link.json'), 'a link to a regular file is read')
  },
)

t.test('every option in ms refuses a timer Node cannot set (past 2^31-1 ms it would fire at once)', async (t) => {
  const max = 2_147_483_647
  const limit = `expected at most ${max} ms (about 24.8 days, the longest timer Node.js can set)`
  const base = { server: { root: '/r' }, listeners: [{ type: 'mirror', options: { dir: 'm' } }] }
  const smtp = { from: 'p4@example.com', to: ['a@example.com'] }
  const webhook = { url: 'http://127.0.0.1:1/x', secret: 'a-long-enough-secret' }
  const nats = { servers: 'nats://127.0.0.1:4222', server: 'p4' }
  const source = { type: 'jetstream', servers: 'nats://127.0.0.1:4222', stream: 'S', durable: 'd' }
  const cases: [string, (v: number) => unknown][] = [
    ['quietMs', (v) => ({ ...base, quietMs: v })],
    ['commitIntervalMs', (v) => ({ ...base, commitIntervalMs: v })],
    ['stopTimeoutMs', (v) => ({ ...base, stopTimeoutMs: v })],
    ['retry.minTimeout', (v) => ({ ...base, retry: { minTimeout: v } })],
    ['retry.maxTimeout', (v) => ({ ...base, retry: { maxTimeout: v } })],
    ['listeners[0].retry.maxTimeout', (v) => ({ ...base, listeners: [{ type: 'mirror', options: { dir: 'm' }, retry: { maxTimeout: v } }] })],
    ['source.ackWaitMs', (v) => ({ source: { ...source, ackWaitMs: v }, listeners: base.listeners })],
    ['listeners[0].options.smtp.timeoutMs', (v) => ({ ...base, listeners: [{ type: 'notify', options: { smtp: { ...smtp, timeoutMs: v } } }] })],
    ['listeners[0].options.webhook.timeoutMs', (v) => ({ ...base, listeners: [{ type: 'notify', options: { webhook: { ...webhook, timeoutMs: v } } }] })],
    ['listeners[0].options.ackTimeoutMs', (v) => ({ ...base, listeners: [{ type: 'jetstream', options: { ...nats, ackTimeoutMs: v } }] })],
    ['listeners[0].options.duplicateWindowMs', (v) => ({ ...base, listeners: [{ type: 'jetstream', options: { ...nats, duplicateWindowMs: v } }] })],
    [
      'listeners[0].options.reconnect.maxTimeout',
      (v) => ({ ...base, listeners: [{ type: 'hot-backup', options: { host: 'h', remoteDir: 'd', reconnect: { maxTimeout: v } } }] }),
    ],
  ]
  for (const [key, config] of cases) {
    await t.resolves(parseConfig(config(max)), `${key}: 2^31-1 is accepted`)
    for (const v of [max + 1, 3e9]) t.same(await problems(config(v)), [`${key}: ${limit} (got ${v})`], `${key}: ${v} is refused`)
  }
  // hot-backup's connectTimeout is in seconds, and the remote must answer within twice it.
  const hb = (v: number) => ({ ...base, listeners: [{ type: 'hot-backup', options: { host: 'h', remoteDir: 'd', connectTimeout: v } }] })
  await t.resolves(parseConfig(hb(1_073_741)))
  t.same(await problems(hb(1_073_742)), [
    'listeners[0].options.connectTimeout: expected at most 1073741 s (twice that is the longest timer Node.js can set) (got 1073742)',
  ])
})

t.test("a stream name longer than JetStream's 255 characters is refused, for the listener and the source", async (t) => {
  const base = { server: { root: '/r' }, listeners: [{ type: 'mirror', options: { dir: 'm' } }] }
  const nats = { servers: 'nats://127.0.0.1:4222', server: 'p4' }
  const listener = (stream: string) => ({ ...base, listeners: [{ type: 'jetstream', options: { ...nats, stream } }] })
  const source = (stream: string) => ({ source: { type: 'jetstream', servers: nats.servers, stream, durable: 'd' }, listeners: base.listeners })
  const message = 'expected a stream name of at most 255 characters (JetStream allows no more)'
  await t.resolves(parseConfig(listener('S'.repeat(255))), '255 characters are accepted')
  await t.resolves(parseConfig(source('S'.repeat(255))))
  t.match(await problems(listener('S'.repeat(256))), [new RegExp(`^listeners\\[0\\]\\.options\\.stream: ${message.replace(/[()]/g, '\\$&')}`)])
  t.match(await problems(source('S'.repeat(256))), [new RegExp(`^source\\.stream: ${message.replace(/[()]/g, '\\$&')}`)])
})

t.test('a NUL byte in any path option is refused (no file name can hold one; Node refused it only at open)', async (t) => {
  const nul = 'a\u0000b'
  const got = '(got "a\\u0000b")'
  const message = 'must not contain a NUL byte (\\u0000): no file name or command argument can hold one'
  const base = { server: { root: '/r' }, listeners: [{ type: 'mirror', options: { dir: 'm' } }] }
  const hb = { host: 'h', remoteDir: 'd' }
  const smtp = { from: 'p4@example.com', to: ['a@example.com'] }
  const nats = { servers: 'nats://127.0.0.1:4222', server: 'p4' }
  const source = { type: 'jetstream', servers: 'nats://127.0.0.1:4222', stream: 'S', durable: 'd' }
  const listener = (type: string, options: Record<string, unknown>) => ({ ...base, listeners: [{ type, options }] })
  const cases: [string, unknown][] = [
    ['server.root', { ...base, server: { root: nul } }],
    ['server.journal', { ...base, server: { root: '/r', journal: nul } }],
    ['server.prefix', { ...base, server: { root: '/r', prefix: nul } }],
    ['state', { ...base, state: nul }],
    ['log.file', { ...base, log: { file: nul } }],
    ['listeners[0].module', { ...base, listeners: [{ type: 'module', module: nul }] }],
    ['listeners[0].options.dir', listener('mirror', { dir: nul })],
    ['listeners[0].options.stateFile', listener('mirror', { dir: 'm', stateFile: nul })],
    ['listeners[0].options.output', listener('print', { output: nul })],
    ['listeners[0].options.host', listener('hot-backup', { ...hb, host: nul })],
    ['listeners[0].options.user', listener('hot-backup', { ...hb, user: nul })],
    ['listeners[0].options.identityFile', listener('hot-backup', { ...hb, identityFile: nul })],
    ['listeners[0].options.knownHostsFile', listener('hot-backup', { ...hb, knownHostsFile: nul })],
    ['listeners[0].options.sshConfigFile', listener('hot-backup', { ...hb, sshConfigFile: nul })],
    ['listeners[0].options.ssh', listener('hot-backup', { ...hb, ssh: nul })],
    ['listeners[0].options.remoteDir', listener('hot-backup', { ...hb, remoteDir: nul })],
    ['listeners[0].options.replay', listener('hot-backup', { ...hb, replay: nul })],
    ['listeners[0].options.remoteCommand', listener('hot-backup', { ...hb, remoteCommand: nul })],
    ['listeners[0].options.deliveryState', listener('notify', { smtp, deliveryState: nul })],
    ['listeners[0].options.reviews.state', listener('notify', { smtp: { from: smtp.from }, reviews: { state: nul } })],
    ['listeners[0].options.reviews.checkpoint', listener('notify', { smtp: { from: smtp.from }, reviews: { checkpoint: nul } })],
    ['listeners[0].options.nkey', listener('jetstream', { ...nats, nkey: nul })],
    ['listeners[0].options.creds', listener('jetstream', { ...nats, creds: nul })],
    ['listeners[0].options.tls.ca', listener('jetstream', { ...nats, tls: { ca: nul } })],
    ['source.creds', { source: { ...source, creds: nul }, listeners: base.listeners }],
    ['source.tls.cert', { source: { ...source, tls: { cert: nul, key: 'k' } }, listeners: base.listeners }],
  ]
  for (const [key, config] of cases) t.same(await problems(config), [`${key}: ${message} ${got}`], key)
})

t.test('stopTimeoutMs and health: defaults, and hostile values refused', async (t) => {
  const base = { server: { root: '/r' }, listeners: [{ type: 'mirror', options: { dir: 'm' } }] }
  const c = await parseConfig(base)
  t.equal(c.stopTimeoutMs, 60_000)
  t.same(c.health, { behindBytes: 64 * 1024 * 1024, behindSeconds: 300, caughtUpBytes: 0 })
  // Past setTimeout's limit Node fires at once: a stop would "time out" immediately.
  await t.rejects(parseConfig({ ...base, stopTimeoutMs: 2 ** 31 }), { code: 'ERR_CONFIG_INVALID', message: /stopTimeoutMs/ })
  await t.rejects(parseConfig({ ...base, stopTimeoutMs: 0 }), { code: 'ERR_CONFIG_INVALID' })
  await t.rejects(parseConfig({ ...base, health: { behindBytes: -1 } }), { code: 'ERR_CONFIG_INVALID', message: /health\.behindBytes/ })
  await t.rejects(parseConfig({ ...base, health: { behindSecs: 5 } }), { code: 'ERR_CONFIG_INVALID', message: /health\.behindSecs: unknown key/ })
})

t.test('no two files logdaemon writes may be one, nor two mirrors one directory', async (t) => {
  // Before, check found these valid; run then failed with ERR_LOCKED (two mirrors, or a state shared) or mixed a log
  // into a print output.
  const dir = t.testdir({ etc: {}, var: { 'st.json': '{}' } })
  symlinkSync(join(dir, 'var'), join(dir, 'varlink'))
  symlinkSync(join(dir, 'var', 'st.json'), join(dir, 'etc', 'to-state'))
  const mirror = (name: string, options: Record<string, unknown>) => ({ type: 'mirror', name, options })
  const base = { server: { root: 'root' }, listeners: [mirror('m', { dir: 'mirror' })] }
  const lines = (config: unknown) => configProblems(t, config, dir)
  const m = join(dir, 'mirror')
  t.same(
    await lines({ ...base, listeners: [mirror('a', { dir: 'mirror' }), mirror('b', { dir: './x/../mirror/' })] }),
    [`listeners[1].options.dir: ${m} is the directory of listeners[0].options.dir too (expected a directory of its own)`],
    'two mirrors on one directory: one problem (their default state file is the same too)',
  )
  t.same(
    await lines({ ...base, listeners: [mirror('a', { dir: 'mirror' }), mirror('b', { dir: 'mirror2', stateFile: 'mirror/.mirror-state.json' })] }),
    [
      `listeners[1].options.stateFile: ${join(m, '.mirror-state.json')} is the file of listeners[0].options.dir (its state file ${join(m, '.mirror-state.json')}) too (expected a file of its own)`,
    ],
    "a mirror's state file given as another mirror's default one",
  )
  t.same(
    await lines({ ...base, state: 'var/st.json', listeners: [mirror('a', { dir: 'mirror', stateFile: 'varlink/st.json' })] }),
    [`listeners[0].options.stateFile: ${join(dir, 'varlink/st.json')} is the file of state too (expected a file of its own)`],
    "the daemon's state as a mirror's, through a symlinked directory",
  )
  t.same(
    await lines({ ...base, state: 'etc/to-state', listeners: [mirror('a', { dir: 'mirror', stateFile: 'var/st.json' })] }),
    [`listeners[0].options.stateFile: ${join(dir, 'var/st.json')} is the file of state too (expected a file of its own)`],
    'a symlink to the file',
  )
  const print = { type: 'print', options: { format: 'raw', output: 'var/out.log' } }
  t.same(
    await lines({ ...base, log: { file: 'var/out.log' }, listeners: [mirror('a', { dir: 'mirror' }), print] }),
    [`listeners[1].options.output: ${join(dir, 'var/out.log')} is the file of log.file too (expected a file of its own)`],
    "print's output as the log",
  )
  // Paths that do not exist yet: through a symlinked parent, or a dangling symlink (the probe: check said valid, run
  // failed with ERR_LOCKED, or mixed log lines into the print output).
  t.same(
    await lines({ ...base, listeners: [mirror('a', { dir: 'var/new/m' }), mirror('b', { dir: 'varlink/new/m' })] }),
    [`listeners[1].options.dir: ${join(dir, 'varlink/new/m')} is the directory of listeners[0].options.dir too (expected a directory of its own)`],
    'two mirror directories not made yet, one through a symlinked parent',
  )
  symlinkSync(join(dir, 'var', 'target.log'), join(dir, 'etc', 'dangling'))
  const printTo = (name: string, output: string) => ({ type: 'print', name, options: { format: 'raw', output } })
  t.same(
    await lines({ ...base, log: { file: 'etc/dangling' }, listeners: [mirror('a', { dir: 'mirror' }), printTo('p', 'var/target.log')] }),
    [`listeners[1].options.output: ${join(dir, 'var/target.log')} is the file of log.file too (expected a file of its own)`],
    'a dangling symlink to the file',
  )
  // notify's default state files count (beside the daemon's state, named after it and the listener).
  const webhook = { url: 'https://hooks.example.com/x', secret: 'a-secret-of-16-chars' }
  const notify = (name: string, extra: Record<string, unknown> = {}) => ({ type: 'notify', name, options: { webhook, ...extra } })
  const delivery = join(dir, 'logdaemon.state.a-delivery.json')
  t.same(
    await lines({ ...base, listeners: [notify('a'), notify('b', { deliveryState: 'logdaemon.state.a-delivery.json' })] }),
    [`listeners[1].options.deliveryState: ${delivery} is the file of listeners[0] (its delivery state file ${delivery}) too (expected a file of its own)`],
    "another notify's default delivery state",
  )
  t.same(
    await lines({ ...base, listeners: [notify('a'), printTo('p', 'logdaemon.state.a-delivery.json')] }),
    [`listeners[1].options.output: ${delivery} is the file of listeners[0] (its delivery state file ${delivery}) too (expected a file of its own)`],
    "print's output as notify's default delivery state",
  )
  // A lock beside a state, and a journal file in a mirror's directory (the second probe: check said valid, run failed
  // with ERR_LOCKED or refused the mirror's directory).
  t.same(
    await lines({ ...base, state: 'var/s.json', log: { file: 'var/s.json.lock' } }),
    [`state (its lock ${join(dir, 'var/s.json.lock')}): ${join(dir, 'var/s.json.lock')} is the file of log.file too (expected a file of its own)`],
    "a log on the state's lock",
  )
  t.same(
    await lines({ ...base, log: { file: 'mirror/.mirror-dir.lock' } }),
    [
      `listeners[0].options.dir (its lock ${join(m, '.mirror-dir.lock')}): ${join(m, '.mirror-dir.lock')} is the file of log.file too (expected a file of its own)`,
    ],
    "a log on the mirror directory's lock",
  )
  t.same(
    await lines({ ...base, log: { file: 'mirror/journal.0' } }),
    [`log.file: ${join(m, 'journal.0')} is the name of a journal the mirror of listeners[0].options.dir writes there (expected a file outside it)`],
    'a log named as a journal in the mirror directory',
  )
  // A state is saved by renaming a new file over it: never over a device (as root, /dev/null itself) or a FIFO.
  t.same(
    await lines({ ...base, listeners: [mirror('a', { dir: 'mirror', stateFile: '/dev/null' })] }),
    [
      'listeners[0].options.stateFile: /dev/null is not a regular file (a state is saved by renaming a new file over it: expected a regular file, or a path not made yet)',
    ],
    "a mirror's state on /dev/null",
  )
  const c = await parseConfig(
    { ...base, log: { file: 'var/log' }, listeners: [mirror('a', { dir: 'mirror' }), mirror('b', { dir: 'mirror/sub' }), print, notify('n1'), notify('n2')] },
    { baseDir: dir },
  )
  t.equal(c.listeners.length, 5, "distinct files, a mirror inside another one's directory, two notify listeners with their default state files: fine")
  // Devices, FIFOs and sockets take many writers (a probe found /dev/null refused as the log and a print output).
  const devices = await parseConfig(
    { ...base, log: { file: '/dev/null' }, listeners: [printTo('p1', '/dev/null'), printTo('p2', '/dev/null')] },
    { baseDir: dir },
  )
  t.equal(devices.listeners.length, 2, '/dev/null as the log and two print outputs is fine')
})

t.test('no file logdaemon writes may be the configuration file itself', async (t) => {
  // Before, check and run took a log.file or a print output naming the configuration; run appended its log lines to
  // it, and the next check or run failed: "c.json is not valid JSON at line 3" (a probe).
  const listeners = [{ type: 'mirror', options: { dir: 'mirror' } }]
  const config = (extra: Record<string, unknown>) => JSON.stringify({ server: { root: 'root' }, from: 1, listeners, ...extra })
  const dir = t.testdir({
    etc: {
      'log.json': config({ log: { file: 'log.json' } }),
      'dotdot.json': config({ log: { file: '../etc/./dotdot.json' } }),
      'link.json': config({ log: { file: 'to-link' } }),
      'print.json': config({ listeners: [{ type: 'print', options: { format: 'raw', output: 'print.json' } }] }),
      'state.mjs': `export default ${config({ state: 'state.mjs' })}`,
      'mirror.json': config({ listeners: [{ type: 'mirror', options: { dir: 'mirror', stateFile: '../etclink/mirror.json' } }] }),
    },
  })
  const etc = join(dir, 'etc')
  symlinkSync(join(etc, 'link.json'), join(etc, 'to-link'))
  symlinkSync(etc, join(dir, 'etclink'))
  const refused = async (name: string, key: string, path: string): Promise<void> => {
    const err = (await loadConfig(join(etc, name)).then(
      () => null,
      (e: unknown) => e,
    )) as LogdaemonError | null
    t.equal(err?.code, 'ERR_CONFIG_INVALID', `${name} refused`)
    t.same(
      err?.details.problems,
      [`${key}: ${path} is the configuration file (expected a file of its own: logdaemon would write over its configuration)`],
      name,
    )
  }
  await refused('log.json', 'log.file', join(etc, 'log.json'))
  await refused('dotdot.json', 'log.file', join(etc, 'dotdot.json'))
  await refused('link.json', 'log.file', join(etc, 'to-link'))
  await refused('print.json', 'listeners[0].options.output', join(etc, 'print.json'))
  await refused('state.mjs', 'state', join(etc, 'state.mjs'))
  await refused('mirror.json', 'listeners[0].options.stateFile', join(dir, 'etclink/mirror.json'))
})

t.test('retry: a minTimeout above the maxTimeout given with it is refused', async (t) => {
  const base = { server: { root: '/r' }, listeners: [{ type: 'mirror', options: { dir: 'm' } }] }
  t.same(await problems({ ...base, retry: { minTimeout: 5000, maxTimeout: 100 } }), ['retry.minTimeout: minTimeout must not be above maxTimeout'])
  t.same(await problems({ ...base, listeners: [{ ...base.listeners[0], retry: { minTimeout: 2, maxTimeout: 1 } }] }), [
    'listeners[0].retry.minTimeout: minTimeout must not be above maxTimeout',
  ])
  const hb = { type: 'hot-backup', options: { host: 'h', remoteDir: 'd', reconnect: { minTimeout: 10, maxTimeout: 9 } } }
  t.same(await problems({ ...base, listeners: [hb] }), ['listeners[0].options.reconnect.minTimeout: minTimeout must not be above maxTimeout'])
  // One against the other's default is no contradiction: a lone maxTimeout below the default minTimeout caps it.
  const c = await parseConfig({ ...base, retry: { maxTimeout: 500 } }, { baseDir: '/etc' })
  t.same(c.retry, { maxTimeout: 500 })
  await t.resolves(parseConfig({ ...base, retry: { minTimeout: 100, maxTimeout: 100 } }, { baseDir: '/etc' }), 'equal delays are fine')
})

t.test("no file logdaemon writes may be a file of the server's journal set", async (t) => {
  // Before, none was refused: a raw print to the live journal fed the daemon its own output (149 bytes grew to
  // 8 MB in 4 s), a log.file in the journal set got log lines appended to a journal, and a state named journal.N was
  // renamed over the server's archive; check found each configuration valid.
  const dir = t.testdir({ root: { journal: '', 'journal.1': '' }, pfx: {}, elsewhere: {} })
  symlinkSync(join(dir, 'root'), join(dir, 'rootlink'))
  symlinkSync(join(dir, 'root', 'journal'), join(dir, 'elsewhere', 'to-live'))
  const base = { server: { root: 'root' }, from: 1, listeners: [{ type: 'mirror', options: { dir: 'mirror' } }] }
  const refused = async (config: unknown, key: string, what: RegExp): Promise<void> => {
    const err = (await parseConfig(config, { baseDir: dir }).then(
      () => null,
      (e: unknown) => e,
    )) as LogdaemonError | null
    t.equal(err?.code, 'ERR_CONFIG_INVALID', `${key} refused`)
    const lines = (err?.details.problems ?? []) as string[]
    t.equal(lines.length, 1, `${key}: one problem`)
    t.match(lines[0], new RegExp(`^${key.replace(/[.[\]]/g, '\\$&')}: .*${what.source}.*logdaemon would write over the server's journal`), key)
  }
  await refused({ ...base, state: 'root/journal.7' }, 'state', /archived journal/)
  await refused({ ...base, state: 'root/../root/journal.2.gz' }, 'state', /archived journal/)
  await refused({ ...base, state: 'rootlink/journal.3' }, 'state', /archived journal/)
  await refused({ ...base, log: { file: 'root/journal.1' } }, 'log.file', /archived journal/)
  await refused({ ...base, log: { file: 'root/journal' } }, 'log.file', /live journal/)
  await refused({ ...base, log: { file: 'elsewhere/to-live' } }, 'log.file', /live journal \(a symlink to/)
  const print = (output: string) => ({ ...base, listeners: [{ type: 'print', options: { format: 'raw', output } }] })
  await refused(print('root/journal'), 'listeners[0].options.output', /live journal/)
  await refused(print('./rootlink/./journal'), 'listeners[0].options.output', /live journal/)
  const mirror = { type: 'mirror', options: { dir: 'mirror', stateFile: 'root/journal.4' } }
  await refused({ ...base, listeners: [mirror] }, 'listeners[0].options.stateFile', /archived journal/)
  const notify = {
    type: 'notify',
    options: { webhook: { url: 'https://hooks.example.com/x', secret: 'a-secret-of-16-chars' }, deliveryState: 'root/journal.5' },
  }
  await refused({ ...base, listeners: [notify] }, 'listeners[0].options.deliveryState', /archived journal/)
  // With a prefix and a live journal elsewhere: their names there, and the prefix's archives.
  const layout = { root: 'root', journal: '../pfx/live', prefix: '../pfx/main' }
  await refused({ ...base, server: layout, state: 'pfx/main.jnl.9' }, 'state', /archived journal/)
  await refused({ ...base, server: layout, log: { file: 'pfx/live' } }, 'log.file', /live journal/)

  // Names that only look alike, or are elsewhere, are fine.
  for (const state of ['root/journal.state.json', 'root/logdaemon.state.json', 'elsewhere/journal.1', 'root/journal.1.json', 'root/journal.lock']) {
    const c = await parseConfig({ ...base, state, log: { file: 'elsewhere/journal' } }, { baseDir: dir })
    t.equal(c.state, join(dir, state), `${state} is allowed`)
  }
  // With a prefix, ROOT/journal.N is still where an archive is looked for (archiveCandidates): refused too.
  await refused({ ...base, server: layout, state: 'root/journal.3' }, 'state', /archived journal/)
  const c = await parseConfig({ ...print('elsewhere/journal.2'), server: layout, state: 'pfx/main.ckp.3' }, { baseDir: dir })
  t.equal(c.state, join(dir, 'pfx/main.ckp.3'), 'a checkpoint name beside the prefix is not a journal')
})

t.test("a sql listener's SQLite replica is a file logdaemon writes: not in the journal set, not another written file, not the configuration", async (t) => {
  // A probe: `sqlite:root/journal` was valid for check and run, and run made the server's live journal (empty after a
  // rotation) a SQLite database: 24 KiB of SQLite pages where p4d appends its records. The state file and the log
  // could be the database too.
  const dir = t.testdir({ root: { journal: '', 'journal.1': '' }, etc: {} })
  symlinkSync(join(dir, 'root'), join(dir, 'rootlink'))
  const sql = (url: string, name = 'sql') => ({ type: 'sql', name, options: { url } })
  const base = { server: { root: 'root' }, from: 1 }
  const lines = (config: unknown) => configProblems(t, config, dir)
  t.match(await lines({ ...base, listeners: [sql('sqlite:root/journal')] }), [
    /^listeners\[0\]\.options\.url: .* is the server's live journal: logdaemon would write over the server's journal/,
  ])
  t.match(await lines({ ...base, listeners: [sql(`sqlite://${join(dir, 'rootlink/journal.2')}`)] }), [
    /^listeners\[0\]\.options\.url: .* is the name of an archived journal .*logdaemon would write over the server's journal/,
  ])
  t.same(await lines({ ...base, listeners: [sql('sqlite:root/journal.db')] }), [], 'a name beside the journal that is not one is fine')
  t.same(await lines({ ...base, listeners: [sql('sqlite:logdaemon.state.json')] }), [
    `listeners[0].options.url: ${join(dir, 'logdaemon.state.json')} is the file of state too (expected a file of its own)`,
  ])
  t.same(await lines({ ...base, log: { file: 'etc/replica.db-wal' }, listeners: [sql('sqlite:etc/replica.db')] }), [
    `listeners[0].options.url (its WAL file ${join(dir, 'etc/replica.db')}-wal): ${join(dir, 'etc/replica.db-wal')} is the file of log.file too (expected a file of its own)`,
  ])
  t.same(await lines({ ...base, listeners: [sql('sqlite:etc/r.db', 'a'), sql('sqlite:./etc/../etc/r.db', 'b')] }), [
    `listeners[1].options.url: ${join(dir, 'etc/r.db')} is the file of listeners[0].options.url too (expected a file of its own)`,
  ])
  // A hard link to the live journal or an archive is that journal under another name (a probe: check passed it, and
  // run made the empty live journal a SQLite database).
  linkSync(join(dir, 'root', 'journal'), join(dir, 'etc', 'hard.db'))
  linkSync(join(dir, 'root', 'journal.1'), join(dir, 'etc', 'hard1.log'))
  t.match(await lines({ ...base, listeners: [sql('sqlite:etc/hard.db')] }), [
    new RegExp(
      `^listeners\\[0\\]\\.options\\.url: .*etc/hard\\.db is the server's live journal ${join(dir, 'root', 'journal')} under another name \\(a hard link to it\\)`,
    ),
  ])
  t.match(await lines({ ...base, log: { file: 'etc/hard1.log' }, listeners: [sql('sqlite:etc/replica.db')] }), [
    new RegExp(`^log\\.file: .*etc/hard1\\.log is the archived journal ${join(dir, 'root', 'journal.1')} under another name \\(a hard link to it\\)`),
  ])
  writeFileSync(join(dir, 'etc', 'own.db'), '')
  linkSync(join(dir, 'etc', 'own.db'), join(dir, 'etc', 'own-backup.db'))
  t.same(await lines({ ...base, listeners: [sql('sqlite:etc/own.db')] }), [], 'a hard link to a file that is no journal is fine')
  const ok = await parseConfig({ ...base, listeners: [sql('sqlite:etc/replica.db'), sql('postgres://replica@db.example.com/p4', 'pg')] }, { baseDir: dir })
  t.equal(ok.listeners.length, 2, 'a replica of its own, and PostgreSQL, are fine')
})
