import t, { type Test } from 'tap'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { readState } from '../../lib/files/state-file.js'
import { RotatingJournalSource } from '../../lib/source/rotating-journal-source.js'
import { checkPrevious, INFLATE_TO_CHECK_BYTES } from '../../lib/source/start-point.js'
import { consume, until } from '../helpers/follow.js'

/**
 * A state saved at the start of a journal (`4/0`, journal 3 read to its
 * end) has no bytes before its offset to check; it records journal 3's end
 * instead, and a restart checks it against journal 3 on disk. Before, such
 * a state copied to another server root (or a configuration pointed at
 * one) whose live journal had the same number was taken as that root's:
 * its journal 4 read from the start, as if it followed this server's 3.
 */

const rec = (server: string, j: number, k: number) => `@pv@ 0 @db.counters@ @${server}-j${j}-${String(k).padStart(5, '0')}@ @v@ \n@ex@ 1 1600000000\n`
const journal = (server: string, j: number, n: number) => Array.from({ length: n }, (_, k) => rec(server, j, k)).join('')

const J3 = journal('a', 3, 40)

/** Server A: journal 3 (`j3`) archived, the live journal 4 empty; read to journal 4, the state saved there. */
async function savedAtFour(t: Test, j3 = J3): Promise<{ state: string; text: string }> {
  const root = t.testdir()
  writeFileSync(join(root, 'journal.3'), j3)
  writeFileSync(join(root, 'journal'), '')
  const state = join(root, 'logdaemon.state')
  const source = new RotatingJournalSource({ root, from: 3, state })
  const c = consume(source)
  await until(() => source.status.read?.journal === 4 || c.error() !== null, 10_000)
  await c.stop()
  t.equal(c.error(), null)
  return { state, text: readFileSync(state, 'utf8') }
}

/** Another root with `files`, the live journal 4 holding `live`, and the state copied there; what a source sees. */
async function startElsewhere(t: Test, saved: { text: string }, files: Record<string, string | Buffer>, live = journal('b', 4, 3)) {
  const root = t.testdir()
  for (const [name, body] of Object.entries(files)) writeFileSync(join(root, name), body)
  writeFileSync(join(root, 'journal'), live)
  const state = join(root, 'logdaemon.state')
  writeFileSync(state, saved.text)
  const source = new RotatingJournalSource({ root, state })
  const c = consume(source)
  await until(() => c.seen.entries.length >= 6 || c.error() !== null, 10_000)
  await c.stop()
  return { error: c.error() as (Error & { code?: string; file?: string; journal?: number; offset?: number }) | null, seen: c.seen, state }
}

t.test('journal 3 read to its end: the state says 4/0 and where journal 3 ended', async (t) => {
  const saved = await savedAtFour(t)
  const s = JSON.parse(saved.text)
  t.equal(s.position, '4/0')
  t.same([s.previous?.journal, s.previous?.end, s.previous?.tail?.length], [3, J3.length, 256])
})

t.test('the same journals elsewhere (a copy of the root): read on from 4/0', async (t) => {
  const saved = await savedAtFour(t)
  const got = await startElsewhere(t, saved, { 'journal.3': J3 })
  t.equal(got.error, null)
  t.equal(got.seen.journal(4).toString(), journal('b', 4, 3), "the live journal's records, from its start")
})

t.test("another server's journal 3: ERR_STATE_MISMATCH, nothing read, the state file left alone", async (t) => {
  const saved = await savedAtFour(t)
  for (const [what, other, says] of [
    ['shorter', journal('b', 3, 39), /ends before that offset/],
    ['longer', journal('b', 3, 41), /holds other bytes before that offset \(the last 256 before it differ\)/],
    ['of the same length', journal('b', 3, 40), /holds other bytes before that offset/],
  ] as const) {
    const got = await startElsewhere(t, saved, { 'journal.3': other })
    t.match(
      got.error,
      {
        code: 'ERR_STATE_MISMATCH',
        journal: 3,
        offset: J3.length,
        message: new RegExp(`says 4/0, saved .* when journal 3 had been read to its end at offset ${J3.length}, but journal 3 on disk \\(.*journal\\.3\\) `),
      },
      what,
    )
    t.match(got.error?.message, says, what)
    t.match(got.error?.message, /another server root.*--from N/, what)
    t.match(got.error?.file, /journal\.3$/, what)
    t.equal(got.seen.entries.length, 0, `${what}: no record of the live journal delivered`)
    t.equal(readFileSync(got.state, 'utf8'), saved.text, what)
  }
})

t.test('journal 3 written to after it was read to its end: ERR_STATE_MISMATCH saying its bytes after that end were never read', async (t) => {
  const saved = await savedAtFour(t)
  const got = await startElsewhere(t, saved, { 'journal.3': J3 + journal('late', 3, 2) })
  t.match(got.error, {
    code: 'ERR_STATE_MISMATCH',
    message:
      /journal 3 on disk \(.*journal\.3\) goes on past that offset: it was written to after it had been read to its end, and the bytes after that offset were never read\. .*rename while p4d or another writer still had it open.*--from 4/,
  })
  t.equal(got.seen.entries.length, 0)
  const gz = await startElsewhere(t, saved, { 'journal.3.gz': gzipSync(J3 + journal('late', 3, 2)) })
  t.match(gz.error, { code: 'ERR_STATE_MISMATCH', message: /journal\.3\.gz\) goes on past that offset/ }, 'the same, compressed')
})

t.test('journal 3 being uncompressed beside its .gz (gunzip -k half done): the .gz is the journal, read on', async (t) => {
  const saved = await savedAtFour(t)
  const got = await startElsewhere(t, saved, { 'journal.3': J3.slice(0, 600), 'journal.3.gz': gzipSync(J3) })
  t.equal(got.error, null)
  t.equal(got.seen.journal(4).toString(), journal('b', 4, 3))
  const neither = await startElsewhere(t, saved, { 'journal.3': J3.slice(0, 600), 'journal.3.gz': gzipSync(journal('b', 3, 40)) })
  t.match(
    neither.error,
    { code: 'ERR_STATE_MISMATCH', message: /\(.*journal\.3\) ends before that offset/ },
    'neither file is that journal: the plain one is named',
  )
})

t.test('journal 3 compressed meanwhile: its .gz is the same journal, in one gzip member or several', async (t) => {
  const saved = await savedAtFour(t)
  const half = Math.floor(J3.length / 2)
  for (const [what, gz] of [
    ['one member', gzipSync(J3)],
    ['two members (its trailer gives the last one size only)', Buffer.concat([gzipSync(J3.slice(0, half)), gzipSync(J3.slice(half))])],
  ] as const) {
    const got = await startElsewhere(t, saved, { 'journal.3.gz': gz })
    t.equal(got.error, null, what)
    t.equal(got.seen.journal(4).toString(), journal('b', 4, 3), what)
  }
})

t.test("another server's journal 3 compressed: ERR_STATE_MISMATCH", async (t) => {
  const saved = await savedAtFour(t)
  for (const [what, body] of [
    ['another length', journal('b', 3, 41)],
    ['the same length', journal('b', 3, 40)],
  ] as const) {
    const got = await startElsewhere(t, saved, { 'journal.3.gz': gzipSync(body) })
    t.match(got.error, { code: 'ERR_STATE_MISMATCH', message: /journal 3 on disk \(.*journal\.3\.gz\) holds other bytes before that offset/ }, what)
    t.equal(got.seen.entries.length, 0, what)
  }
})

t.test('journal 3 no longer on disk: nothing to check it against, read on from 4/0', async (t) => {
  // The limit that stays: a server whose journals before the live one were all pruned says nothing of them.
  const saved = await savedAtFour(t)
  const got = await startElsewhere(t, saved, {})
  t.equal(got.error, null)
  t.equal(got.seen.journal(4).toString(), journal('b', 4, 3))
})

t.test('a state inside journal 4 is checked by its own bytes, not by journal 3', async (t) => {
  const saved = await savedAtFour(t)
  // Read on at A: the state moves into journal 4, and journal 3 on disk no longer matters.
  const root = t.testdir()
  writeFileSync(join(root, 'journal.3'), J3)
  writeFileSync(join(root, 'journal'), journal('a', 4, 5))
  const state = join(root, 'logdaemon.state')
  writeFileSync(state, saved.text)
  const first = consume(new RotatingJournalSource({ root, state }))
  await until(() => first.seen.entries.length >= 10 || first.error() !== null, 10_000)
  await first.stop()
  t.equal(first.error(), null)
  const inFour = await readState(state)
  t.same([inFour?.journal, inFour?.previous], [4, undefined])
  writeFileSync(join(root, 'journal.3'), journal('b', 3, 41))
  copyFileSync(state, `${state}.copy`)
  const again = consume(new RotatingJournalSource({ root, state }))
  await until(() => again.error() !== null || again.seen.entries.length > 0, 1500).catch(() => {})
  await again.stop()
  t.equal(again.error(), null, 'journal 3 is not looked at')
})

t.test('a .gz over INFLATE_TO_CHECK_BYTES is checked by the size in its trailer, inflated only when that differs', async (t) => {
  t.equal(INFLATE_TO_CHECK_BYTES, 32 << 20)
  const saved = await savedAtFour(t)
  const state = await readState(saved.state)
  if (!state) throw new Error('no state')
  const check = async (gz: Buffer) => {
    const root = t.testdir({ 'journal.3.gz': gz, journal: '' })
    // Every .gz counts as large here (0 bytes inflated to check).
    return checkPrevious({ root }, state, saved.state, 'option', 0).then(
      () => null,
      (err: Error & { code?: string }) => err,
    )
  }
  const half = Math.floor(J3.length / 2)
  t.equal(await check(gzipSync(J3)), null, 'the same journal: the trailer says its size')
  t.equal(await check(Buffer.concat([gzipSync(J3.slice(0, half)), gzipSync(J3.slice(half))])), null, 'two members: inflated, the same bytes')
  t.match(await check(gzipSync(journal('b', 3, 41))), { code: 'ERR_STATE_MISMATCH', message: /holds other bytes before that offset/ }, 'another length')
  // What a large .gz does not show: another journal of the very same length (its bytes are not inflated to look).
  t.equal(await check(gzipSync(journal('b', 3, 40))), null, 'the same length, other bytes: not seen')
  t.equal(await check(gzipSync(journal('b', 3, 41)).subarray(0, 100)), null, 'cut short: cannot be inflated, not checked')
  // A CRC that does not match: what was inflated before it still tells another journal; the same journal's bytes are not vouched for.
  const badCrc = (body: string) => {
    const gz = gzipSync(body)
    gz[gz.length - 8] = (gz[gz.length - 8] as number) ^ 0xff
    return gz
  }
  t.equal(await check(badCrc(journal('b', 3, 41))), null, 'another journal, its CRC damaged: not checked')
  t.equal(await check(badCrc(J3)), null, 'this journal, its CRC damaged: not checked')
})

t.test('a damaged .gz of journal 3 is not evidence of another journal: not checked, read on', async (t) => {
  // A probe: damaged deflate data inflated to other bytes before the end, read as another server's journal.
  const big = journal('a', 3, 3000)
  const saved = await savedAtFour(t, big)
  t.equal(JSON.parse(saved.text).previous?.end, big.length)
  for (const at of [1024, 3000, 6000]) {
    const gz = gzipSync(big)
    gz.fill(0, at, at + 512)
    const got = await startElsewhere(t, saved, { 'journal.3.gz': gz })
    t.equal(got.error, null, `512 bytes zeroed at ${at}`)
  }
  // A gzip bomb in its place is no journal's archive: inflated no further than a journal could be, not checked.
  const bomb = gzipSync(Buffer.alloc(256 << 20), { level: 9 })
  t.ok(bomb.length * 64 < 256 << 20, `${bomb.length} bytes inflating to 256 MiB`)
  const got = await startElsewhere(t, saved, { 'journal.3.gz': bomb })
  t.equal(got.error, null, 'a bomb: not checked')
})
