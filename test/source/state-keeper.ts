import t from 'tap'
import type { Test } from 'tap'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { readState, tailFingerprint, type SavedState } from '../../lib/files/state-file.js'
import { StateKeeper, type SavePoint } from '../../lib/source/state-keeper.js'

const point = (journal: number, offset: number): SavePoint => ({
  journal,
  offset,
  line: offset + 1,
  tail: Buffer.from(`tail ${journal}/${offset}`),
  file: { path: '/p4/journal', dev: 1, ino: 2, compressed: false },
})

function keeper(t: Test, minIntervalMs = 1000) {
  const path = join(t.testdir(), 'state')
  const saved: SavedState[] = []
  const errors: Error[] = []
  const k = new StateKeeper({ path, minIntervalMs, onSaved: (s) => saved.push(s), onError: (e) => errors.push(e) })
  return { k, path, saved, errors }
}

t.test('a commit saves the newest point at or before it, not past it', async (t) => {
  const { k, path, saved } = keeper(t)
  k.commit({ journal: 5, offset: 10 })
  await k.flush()
  t.equal(saved.length, 0, 'no point yet: nothing to save')
  k.addPoint(point(5, 100))
  k.addPoint(point(5, 200))
  k.addPoint(point(5, 300))
  k.commit({ journal: 5, offset: 250 })
  await k.flush()
  const s = await readState(path)
  t.same([s?.journal, s?.offset, s?.line], [5, 200, 201])
  t.same(s?.tail, tailFingerprint(Buffer.from('tail 5/200')))
  t.same(k.saved, { journal: 5, offset: 200 })
  t.equal(saved.length, 1)
  k.commit({ journal: 5, offset: 260 })
  await k.flush()
  t.equal(saved.length, 1, 'no newer point: no write')
})

t.test('writes at most once per interval, with the newest point', async (t) => {
  const { k, saved } = keeper(t, 150)
  const started = Date.now()
  for (let i = 1; i <= 20; i++) {
    k.addPoint(point(1, i * 10))
    k.commit({ journal: 1, offset: i * 10 })
    await sleep(10)
  }
  await sleep(200)
  const timed = saved.length
  const elapsed = Date.now() - started
  // The trailing write may still be due on a loaded machine: flush it rather than wait longer.
  await k.flush()
  // 20 commits ~10 ms apart take ~200 ms, longer on a loaded machine: the bound follows the time they took.
  t.ok(saved.length >= 2, `${saved.length} writes: the first at once, later ones after the interval`)
  t.ok(timed <= Math.floor(elapsed / 150) + 1, `${timed} timed writes in ${elapsed} ms, one per 150 ms at most`)
  const at = saved.slice(0, timed).map((s) => Date.parse(s.savedAt))
  const gaps = at.slice(1).map((ms, i) => ms - (at[i] as number))
  t.ok(
    gaps.every((gap) => gap >= 148),
    `timed writes 150 ms apart (a timer may fire a ms early): ${gaps.join(', ')} ms`,
  )
  t.same(k.saved, { journal: 1, offset: 200 })
  await k.close()
  k.addPoint(point(1, 300))
  k.commit({ journal: 1, offset: 300 })
  await sleep(20)
  t.same(k.saved, { journal: 1, offset: 200 }, 'after close, commits are ignored')
})

t.test('the end of a finished journal is saved as the start of the next, with where it ended', async (t) => {
  const cases = [
    // [what, point, journal ended (number, end, next), commit, saved [journal, offset, line, tail length], previous]
    [
      "journal 5's end, for a restart to check",
      100,
      [5, 100, 6],
      { journal: 6, offset: 0 },
      [6, 0, 1, 0],
      { journal: 5, end: 100, tail: tailFingerprint(Buffer.from('tail 5/100')) },
    ],
    // Read as journal 5, the live file was renamed to journal.7: journal 8 comes next, and journal.7 holds those bytes.
    [
      'after a renumbering, the number its file was archived under',
      100,
      [5, 100, 8],
      { journal: 8, offset: 0 },
      [8, 0, 1, 0],
      { journal: 7, end: 100, tail: tailFingerprint(Buffer.from('tail 5/100')) },
    ],
    ['a point inside a journal: no previous journal', 100, [5, 200, 6], { journal: 5, offset: 150 }, [5, 100, 101, 10], undefined],
  ] as const
  for (const [what, at, [n, end, next], commit, saved, previous] of cases) {
    const { k, path } = keeper(t)
    k.addPoint(point(5, at))
    k.journalEnded(n, end, next)
    k.commit(commit)
    await k.flush()
    const s = await readState(path)
    t.same([s?.journal, s?.offset, s?.line, s?.tail.length], saved, what)
    t.same(s?.previous, previous, what)
    if (saved[1] === 0) t.equal(s?.file, null, what)
  }
})

t.test('commits anywhere with an explicit point; seeded start position', async (t) => {
  const { k, saved } = keeper(t)
  k.started({ journal: 3, offset: 50 })
  k.commit({ journal: 3, offset: 40 }, point(3, 40))
  await k.flush()
  t.equal(saved.length, 0, 'not past the start: nothing to write')
  k.commit({ journal: 3, offset: 77 }, point(3, 77))
  await k.flush()
  t.same(k.saved, { journal: 3, offset: 77 })
})

t.test('a consumer that never commits: the queue stays bounded, a late commit still saves the newest', async (t) => {
  const { k } = keeper(t)
  for (let i = 1; i <= 25_000; i++) k.addPoint(point(1, i))
  k.commit({ journal: 1, offset: 24_999 })
  await k.flush()
  t.same(k.saved, { journal: 1, offset: 24_999 })
})

t.test('a failed write: onError once, flush rejects, nothing more is written', async (t) => {
  const dir = t.testdir({ file: 'x' })
  const errors: Error[] = []
  const k = new StateKeeper({ path: join(dir, 'file', 'state'), onError: (e) => errors.push(e) })
  k.addPoint(point(1, 10))
  k.commit({ journal: 1, offset: 10 })
  await t.rejects(k.flush(), { code: 'ERR_STATE_WRITE' })
  t.equal(errors.length, 1)
  k.addPoint(point(1, 20))
  k.commit({ journal: 1, offset: 20 })
  await t.rejects(k.flush(), { code: 'ERR_STATE_WRITE' })
  t.equal(errors.length, 1, 'reported once')
  t.equal(k.saved, null)
})

t.test('flush waits for a write under way and then writes what came after', async (t) => {
  const { k, saved } = keeper(t, 0)
  k.addPoint(point(1, 10))
  k.commit({ journal: 1, offset: 10 })
  k.addPoint(point(1, 20))
  k.commit({ journal: 1, offset: 20 })
  await k.flush()
  t.same(k.saved, { journal: 1, offset: 20 })
  t.same(
    saved.map((s) => s.offset),
    [10, 20],
  )
})

t.test('the interval between saves is kept on the monotonic clock: a wall clock stepped back holds no save back', async (t) => {
  const { k, saved } = keeper(t, 50)
  k.addPoint(point(4, 10))
  k.commit({ journal: 4, offset: 10 })
  while (saved.length === 0) await sleep(5)
  // NTP steps the clock back an hour (or a VM is restored): before, the next save waited for that hour.
  const now = Date.now
  Date.now = () => now() - 3_600_000
  t.teardown(() => void (Date.now = now))
  for (let i = 2; i <= 20; i++) {
    k.addPoint(point(4, i * 10))
    k.commit({ journal: 4, offset: i * 10 })
    await sleep(20)
  }
  await sleep(100)
  Date.now = now
  t.same(k.saved, { journal: 4, offset: 200 }, 'the newest commit is saved within the interval')
  t.ok(saved.length > 2, `saved several times (${saved.length})`)
  await k.close()
})
