/**
 * createJournalReader when a stage before framing fails: the consumer gets
 * the entries of every byte that came through before the failure, then
 * the failure (as the framer's own errors come after the entries before
 * them), whichever stage held those bytes.
 */
import t from 'tap'
import { truncateSync, writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { gzipSync } from 'node:zlib'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { createJournalReader } from '../../lib/journal/read-journal.js'

const record = '@pv@ 3 @db.have@ @//depot/a/file.c@ 1 \n'
const text = record.repeat(Math.ceil((1 << 20) / record.length))

t.test('a file cut while read: every entry of the bytes read, then ERR_JOURNAL_SHRUNK', async (t) => {
  const dir = t.testdir()
  const file = `${dir}/journal.5`
  for (let round = 0; round < 3; round++) {
    writeFileSync(file, text)
    let entries = 0
    let end = 0
    const err = await (async () => {
      for await (const e of createJournalReader(file) as AsyncIterable<JournalEntry>) {
        if (entries === 0) truncateSync(file, 1000)
        entries++
        end = e.position.end
        // A slow consumer: entries and read chunks wait in every stage while the next read finds the cut.
        if (entries % 2000 === 0) await sleep(5)
      }
    })().catch((e: unknown) => e)
    t.match(err, { code: 'ERR_JOURNAL_SHRUNK', file, journal: 5, details: { size: 1000 } }, `round ${round}: the cut`)
    const offset = (err as { offset: number }).offset
    t.equal(entries, Math.floor(offset / record.length), `round ${round}: every record in the ${offset} bytes read`)
    t.equal(end, Math.floor(offset / record.length) * record.length, `round ${round}: the last entry ends at the last record end before it`)
  }
})

t.test('a gzip member then garbage: every entry of the member, then ERR_GZIP_CORRUPT', async (t) => {
  const dir = t.testdir()
  const file = `${dir}/journal.6.gz`
  writeFileSync(file, Buffer.concat([gzipSync(text), Buffer.from('garbage after the member')]))
  let entries = 0
  const err = await (async () => {
    for await (const _ of createJournalReader(file) as AsyncIterable<JournalEntry>) {
      entries++
      if (entries % 2000 === 0) await sleep(5)
    }
  })().catch((e: unknown) => e)
  t.match(err, { code: 'ERR_GZIP_CORRUPT' })
  t.equal(entries, text.length / record.length, 'every record of the member')
})
