import t from 'tap'
import { existsSync, readFileSync, renameSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ErrorCodes } from '../../../../../lib/errors.js'
import { NotifyListener } from '../../../../../lib/listeners/builtin/notify/notify.js'
import type { ListenerLogger } from '../../../../../lib/listeners/listener.js'
import type { JournalPosition } from '../../../../../lib/position.js'
import { startSmtpPeer } from '../../../../helpers/notify-peers.js'
import { feed, journal, review, submit, user, writeCheckpoint } from '../../../../helpers/review-journal.js'

/**
 * A review listener taken out of the configuration and put back later: the
 * daemon ran on without it, and its state misses the users' and Reviews
 * edits in between (a probe: bob, who had stopped reviewing a path, was
 * still mailed for it). The state records how far it read the journal; a
 * daemon that resumes past that point is refused.
 */

const silent: ListenerLogger = { debug() {}, info() {}, warn() {}, error() {} }

t.test('a daemon that resumes past where the review state read the journal is refused; at or before it, not', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, user('alice', 'alice@example.com') + user('bob', 'bob@example.com') + review('bob', 0, '//depot/...'))
  const open = async (start: JournalPosition) => {
    const l = new NotifyListener(
      {
        smtp: { host: '127.0.0.1', port: smtp.port, from: 'Perforce <p4@example.com>' },
        reviews: { checkpoint: 'checkpoint.1', state: 'reviews.json' },
      },
      'reviews',
      { baseDir: dir },
    )
    await l.open({ start, logger: silent, signal: new AbortController().signal })
    return l
  }
  const readFile = join(dir, 'reviews.json.read')
  const first = await open({ journal: 1, offset: 0 })
  t.same(JSON.parse(readFileSync(readFile, 'utf8')), { readThrough: '1/0' }, 'built up to where the daemon starts')
  const entries = await journal(submit(10, 'alice', 'ten\n', ['//depot/a.c']))
  t.equal(await feed(first, entries), null)
  const end = { journal: 1, offset: entries.at(-1)!.position.end }
  await first.sync(end)
  await first.close()
  t.same(JSON.parse(readFileSync(readFile, 'utf8')), { readThrough: `1/${end.offset}` }, 'synced: read through the commit')
  t.equal(smtp.mails.length, 1)

  // Restarts at the commit, or before it (a replay): as before.
  for (const start of [end, { journal: 1, offset: 0 }]) {
    const again = await open(start)
    await again.close()
  }
  // The daemon went on without it (commits past its sync): refused, not retried.
  const later = { journal: 2, offset: 0 }
  const err = await open(later).catch((e: unknown) => e)
  t.match(err, {
    code: ErrorCodes.STATE_MISMATCH,
    retryable: false,
    message: new RegExp(`read the journal through 1/${end.offset}, but the daemon resumes at 2/0: the daemon ran without this listener`),
  })
  // As the message says: both files moved away, the state is built again from the checkpoint, up to where the daemon resumes.
  renameSync(join(dir, 'reviews.json'), join(dir, 'reviews.old'))
  renameSync(readFile, join(dir, 'reviews.read.old'))
  const rebuilt = await open(later)
  await rebuilt.close()
  t.same(JSON.parse(readFileSync(readFile, 'utf8')), { readThrough: '2/0' })
  // Only the state moved away: its rebuild replaces the file that said how far the old one read.
  renameSync(join(dir, 'reviews.json'), join(dir, 'reviews.old2'))
  const third = await open({ journal: 3, offset: 0 })
  await third.close()
  t.same(JSON.parse(readFileSync(readFile, 'utf8')), { readThrough: '3/0' })
  t.ok(existsSync(join(dir, 'reviews.json')))
})

t.test('temporary files of STATE.read that a killed process left are removed at open (older ones only)', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, user('alice', 'alice@example.com'))
  // As writeFileAtomic names them: `.NAME.<24 hex>.tmp` beside the file; a kill -9 between its write and its rename leaves one.
  const stale = join(dir, `.reviews.json.read.${'a'.repeat(24)}.tmp`)
  const fresh = join(dir, `.reviews.json.read.${'b'.repeat(24)}.tmp`)
  writeFileSync(stale, '{"readThrough":"1/0"}\n')
  writeFileSync(fresh, '{"readThrough":"1/0"}\n')
  const old = new Date(Date.now() - 10 * 60_000)
  utimesSync(stale, old, old)
  const l = new NotifyListener(
    {
      smtp: { host: '127.0.0.1', port: smtp.port, from: 'Perforce <p4@example.com>' },
      reviews: { checkpoint: 'checkpoint.1', state: 'reviews.json' },
    },
    'reviews',
    { baseDir: dir },
  )
  await l.open({ start: { journal: 1, offset: 0 }, logger: silent, signal: new AbortController().signal })
  await l.close()
  t.notOk(existsSync(stale), 'a stale one is removed')
  t.ok(existsSync(fresh), 'one that may be a live writer’s is left')
})
