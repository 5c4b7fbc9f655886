import t from 'tap'
import { WriteTimes } from '../../lib/status/write-times.js'

t.test('the first time a byte was seen on disk', async (t) => {
  const w = new WriteTimes()
  t.equal(w.seenAt({ journal: 1, offset: 0 }), null, 'nothing sampled')
  w.sample(1000, 1, 100)
  w.sample(2000, 1, 100) // no growth: not kept
  w.sample(3000, 1, 250)
  w.sample(4000, 2, 10)
  t.equal(w.seenAt({ journal: 1, offset: 99 }), 1000)
  t.equal(w.seenAt({ journal: 1, offset: 100 }), 3000)
  t.equal(w.seenAt({ journal: 1, offset: 250 }), 4000, 'the end of journal 1: seen when journal 2 appeared')
  t.equal(w.seenAt({ journal: 2, offset: 9 }), 4000)
  t.equal(w.seenAt({ journal: 2, offset: 10 }), null, 'not on disk yet')
})

t.test('bounded: the newest samples stay, the oldest thin out, the first is kept', async (t) => {
  const w = new WriteTimes()
  for (let i = 1; i <= 100_000; i++) w.sample(i * 1000, 1, i)
  t.equal(w.seenAt({ journal: 1, offset: 0 }), 1000, 'the first sample survives thinning')
  t.equal(w.seenAt({ journal: 1, offset: 99_999 }), 100_000 * 1000, 'the newest is exact')
  const mid = w.seenAt({ journal: 1, offset: 50_000 })!
  t.ok(mid >= 50_001 * 1000, 'never earlier than the truth (a lower bound of the age)')
})
