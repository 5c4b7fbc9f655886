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
import { rewriteInPlace } from './helpers/rewrite.js'

const records = (tag: string, n: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => `@pv@ 1 @db.counters@ @${tag}${i}@ @${i}@ \n@ex@ ${100 + i} 1611008050\n`).join(''))

/**
 * The race the last wave left (seen once under load): the rewrite lands
 * after a read that returned data and before the next read, so no wait at
 * the end of the file comes between. It is made certain here, not left to
 * luck: the consumer holds its first entry, so the source has read the whole
 * file but cannot read again (its buffer is full) until the consumer goes on,
 * and the rewrite happens in that window.
 */
t.test('rewritten in place between two reads: ERR_STATE_MISMATCH, nothing of the new content after the offset delivered', async (t) => {
  const root = t.testdir()
  const live = join(root, 'journal')
  const before = records('old', 50)
  writeFileSync(live, before)
  const source = new RotatingJournalSource({ root, from: 0, pollMs: 50, graceMs: 200 })
  const c = consume(source)
  const release = c.hold()
  await until(() => source.status.position?.offset === before.length, 10_000, 'the source to have read the whole file')
  // The same inode, rewritten from its start with other records, longer than what was read.
  rewriteInPlace(live, records('new', 80))
  release()
  await until(() => c.error() !== null || c.seen.journal(0).length > before.length, 10_000, 'an error or more entries')
  await c.stop()
  t.equal((c.error() as (Error & { code?: string }) | null)?.code, 'ERR_STATE_MISMATCH', 'stopped with ERR_STATE_MISMATCH')
  t.ok(c.seen.journal(0).equals(before), 'every old entry, and nothing of the rewritten file as if it followed')
})

t.test('rewritten in place while the source waits at the end: ERR_STATE_MISMATCH', async (t) => {
  const root = t.testdir()
  const live = join(root, 'journal')
  const before = records('old', 50)
  writeFileSync(live, before)
  const source = new RotatingJournalSource({ root, from: 0, pollMs: 50, graceMs: 200, quietMs: 50 })
  let waits = 0
  source.on('quiet', () => waits++)
  const c = consume(source)
  await until(() => c.seen.journal(0).length === before.length && waits > 0, 10_000, 'the first content, then quiet')
  rewriteInPlace(live, records('new', 80))
  await until(() => c.error() !== null || c.seen.journal(0).length > before.length, 10_000, 'an error or more entries')
  await c.stop()
  t.equal((c.error() as (Error & { code?: string }) | null)?.code, 'ERR_STATE_MISMATCH')
  t.ok(c.seen.journal(0).equals(before))
})

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
