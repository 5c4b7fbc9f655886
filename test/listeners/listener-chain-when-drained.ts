import t from 'tap'
import { Writable } from 'node:stream'
import { whenDrained } from '../../lib/listeners/listener-chain.js'

/** An object-mode Writable of highWaterMark 1 whose writes finish when `release()` is called. */
function held(): Writable & { release(): void } {
  let pending: (() => void)[] = []
  const w = new Writable({
    objectMode: true,
    highWaterMark: 1,
    write(_chunk, _enc, cb) {
      pending.push(() => cb())
    },
  }) as Writable & { release(): void }
  w.release = () => {
    const p = pending
    pending = []
    for (const f of p) f()
  }
  return w
}

t.test('nothing waits for drain: done at once', (t) => {
  let called = 0
  whenDrained([held(), held()], (err) => {
    t.equal(err, undefined)
    called++
  })
  t.equal(called, 1)
  t.end()
})

t.test('done once every full stream drained, and its listeners are removed', async (t) => {
  const a = held()
  const b = held()
  const idle = held()
  t.equal(a.write(1), false)
  t.equal(b.write(1), false)
  let called = 0
  whenDrained([a, idle, b], () => called++)
  a.release()
  await new Promise((r) => setImmediate(r))
  t.equal(called, 0, 'b is still full')
  b.release()
  await new Promise((r) => setImmediate(r))
  t.equal(called, 1)
  t.equal(a.listenerCount('drain') + b.listenerCount('drain'), 0)
  t.equal(a.listenerCount('close') + b.listenerCount('close'), 0)
})

t.test('an error before drain is passed on, once', async (t) => {
  const a = held()
  const b = held()
  // The chain has its own error listeners; whenDrained's are gone once it is done.
  for (const s of [a, b]) s.on('error', () => {})
  a.write(1)
  b.write(1)
  const errors: (Error | undefined)[] = []
  whenDrained([a, b], (err) => errors.push(err))
  a.destroy(new Error('listener failed'))
  b.destroy(new Error('second'))
  await new Promise((r) => setImmediate(r))
  t.equal(errors.length, 1)
  t.equal(errors[0]?.message, 'listener failed')
})

t.test('a close before drain is a premature close', async (t) => {
  const a = held()
  a.write(1)
  const errors: (Error | undefined)[] = []
  whenDrained([a], (err) => errors.push(err))
  a.destroy()
  await new Promise((r) => setImmediate(r))
  t.match(errors, [{ code: 'ERR_STREAM_PREMATURE_CLOSE' }])
})
