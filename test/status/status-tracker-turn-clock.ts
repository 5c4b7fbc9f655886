import t from 'tap'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { StatusTracker, TurnClock } from '../../lib/status/status-tracker.js'

t.test('reads its source once per event-loop turn', async (t) => {
  let reads = 0
  const clock = new TurnClock(() => 1000 * ++reads)
  t.equal(clock.now(), 1000)
  t.equal(clock.now(), 1000, 'the same turn reuses the reading')
  await Promise.resolve()
  t.equal(clock.now(), 1000, 'microtasks are the same turn')
  await nextTurn()
  t.equal(clock.now(), 2000, 'a new turn reads again')
  t.equal(reads, 2)
})

t.test('defaults to the system clock', async (t) => {
  const before = Date.now()
  const now = new TurnClock().now()
  t.ok(now >= before && now <= Date.now())
})

t.test('the tracker uses it by default', async (t) => {
  const tracker = new StatusTracker()
  const first = tracker.snapshot().now
  t.equal(tracker.snapshot().now, first, 'one reading per turn')
  t.equal(tracker.snapshot().startedAt, first)
})
