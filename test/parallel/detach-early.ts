/**
 * detachEarly: detaches a throwaway ArrayBuffer of its own, once, and
 * touches nothing else (the buffers a thread holds stay as they are).
 */
import t from 'tap'
import { detachEarly } from '../../lib/parallel/detach-early.js'

t.test('detaches only its own buffer, and is safe to call again', async (t) => {
  const held = Buffer.from('journal bytes')
  const own = new Uint8Array(new ArrayBuffer(16))
  detachEarly()
  detachEarly()
  t.equal(held.toString(), 'journal bytes')
  t.equal(own.byteLength, 16)
  // A later transfer still works as before.
  const moved = new ArrayBuffer(4)
  const copy = structuredClone(moved, { transfer: [moved] })
  t.equal(moved.byteLength, 0)
  t.equal(copy.byteLength, 4)
})

t.test('invalidates V8 detach protector at the call, once (what it is for)', async (t) => {
  const { execFileSync } = await import('node:child_process')
  const module = new URL('../../lib/parallel/detach-early.ts', import.meta.url).href
  // The thread's first detach happens inside the call: V8 reports the protector's invalidation between the first two marks, and not again.
  const script = `const { detachEarly } = await import(${JSON.stringify(module)}); console.log('before'); detachEarly(); console.log('after'); detachEarly(); console.log('again')`
  const out = execFileSync(process.execPath, [...process.execArgv, '--trace-protector-invalidation', '--input-type=module', '-e', script], { encoding: 'utf8' })
  const lines = out.split('\n').filter((line) => line === 'before' || line === 'after' || line === 'again' || line.includes('ArrayBufferDetaching'))
  // From the first mark: the test runner's loader thread, another V8 isolate, may report its own first.
  t.same(lines.slice(lines.indexOf('before')), ['before', 'Invalidating protector cell ArrayBufferDetaching', 'after', 'again'])
})
