import t from 'tap'
import { appendFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ChangeWatcher } from '../../lib/source/change-watcher.js'

/**
 * A poll timer the test fires by hand: which of the file event and the poll
 * woke a waiter is then a fact, not a guess from how long the wait took.
 * Like the real one it keeps the process alive while armed (the watches do
 * not), with an interval that never wakes anyone.
 */
function manualTimer() {
  const armed: { ms: number; wake: () => void; cancelled: boolean }[] = []
  return {
    armed,
    schedule: (wake: () => void, ms: number) => {
      const keepAlive = setInterval(() => {}, 60_000)
      const timer = {
        ms,
        wake: () => {
          clearInterval(keepAlive)
          wake()
        },
        cancelled: false,
      }
      armed.push(timer)
      return () => {
        clearInterval(keepAlive)
        timer.cancelled = true
      }
    },
    /** Fires the newest armed timer, as its time having come. */
    fire: () => armed.at(-1)?.wake(),
  }
}

/** Resolves once `check` holds, looking every few ms (the fs event arrives when the kernel delivers it). */
async function until(check: () => boolean): Promise<void> {
  while (!check()) await sleep(5)
}

/** Whether a promise has settled yet, without waiting for it. */
function tracked(p: Promise<void>): { settled: () => boolean; done: Promise<void> } {
  let settled = false
  const done = p.then(() => {
    settled = true
  })
  return { settled: () => settled, done }
}

t.test('an append to a watched file wakes the waiter; the poll timer never fired', async (t) => {
  const dir = t.testdir({ journal: '' })
  const timer = manualTimer()
  const w = new ChangeWatcher({ dirs: [dir], pollMs: 5000, schedule: timer.schedule })
  t.teardown(() => w.close())
  t.equal(w.watching, 1)
  const waiting = w.wait()
  t.same(
    timer.armed.map((a) => a.ms),
    [5000],
    'the wait armed the poll timer with pollMs',
  )
  appendFileSync(join(dir, 'journal'), 'x')
  await waiting
  t.ok(w.events >= 1, 'woken by the event')
  t.equal(timer.armed[0]?.cancelled, true, 'and the poll timer was cancelled')
})

t.test('an event while nobody waits makes the next wait return at once, without arming the timer', async (t) => {
  const dir = t.testdir({ journal: '' })
  const timer = manualTimer()
  const w = new ChangeWatcher({ dirs: [dir], pollMs: 5000, schedule: timer.schedule })
  t.teardown(() => w.close())
  appendFileSync(join(dir, 'journal'), 'x')
  await until(() => w.events > 0)
  await w.wait()
  t.equal(timer.armed.length, 0, 'no timer: the wait returned at once')
})

t.test('uninteresting names do not wake; the poll does', async (t) => {
  const dir = t.testdir({ journal: '', 'db.rev': '' })
  const timer = manualTimer()
  const seen: string[] = []
  const isInteresting = (name: string) => {
    seen.push(name)
    return name === 'journal'
  }
  const w = new ChangeWatcher({ dirs: [dir], pollMs: 150, isInteresting, schedule: timer.schedule })
  t.teardown(() => w.close())
  const waiting = tracked(w.wait())
  writeFileSync(join(dir, 'db.rev'), 'y')
  await until(() => seen.includes('db.rev'))
  await sleep(0)
  t.equal(waiting.settled(), false, 'the db.rev event did not wake the waiter')
  timer.fire()
  await waiting.done
  t.equal(w.events, 0, 'only the poll timer woke it')
})

t.test('the default poll timer wakes a waiter when no event comes', async (t) => {
  const w = new ChangeWatcher({ dirs: [join(t.testdir(), 'missing')], pollMs: 10 })
  t.teardown(() => w.close())
  await w.wait()
  t.equal(w.events, 0)
})

t.test('a missing directory is polled only; abort and close release the waiter', async (t) => {
  const dir = t.testdir()
  const timer = manualTimer()
  const w = new ChangeWatcher({ dirs: [join(dir, 'missing')], pollMs: 60_000, schedule: timer.schedule })
  t.equal(w.watching, 0)
  const ac = new AbortController()
  const waiting = w.wait(ac.signal)
  ac.abort()
  await waiting
  t.pass('abort released the waiter')
  t.equal(timer.armed[0]?.cancelled, true, 'and cancelled its timer')
  await w.wait(ac.signal)
  t.pass('an aborted signal returns at once')
  const again = w.wait()
  w.close()
  await again
  await w.wait()
  w.close()
  t.pass('close released it; waits after close return at once; close is idempotent')
})
