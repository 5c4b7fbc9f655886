import t from 'tap'
import fc from 'fast-check'
import type { JournalEntry } from '../../../../../lib/journal/entry.js'
import { ReviewState } from '../../../../../lib/listeners/builtin/notify/reviews/review-state.js'
import { ReviewTransactions } from '../../../../../lib/listeners/builtin/notify/reviews/review-transactions.js'
import { ConsistencyTracker } from '../../../../../lib/source/consistency.js'
import { journal, q } from '../../../../helpers/review-journal.js'

/**
 * ReviewTransactions: db.user and db.review records reach the review state
 * when the server commits their transaction, by the journal's marker rules,
 * and a state saved in the middle of open transactions replays to the same
 * state after a crash.
 */

const T = 1611008050
const review = (op: 'pv' | 'dv', name: string, seq: number, path: string): string => `@${op}@ 1 @db.review@ ${q(name)} ${seq} 0 ${q(path)} 0 \n`
const userRow = (name: string, email: string): string => `@pv@ 7 @db.user@ ${q(name)} ${q(email)} @@ ${T} ${T} ${q(name)} @@ 0 @@ 0 0 0 0 0 0 \n`
const ex = (pid: number): string => `@ex@ ${pid} ${T}\n`
const mx = (pid: number): string => `@mx@ ${pid} ${T}\n`
const restartNote = `@nx@ 7 ${T} @50@ 0 0 0 0 0 @1666@ @.@ @@ @@ @@ \n`

const fresh = (): ReviewState => new ReviewState({ caseInsensitive: false, origin: 'test' })
/** Each reviewer's lines, as the state holds them: `user: seq=path, …`. */
const linesOf = (s: ReviewState): string[] =>
  s
    .toJSON()
    .reviews.map(
      (r) =>
        `${r.user}: ${[...r.rows]
          .sort((a, b) => a.seq - b.seq)
          .map((row) => `${row.seq}=${row.path}`)
          .join(', ')}`,
    )
    .sort()

function feedAll(tx: ReviewTransactions, entries: readonly JournalEntry[]): { applied: number; abandoned: number; overflowed: number } {
  const sum = { applied: 0, abandoned: 0, overflowed: 0 }
  for (const e of entries) {
    const step = tx.see(e)
    sum.applied += step.applied
    sum.abandoned += step.abandoned
    if (step.overflowed) sum.overflowed++
  }
  return sum
}

t.test('a record waits for its @ex@; @mx@ parks it with its pid; a restart note drops what no @ex@ ended', async (t) => {
  const s = fresh()
  const tx = new ReviewTransactions(s)
  const entries = await journal(
    review('pv', 'carol', 0, '//a/...') + mx(77) + review('pv', 'dan', 0, '//b/...') + ex(78) + review('pv', 'erin', 0, '//c/...') + restartNote,
  )
  const [carol, parkCarol, dan, end78, erin, note] = entries as JournalEntry[]
  t.same(tx.see(carol as JournalEntry), { applied: 0, abandoned: 0, overflowed: false })
  tx.see(parkCarol as JournalEntry)
  tx.see(dan as JournalEntry)
  t.same(linesOf(s), [], 'nothing committed yet')
  t.same(tx.see(end78 as JournalEntry), { applied: 1, abandoned: 0, overflowed: false })
  t.same(linesOf(s), ['dan: 0=//b/...'], "78 committed dan's record; carol's waits for 77")
  tx.see(erin as JournalEntry)
  t.equal(tx.held, 2)
  t.same(tx.see(note as JournalEntry), { applied: 0, abandoned: 2, overflowed: false }, "carol's (77 never ended) and erin's (no marker) are dropped")
  t.equal(tx.held, 0)
  t.same(linesOf(s), ['dan: 0=//b/...'])
})

t.test('without markers, records wait for the journal to go quiet (flushUnmarked), as unmarked changes do', async (t) => {
  const s = fresh()
  const tx = new ReviewTransactions(s)
  const entries = await journal(review('pv', 'carol', 0, '//a/...') + restartNote + review('pv', 'dan', 0, '//b/...'))
  t.same(feedAll(tx, entries), { applied: 0, abandoned: 0, overflowed: 0 }, 'a restart note drops nothing in a journal without markers')
  t.same(tx.flushUnmarked(), { applied: 2, abandoned: 0, overflowed: false })
  t.same(linesOf(s), ['carol: 0=//a/...', 'dan: 0=//b/...'])

  const marked = new ReviewTransactions(fresh())
  marked.assumeMarkers()
  feedAll(marked, await journal(review('pv', 'carol', 0, '//a/...')))
  t.same(marked.flushUnmarked(), { applied: 0, abandoned: 0, overflowed: false }, 'with markers, quiet is a transaction still being written')
  t.equal(marked.held, 1)
})

t.test('bounds: held records past their memory are applied in journal order; too many open transactions drop the oldest', async (t) => {
  const s = fresh()
  const tx = new ReviewTransactions(s, { maxHeldBytes: 1300 })
  tx.assumeMarkers()
  const text = review('pv', 'a', 0, '//1') + mx(1) + review('pv', 'a', 0, '//2') + mx(2) + review('pv', 'a', 0, '//3') + review('pv', 'b', 0, '//4')
  t.same(feedAll(tx, await journal(text)), { applied: 4, abandoned: 0, overflowed: 1 })
  t.same(linesOf(s), ['a: 0=//3', 'b: 0=//4'], 'in journal order: the last put of a wins (three records cost 1,224 bytes, four more than 1,300)')
  t.equal(tx.held, 0)
  t.equal(tx.heldBytes, 0)

  const s2 = fresh()
  const few = new ReviewTransactions(s2, { maxOpen: 2 })
  const open3 = review('pv', 'a', 0, '//1') + mx(1) + review('pv', 'b', 0, '//2') + mx(2) + review('pv', 'c', 0, '//3') + mx(3)
  t.same(feedAll(few, await journal(open3 + ex(1) + ex(2) + ex(3))), { applied: 2, abandoned: 1, overflowed: 0 })
  t.same(linesOf(s2), ['b: 0=//2', 'c: 0=//3'], "pid 1's transaction, the oldest open, was dropped")
})

t.test('users: an address book edit waits for its transaction too', async (t) => {
  const s = fresh()
  const tx = new ReviewTransactions(s)
  feedAll(tx, await journal(userRow('carol', 'carol@x') + mx(5)))
  t.equal(s.user('carol'), null)
  feedAll(tx, await journal(ex(5)))
  t.match(s.user('carol'), { email: 'carol@x' })
})

/** One transaction piece of the generated journals: records of a pid, then its @mx@ (more to come) or @ex@. */
interface Piece {
  kind: 'piece'
  pid: number
  edits: { op: 'pv' | 'dv'; user: string; seq: number; path: string }[]
  end: 'mx' | 'ex'
}
type Step = Piece | { kind: 'restart'; cut: Piece['edits'] }

const edit = fc.record({
  op: fc.constantFrom<'pv' | 'dv'>('pv', 'pv', 'dv'),
  user: fc.constantFrom('ann', 'bob', 'cy'),
  seq: fc.integer({ min: 0, max: 2 }),
  path: fc.constantFrom('//depot/a/...', '//depot/b/...', '//depot/c/*'),
})
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constant<'piece'>('piece'),
      pid: fc.integer({ min: 1, max: 4 }),
      edits: fc.array(edit, { maxLength: 3 }),
      end: fc.constantFrom<'mx' | 'ex'>('mx', 'ex', 'ex'),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant<'restart'>('restart'), cut: fc.array(edit, { maxLength: 2 }) }) },
)

const textOf = (steps: readonly Step[]): string =>
  steps
    .map((s) => {
      const rows = (s.kind === 'piece' ? s.edits : s.cut).map((e) => review(e.op, e.user, e.seq, e.path)).join('')
      return s.kind === 'piece' ? rows + (s.end === 'mx' ? mx(s.pid) : ex(s.pid)) : rows + restartNote
    })
    .join('')

/** What the records still held at the end cost (heldCost: 400 bytes a record, two a character of its user and path). */
function heldAtEnd(steps: readonly Step[]): number {
  const open = new Map<number, Piece['edits']>()
  for (const s of steps) {
    if (s.kind === 'restart') open.clear()
    else if (s.end === 'ex') open.delete(s.pid)
    else open.set(s.pid, [...(open.get(s.pid) ?? []), ...s.edits])
  }
  let bytes = 0
  for (const edits of open.values()) for (const e of edits) bytes += 400 + 2 * (e.user.length + (e.op === 'pv' ? e.path.length : 0))
  return bytes
}

/** The reference: each committed transaction's rows, applied at its @ex@ in the order written; what a restart cut, never. */
function reference(steps: readonly Step[]): string[] {
  const rows = new Map<string, Map<number, string>>()
  const open = new Map<number, Piece['edits']>()
  for (const s of steps) {
    if (s.kind === 'restart') {
      open.clear()
      continue
    }
    const edits = [...(open.get(s.pid) ?? []), ...s.edits]
    if (s.end === 'mx') {
      open.set(s.pid, edits)
      continue
    }
    open.delete(s.pid)
    for (const e of edits) {
      const mine = rows.get(e.user) ?? new Map<number, string>()
      if (e.op === 'pv') mine.set(e.seq, e.path)
      else mine.delete(e.seq)
      if (mine.size > 0) rows.set(e.user, mine)
      else rows.delete(e.user)
    }
  }
  return [...rows]
    .map(
      ([user, mine]) =>
        `${user}: ${[...mine]
          .sort((a, b) => a[0] - b[0])
          .map(([seq, path]) => `${seq}=${path}`)
          .join(', ')}`,
    )
    .sort()
}

t.test('property: the state is what the committed transactions wrote, and a crash anywhere replays to the same state', async (t) => {
  let cases = 0
  let savedInsideOpen = 0
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 14 }), fc.nat(), async (steps, crashSeed) => {
      cases++
      const entries = await journal(textOf(steps))
      const want = reference(steps)

      // One run, no crash (the first marker is the first record's: a journal p4d wrote).
      const whole = fresh()
      const tx = new ReviewTransactions(whole)
      tx.assumeMarkers()
      feedAll(tx, entries)
      if (JSON.stringify(linesOf(whole)) !== JSON.stringify(want)) return false
      // What is held is counted exactly, on every path that lets records go.
      if (tx.heldBytes !== heldAtEnd(steps)) return false

      // Killed after entry `crash`, with the state saved there; the daemon resumes after its last consistency point.
      const crash = crashSeed % entries.length
      const first = fresh()
      const before = new ReviewTransactions(first)
      before.assumeMarkers()
      feedAll(before, entries.slice(0, crash + 1))
      if (before.held > 0) savedInsideOpen++
      const reloaded = ReviewState.fromJSON(JSON.parse(JSON.stringify(first.toJSON())))
      const tracker = new ConsistencyTracker()
      let resume = 0
      entries.slice(0, crash + 1).forEach((e, i) => {
        if (tracker.update(e)) resume = i + 1
      })
      const after = new ReviewTransactions(reloaded)
      after.assumeMarkers()
      feedAll(after, entries.slice(resume))
      return JSON.stringify(linesOf(reloaded)) === JSON.stringify(want)
    }),
    { numRuns: 1500 },
  )
  t.ok(savedInsideOpen > cases / 10, `${savedInsideOpen} of ${cases} crashes saved the state with records held`)
})
