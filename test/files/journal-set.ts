import t from 'tap'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { describeJournalChain, findArchive, isJournalFileName, journalDirs, journalGapError } from '../../lib/files/journal-set.js'

t.test('findArchive prefers the plain file, then gz; prefix before the root', async (t) => {
  const root = t.testdir({ 'journal.3': 'x', 'journal.3.gz': 'y', 'journal.4.gz': 'z', ckp: { 'p.jnl.5': 'p', 'p.jnl.3.gz': 'q' } })
  t.same(await findArchive({ root }, 3), { journal: 3, path: join(root, 'journal.3'), compressed: false })
  t.same(await findArchive({ root }, 4), { journal: 4, path: join(root, 'journal.4.gz'), compressed: true })
  t.equal(await findArchive({ root }, 5), null)
  t.same(await findArchive({ root, prefix: 'ckp/p' }, 5), { journal: 5, path: join(root, 'ckp/p.jnl.5'), compressed: false })
  t.same(await findArchive({ root, prefix: join(root, 'ckp/p') }, 3), { journal: 3, path: join(root, 'ckp/p.jnl.3.gz'), compressed: true })
  t.same(await findArchive({ root, prefix: 'ckp/p' }, 4), { journal: 4, path: join(root, 'journal.4.gz'), compressed: true }, 'unprefixed names too')
})

t.test('a directory with an archive name is not an archive', async (t) => {
  const root = t.testdir()
  mkdirSync(join(root, 'journal.3'))
  t.equal(await findArchive({ root }, 3), null)
  t.equal((await describeJournalChain({ root })).newest, null)
})

t.test('describeJournalChain: archives, gaps, the live number', async (t) => {
  const root = t.testdir({
    'journal.3': 'aaa',
    'journal.4.gz': 'bb',
    'journal.4': 'bbbb',
    'journal.6': 'c',
    journal: 'live',
    'checkpoint.7': 'x',
    'journal.7.md5': 'x',
    'journalx.8': 'x',
    'db.rev': 'x',
  })
  const chain = await describeJournalChain({ root })
  t.same(
    chain.archives.map((a) => [a.journal, a.files.map((f) => [f.path.slice(root.length + 1), f.compressed, f.size])]),
    [
      [3, [['journal.3', false, 3]]],
      [
        4,
        [
          ['journal.4', false, 4],
          ['journal.4.gz', true, 2],
        ],
      ],
      [6, [['journal.6', false, 1]]],
    ],
  )
  t.same(chain.live, { journal: 7, path: join(root, 'journal'), size: 4 })
  t.same([chain.oldest, chain.newest, chain.gaps], [3, 6, [5]])
  const from4 = await describeJournalChain({ root }, { from: 4 })
  t.same(
    from4.archives.map((a) => a.journal),
    [4, 6],
  )
  t.same(from4.gaps, [5])
  const from2 = await describeJournalChain({ root }, { from: 2 })
  t.same(from2.gaps, [2, 5], 'the start itself may be missing')
})

t.test('the live number with no archive at or after from: from itself, or 0', async (t) => {
  const root = t.testdir({ 'journal.3': 'old' })
  t.same((await describeJournalChain({ root }, { from: 9 })).live.journal, 9)
  t.same((await describeJournalChain({ root }, { from: 9 })).gaps, [])
  const empty = t.testdir()
  const chain = await describeJournalChain({ root: empty })
  t.same(chain.live, { journal: 0, path: join(empty, 'journal'), size: null })
  t.same(await describeJournalChain({ root: join(empty, 'missing') }).then((c) => c.archives), [], 'a missing root reads as empty')
})

t.test('prefix archives in their own directory; a live journal elsewhere', async (t) => {
  const root = t.testdir({ root: { 'journal.1': 'a' }, arch: { 'srv.jnl.2.gz': 'b', 'other.jnl.3': 'x' }, logs: { journal: 'l' } })
  const layout = { root: join(root, 'root'), prefix: join(root, 'arch/srv'), journal: join(root, 'logs/journal') }
  const chain = await describeJournalChain(layout)
  t.same(
    chain.archives.map((a) => a.journal),
    [1, 2],
  )
  t.same(chain.live, { journal: 3, path: join(root, 'logs/journal'), size: 1 })
  t.same(journalDirs(layout).sort(), [join(root, 'arch'), join(root, 'logs'), join(root, 'root')].sort())
  t.ok(isJournalFileName(layout, 'journal'))
  t.ok(isJournalFileName(layout, 'srv.jnl.12.gz'))
  t.ok(isJournalFileName(layout, 'journal.12'))
  t.notOk(isJournalFileName(layout, 'db.rev'))
  t.notOk(isJournalFileName(layout, 'journal.12.md5'))
  t.notOk(isJournalFileName(layout, 'srv.ckp.12'))
})

t.test('the gap error names the missing journals and says what to do', async (t) => {
  const one = journalGapError([41], 40, 43)
  t.equal(one.code, 'ERR_JOURNAL_GAP')
  t.match(one.message, /journal 41 is missing between 40 .* and 43/)
  t.match(one.message, /checkpoint 42 or later.*--from 42/)
  t.same(one.details, { missing: [41], from: 40, live: 43, restartFrom: 42 })
  const many = journalGapError([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], 1, 20)
  t.match(many.message, /journals 1, 2, .*10, … \(12 in all\) are missing/)
})

t.test('a journal compressed between the listing and the look at it is looked for again, not taken as a gap', async (t) => {
  const root = t.testdir({ 'journal.1': '@ex@ 1 1\n', 'journal.2': '@ex@ 2 2\n', journal: '@ex@ 3 3\n' })
  const real = await import('node:fs/promises')
  let listings = 0
  // What gzip does to journal.2 (journal.2.gz written, journal.2 removed) happens right after the first listing.
  const { describeJournalChain: describe } = await t.mockImport<typeof import('../../lib/files/journal-set.js')>('../../lib/files/journal-set.js', {
    'node:fs/promises': {
      ...real,
      readdir: async (dir: string) => {
        const names = await real.readdir(dir)
        if (listings++ === 0) {
          await real.writeFile(join(root, 'journal.2.gz'), '')
          await real.unlink(join(root, 'journal.2'))
        }
        return names
      },
    },
  })
  const chain = await describe({ root }, { from: 1 })
  // Before, journal 2 was left out: the live journal taken for 2, and with its counter record saying 3 (or a
  // state in journal 2) the start failed with ERR_JOURNAL_GAP, journal 2 "missing" (a probe).
  t.equal(chain.live.journal, 3, 'journal 2 is there: the live journal is 3')
  t.same(chain.gaps, [])
  t.same(
    chain.archives.map((a) => a.files.map((f) => f.path)),
    [[join(root, 'journal.1')], [join(root, 'journal.2.gz')]],
  )
  t.equal(listings, 2)
})
