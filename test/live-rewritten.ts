/**
 * The live journal rewritten in place: the same inode, new content longer
 * than the read offset, record boundaries aligned. Going on from the old
 * offset would silently skip the new records before it; the follower must
 * notice at its next wake-up (the bytes just before the offset changed) and
 * stop with ERR_STATE_MISMATCH.
 */
import t from 'tap'
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { RotatingJournalSource } from '../lib/source/rotating-journal-source.js'
import { consume, until } from './helpers/follow.js'

const records = (tag: string, n: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => `@pv@ 1 @db.counters@ @${tag}${i}@ @${i}@ \n@ex@ ${100 + i} 1611008050\n`).join(''))

// todo: a known race, seen once under load (2026-12-02): when the rewrite lands while the source is between a
// read that returned nothing and the next one (not in its wait), it reads on without the prefix check.
t.test(
  'rewritten in place, longer than the offset: ERR_STATE_MISMATCH, nothing of the new content after the offset delivered',
  { todo: 'the prefix check runs after a wait only; a rewrite between two reads can slip past it' },
  async (t) => {
    const root = t.testdir()
    const live = join(root, 'journal')
    const before = records('old', 50)
    writeFileSync(live, before)
    const source = new RotatingJournalSource({ root, from: 0, pollMs: 50, graceMs: 200 })
    const c = consume(source)
    await until(() => c.seen.journal(0).length === before.length, 10_000, 'the first content')
    // The same inode, rewritten from its start with other records, longer than what was read.
    const after = records('new', 80)
    const fd = openSync(live, 'r+')
    writeSync(fd, after, 0, after.length, 0)
    closeSync(fd)
    await until(() => c.error() !== null || c.seen.journal(0).length > before.length, 10_000, 'an error or more entries')
    await c.stop()
    t.equal((c.error() as (Error & { code?: string }) | null)?.code, 'ERR_STATE_MISMATCH', 'stopped with ERR_STATE_MISMATCH')
    t.equal(c.seen.journal(0).length, before.length, 'nothing of the rewritten file was delivered as if it followed')
  },
)

t.test('appends keep going: the check does not fire on a journal that only grows', async (t) => {
  const root = t.testdir()
  const live = join(root, 'journal')
  const first = records('a', 10)
  writeFileSync(live, first)
  const source = new RotatingJournalSource({ root, from: 0, pollMs: 50, graceMs: 200 })
  const c = consume(source)
  let expected = first
  for (let i = 0; i < 5; i++) {
    await until(() => c.seen.journal(0).length === expected.length, 10_000, `round ${i}`)
    const more = records(`b${i}x`, 3)
    const fd = openSync(live, 'a')
    writeSync(fd, more)
    closeSync(fd)
    expected = Buffer.concat([expected, more])
  }
  await until(() => c.seen.journal(0).length === expected.length, 10_000, 'the last round')
  await c.stop()
  t.equal(c.error(), null)
  t.ok(c.seen.journal(0).equals(expected))
})
