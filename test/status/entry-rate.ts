import t from 'tap'
import fc from 'fast-check'
import { EntryRate, HISTORY_POINTS, HISTORY_STEP, RATE_SECONDS } from '../../lib/status/entry-rate.js'

/** The rule, stated without a ring: keep every timestamp, count on demand. */
function model(startMs: number, stamps: number[], second: number) {
  const startSecond = Math.floor(startMs / 1000)
  const count = (from: number, to: number) => stamps.filter((s) => Math.floor(s / 1000) >= from && Math.floor(s / 1000) < to).length
  const from = Math.max(second - RATE_SECONDS, startSecond)
  const perSecond = second > from ? count(from, second) / (second - from) : 0
  const history: { at: string; entries: number; perSecond: number }[] = []
  for (let end = Math.floor(second / HISTORY_STEP) * HISTORY_STEP; end > startSecond && history.length < HISTORY_POINTS; end -= HISTORY_STEP) {
    const begin = Math.max(end - HISTORY_STEP, startSecond)
    const entries = count(begin, end)
    history.unshift({ at: new Date((end - HISTORY_STEP) * 1000).toISOString(), entries, perSecond: entries / (end - begin) })
  }
  return { perSecond, history }
}

t.test('matches the rule for any sequence of entries and pauses', async (t) => {
  const step = fc.record({
    // Mostly sub-second steps, some pauses past the history span, some clock steps back.
    pause: fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: 0, max: 3000 }) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: 2_000_000 }) },
      { weight: 1, arbitrary: fc.integer({ min: -5000, max: 0 }) },
    ),
    entries: fc.integer({ min: 0, max: 4 }),
  })
  fc.assert(
    fc.property(fc.integer({ min: 1_600_000_000_000, max: 1_800_000_000_000 }), fc.array(step, { maxLength: 60 }), (start, steps) => {
      const rate = new EntryRate(start)
      const stamps: number[] = []
      let now = start
      // The newest second seen: a clock that steps back counts there.
      let head = Math.floor(start / 1000)
      for (const s of steps) {
        now += s.pause
        head = Math.max(head, Math.floor(now / 1000))
        for (let i = 0; i < s.entries; i++) {
          rate.count(now)
          stamps.push(head * 1000)
        }
        const expected = model(start, stamps, head)
        if (rate.perSecond(now) !== expected.perSecond) return false
        if (JSON.stringify(rate.history(now)) !== JSON.stringify(expected.history)) return false
      }
      return true
    }),
    { numRuns: 300 },
  )
  t.pass('ring and model agree')
})

t.test('a query before the newest count does not move the ring back', async (t) => {
  const rate = new EntryRate(10_000)
  rate.count(15_000)
  t.equal(rate.perSecond(12_000), 0, 'seconds 5 to 15: nothing complete yet counted')
  t.equal(rate.perSecond(16_000), 1 / 6, 'seconds 10 (start) to 16')
})
