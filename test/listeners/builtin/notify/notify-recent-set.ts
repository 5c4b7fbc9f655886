import t from 'tap'
import { RecentSet } from '../../../../lib/listeners/builtin/notify/notify.js'

t.test('keeps the newest members up to the limit', async (t) => {
  const s = new RecentSet<number>(3)
  for (const n of [1, 2, 3]) s.add(n)
  t.equal(s.size, 3)
  s.add(1) // 1 becomes the newest
  s.add(4) // forgets 2, the oldest
  t.same(
    [1, 2, 3, 4].map((n) => s.has(n)),
    [true, false, true, true],
  )
  t.equal(s.size, 3)
})
