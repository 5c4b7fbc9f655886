import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import { checkListenerModule, loadListener, withName } from '../../lib/listeners/load-listener.js'
import { BaseListener } from '../../lib/listeners/listener.js'
import { transactions } from '../helpers/entries.js'

const listenerSource = `
export default function create(options, context) {
  const seen = []
  return {
    name: context.name, options, seen,
    isHandled: () => true,
    listen(entry) { seen.push(entry.op) },
    noData() {}, close() {},
  }
}
`

t.test('loads a factory from a path relative to baseDir, with options and name', async (t) => {
  const dir = t.testdir({ 'my-listener.mjs': listenerSource })
  const l = (await loadListener('./my-listener.mjs', { name: 'audit', options: { level: 2 }, baseDir: dir })) as BaseListener & {
    options: unknown
    seen: string[]
  }
  t.equal(l.name, 'audit')
  t.same(l.options, { level: 2 })
  await l.listen(transactions(1).entries[0]!)
  t.same(l.seen, ['pv'])
  const abs = await loadListener(join(dir, 'my-listener.mjs'), { name: 'abs' })
  t.equal(abs.name, 'abs')
})

t.test('createListener, a class, a listener object, and a bare package name from baseDir', async (t) => {
  const dir = t.testdir({
    'named.mjs': `export function createListener(o, c) { return { name: c.name, isHandled: () => true, listen() {}, noData() {}, close() {} } }`,
    'cls.mjs': `export default class Audit { constructor(o, c) { this.name = c.name; this.o = o } isHandled() { return true } listen() {} noData() {} close() {} }`,
    'obj.mjs': `export const listener = { name: 'fixed', isHandled: () => true, listen() {}, noData() {}, close() {} }`,
    node_modules: {
      'p4-audit': {
        'package.json': JSON.stringify({ name: 'p4-audit', type: 'module', exports: './index.js' }),
        'index.js': listenerSource,
      },
    },
  })
  t.equal((await loadListener('./named.mjs', { name: 'n', baseDir: dir })).name, 'n')
  const cls = (await loadListener('./cls.mjs', { name: 'c', options: { a: 1 }, baseDir: dir })) as unknown as { name: string; o: unknown }
  t.equal(cls.name, 'c')
  t.same(cls.o, { a: 1 })
  const obj = await loadListener('./obj.mjs', { name: 'renamed', baseDir: dir })
  t.equal(obj.name, 'renamed', 'the configured name wins')
  t.equal((await loadListener('p4-audit', { name: 'pkg', baseDir: dir })).name, 'pkg')
})

t.test('inline factories and objects (JS configurations)', async (t) => {
  class Mine extends BaseListener {
    listen(): void {}
  }
  t.equal((await loadListener(async (_o, c) => new Mine(c.name), { name: 'async-made' })).name, 'async-made')
  t.equal((await loadListener(new Mine('same'), { name: 'same' })).name, 'same')
})

t.test('every failure is ERR_LISTENER_LOAD naming the module', async (t) => {
  const dir = t.testdir({
    'empty.mjs': 'export const x = 1',
    'throws.mjs': 'throw new Error("top-level boom")',
    'bad-factory.mjs': 'export default () => ({ name: "x" })',
    'factory-throws.mjs': 'export default () => { throw new Error("no token") }',
    'syntax.mjs': 'export default {',
  })
  const cases: [string, RegExp][] = [
    ['./missing.mjs', /listener module \.\/missing\.mjs cannot be imported/],
    ['no-such-package-xyz', /listener module no-such-package-xyz cannot be imported/],
    ['./empty.mjs', /listener module \.\/empty\.mjs exports no listener/],
    ['./throws.mjs', /cannot be imported \(top-level boom\)/],
    ['./bad-factory.mjs', /did not produce a listener/],
    ['./factory-throws.mjs', /failed to create the listener "l": no token/],
    ['./syntax.mjs', /\.\/syntax\.mjs cannot be imported/],
  ]
  for (const [spec, message] of cases) {
    await t.rejects(loadListener(spec, { name: 'l', baseDir: dir }), { code: 'ERR_LISTENER_LOAD', message, details: { module: spec } }, spec)
  }
  await t.rejects(loadListener({ name: 'x' } as never, { name: 'x' }), { code: 'ERR_LISTENER_LOAD' })
})

t.test('a module path that is a FIFO or a directory: refused at once (import() of a FIFO never returned)', async (t) => {
  const dir = t.testdir({ sub: {} })
  execFileSync('mkfifo', [join(dir, 'fifo.mjs')])
  const cases: [string, RegExp][] = [
    ['./fifo.mjs', /listener module \.\/fifo\.mjs is a FIFO, not a file/],
    ['./sub', /listener module \.\/sub is a directory, not a file/],
  ]
  for (const [spec, message] of cases) {
    await t.rejects(loadListener(spec, { name: 'l', baseDir: dir }), { code: 'ERR_LISTENER_LOAD', message }, spec)
    await t.rejects(checkListenerModule(spec, dir), { code: 'ERR_LISTENER_LOAD', message }, `${spec}: check too`)
  }
})

t.test('withName delegates every method', async (t) => {
  const calls: string[] = []
  const inner = {
    name: 'inner',
    open: () => void calls.push('open'),
    isHandled: () => {
      calls.push('isHandled')
      return true
    },
    listen: () => void calls.push('listen'),
    noData: (h: boolean) => void calls.push(`noData ${h}`),
    sync: () => void calls.push('sync'),
    close: () => void calls.push('close'),
  }
  const v = withName(inner, 'outer')
  t.equal(v.name, 'outer')
  const e = transactions(1).entries[0]!
  await v.open?.({ start: null, logger: console, signal: new AbortController().signal })
  v.isHandled(e)
  await v.listen(e)
  await v.noData(true)
  await v.sync?.({ journal: 1, offset: 0 })
  await v.close()
  t.same(calls, ['open', 'isHandled', 'listen', 'noData true', 'sync', 'close'])
  t.equal(withName(inner, 'inner'), inner)
  t.equal(withName({ ...inner, acknowledged: () => '3/9' }, 'outer').acknowledged?.(), '3/9', 'acknowledged too')
})

t.test('a module listener with only isHandled and listen: noData and close do nothing (they failed the first quiet period and the stop)', async (t) => {
  const dir = t.testdir({ 'bare.mjs': 'export default () => ({ name: "bare", isHandled: () => true, listen() {} })\n' })
  const l = await loadListener('./bare.mjs', { name: 'bare', baseDir: dir })
  t.equal(l.name, 'bare')
  t.doesNotThrow(() => l.noData(true))
  t.doesNotThrow(() => l.close())
})
