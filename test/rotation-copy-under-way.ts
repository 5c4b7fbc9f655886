import t from 'tap'
import { truncateSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { RotatingJournalSource } from '../lib/source/rotating-journal-source.js'
import { consume, until } from './helpers/follow.js'

/**
 * Copy and truncate seen from behind: the reader is still on an earlier
 * journal (or restarts) while the live journal N is being copied to
 * journal.N, so journal.N exists but is shorter than journal N. Read as a
 * finished archive, the rest of journal N was lost and the live file's
 * bytes (journal N again) were read as journal N+1, and committed (an
 * adversarial probe: a copy held half done for 6 s, no kill needed).
 */

/** `n` transactions of journal `j`, each a record and its marker. */
function journalText(j: number, n: number): string {
  let s = ''
  for (let i = 0; i < n; i++)
    s += `@pv@ 0 @db.counters@ @j${j}-k${i}@ @a value that fills the record to a realistic length ${i}@ \n@ex@ ${100 + j} ${1700000000 + i}\n`
  return s
}

for (const cut of ['at a record boundary', 'inside a record']) {
  t.test(`the next journal is being copied while the reader is behind: read from the live file, not the half copy (cut ${cut})`, async (t) => {
    const root = t.testdir()
    const j1 = journalText(1, 400)
    const j2 = journalText(2, 600)
    const j3 = journalText(3, 50)
    writeFileSync(join(root, 'journal.1'), j1)
    writeFileSync(join(root, 'journal'), j2)
    // Half of journal 2 copied so far.
    let half = Math.floor(j2.length / 2)
    half = cut === 'inside a record' ? half : j2.lastIndexOf('\n', half) + 1
    writeFileSync(join(root, 'journal.2'), j2.slice(0, half))

    const source = new RotatingJournalSource({ root, from: 1, pollMs: 50, quietMs: 100 })
    const c = consume(source)
    // The whole of journal 2, from the live file, while journal.2 is still half copied.
    await until(() => c.seen.journal(2).length === j2.length, 10_000, 'all of journal 2')
    t.equal(c.error(), null)
    t.notOk(c.seen.bytes.has(3), 'nothing read as journal 3 yet')

    // The copy finishes, the live file is truncated and journal 3 begins.
    writeFileSync(join(root, 'journal.2'), j2)
    truncateSync(join(root, 'journal'), 0)
    writeFileSync(join(root, 'journal'), j3)
    await until(() => c.seen.journal(3).length === j3.length, 10_000, 'journal 3')
    await c.stop()
    t.equal(c.error(), null, 'no error')
    t.equal(c.seen.journal(1).toString('latin1'), j1, 'journal 1 whole')
    t.equal(c.seen.journal(2).toString('latin1'), j2, 'journal 2 whole, once')
    t.equal(c.seen.journal(3).toString('latin1'), j3, 'journal 3 is journal 3')
  })
}

t.test('restarted while the live journal it was reading is being copied: the rest comes from the live file', async (t) => {
  const root = t.testdir()
  const j1 = journalText(1, 600)
  const j2 = journalText(2, 40)
  const state = join(root, 'state.json')
  // First run: follows live journal 1 to its end and commits there.
  const firstPart = j1.slice(0, j1.lastIndexOf('\n', j1.length / 2) + 1)
  writeFileSync(join(root, 'journal'), firstPart)
  const first = new RotatingJournalSource({ root, from: 1, state, pollMs: 50, quietMs: 100, saveIntervalMs: 0 })
  const a = consume(first)
  await until(() => a.seen.journal(1).length === firstPart.length, 10_000, 'the first part')
  await first.flushState()
  await a.stop()

  // Down: p4d writes the rest of journal 1, and the copy to journal.1 is 60 % done when the reader restarts.
  writeFileSync(join(root, 'journal'), j1)
  const copied = j1.lastIndexOf('\n', Math.floor(j1.length * 0.6)) + 1
  writeFileSync(join(root, 'journal.1'), j1.slice(0, copied))
  const second = new RotatingJournalSource({ root, state, pollMs: 50, quietMs: 100 })
  const b = consume(second)
  await until(() => a.seen.journal(1).length + b.seen.journal(1).length === j1.length, 10_000, 'the rest of journal 1')
  t.notOk(b.seen.bytes.has(2), 'nothing read as journal 2 yet')

  writeFileSync(join(root, 'journal.1'), j1)
  truncateSync(join(root, 'journal'), 0)
  writeFileSync(join(root, 'journal'), j2)
  await until(() => b.seen.journal(2).length === j2.length, 10_000, 'journal 2')
  await b.stop()
  t.equal(b.error(), null, 'no error')
  t.equal(Buffer.concat([a.seen.journal(1), b.seen.journal(1)]).toString('latin1'), j1, 'journal 1 whole, once, over the restart')
  t.equal(b.seen.journal(2).toString('latin1'), j2, 'journal 2 is journal 2')
})

t.test('empty archives with later archives after them are read at once, not doubted for the grace period', async (t) => {
  const root = t.testdir()
  const j1 = journalText(1, 20)
  const j4 = journalText(4, 20)
  const j5 = journalText(5, 20)
  writeFileSync(join(root, 'journal.1'), j1)
  writeFileSync(join(root, 'journal.2'), '') // empty journals rotated (a quiet server, a cron's p4 admin journal)
  writeFileSync(join(root, 'journal.3'), '')
  writeFileSync(join(root, 'journal.4'), j4)
  writeFileSync(join(root, 'journal'), j5)
  // A grace period no test waits for: an empty journal.2 or journal.3 doubted would hold the read for it.
  const source = new RotatingJournalSource({ root, from: 1, pollMs: 50, quietMs: 100, graceMs: 600_000 })
  const c = consume(source)
  t.teardown(() => void source.destroy())
  await until(() => c.seen.journal(5).length === j5.length, 10_000, 'the live journal 5, past the empty archives')
  await c.stop()
  t.equal(c.error(), null, 'no error')
  t.equal(c.seen.journal(1).toString('latin1'), j1)
  t.equal(c.seen.journal(2).length, 0, 'journal 2 is empty')
  t.equal(c.seen.journal(3).length, 0, 'journal 3 is empty')
  t.equal(c.seen.journal(4).toString('latin1'), j4)
})
