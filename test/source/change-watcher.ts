import t from 'tap'
import { appendFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ChangeWatcher } from '../../lib/source/change-watcher.js'

t.test('an append to a watched file wakes the waiter at once', async (t) => {
  const dir = t.testdir({ journal: '' })
  const w = new ChangeWatcher({ dirs: [dir], pollMs: 5000 })
  t.teardown(() => w.close())
  t.equal(w.watching, 1)
  const started = Date.now()
  const waiting = w.wait()
  setTimeout(() => appendFileSync(join(dir, 'journal'), 'x'), 20)
  await waiting
  t.ok(Date.now() - started < 1000, 'woken by the event, not the poll')
  t.ok(w.events >= 1)
})

t.test('an event while nobody waits makes the next wait return at once', async (t) => {
  const dir = t.testdir({ journal: '' })
  const w = new ChangeWatcher({ dirs: [dir], pollMs: 5000 })
  t.teardown(() => w.close())
  appendFileSync(join(dir, 'journal'), 'x')
  await new Promise((r) => setTimeout(r, 50))
  const started = Date.now()
  await w.wait()
  t.ok(Date.now() - started < 100)
})

t.test('uninteresting names do not wake; the poll does', async (t) => {
  const dir = t.testdir({ journal: '', 'db.rev': '' })
  const w = new ChangeWatcher({ dirs: [dir], pollMs: 150, isInteresting: (name) => name === 'journal' })
  t.teardown(() => w.close())
  const started = Date.now()
  const waiting = w.wait()
  setTimeout(() => writeFileSync(join(dir, 'db.rev'), 'y'), 10)
  await waiting
  t.ok(Date.now() - started >= 140, 'only the poll timer woke it')
  t.equal(w.events, 0)
})

t.test('a missing directory is polled only; abort and close release the waiter', async (t) => {
  const dir = t.testdir()
  const w = new ChangeWatcher({ dirs: [join(dir, 'missing')], pollMs: 60_000 })
  t.equal(w.watching, 0)
  const ac = new AbortController()
  const waiting = w.wait(ac.signal)
  setTimeout(() => ac.abort(), 10)
  await waiting
  t.pass('abort released the waiter')
  await w.wait(ac.signal)
  t.pass('an aborted signal returns at once')
  const again = w.wait()
  w.close()
  await again
  await w.wait()
  w.close()
  t.pass('close released it; waits after close return at once; close is idempotent')
})
