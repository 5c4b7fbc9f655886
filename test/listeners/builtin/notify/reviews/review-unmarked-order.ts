import t from 'tap'
import { startSmtpPeer } from '../../../../helpers/notify-peers.js'
import { deliveries, feed, journal, openReviews, q, unmarked, user, review, writeCheckpoint } from '../../../../helpers/review-journal.js'
import { lockPathOf } from '../../../../../lib/files/state-lock.js'
import { rmSync } from 'node:fs'
import { join } from 'node:path'

const dvReview = (name: string, seq: number, path: string): string => `@dv@ 1 @db.review@ ${q(name)} ${seq} 0 ${q(path)} 0 \n`
const users = user('alice', 'alice@example.com') + user('bob', 'bob@example.com') + user('carol', 'carol@example.com')

t.test('unmarked: a Reviews edit written after a change does not change who gets that change', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + review('bob', 0, '//depot/main/...'))
  // change 10 submitted while bob reviews //depot/main/...; then bob drops the line and carol adds one; one burst, then quiet.
  const text = unmarked(10, 'alice', 'ten\n', ['//depot/main/a.c']) + dvReview('bob', 0, '//depot/main/...') + review('carol', 0, '//depot/main/...')
  const { listener } = await openReviews(dir, smtp.port)
  t.equal(await feed(listener, await journal(text)), null)
  await listener.noData(true)
  await listener.close()
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com'], 'bob (subscribed at submit) gets change 10, carol (subscribed later) does not')
})

t.test('unmarked: kill -9 with a half-delivered change; the replay reads a later Reviews edit in the same burst: bob still gets it', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + review('bob', 0, '//depot/main/...') + review('carol', 0, '//depot/main/...'))
  const part1 = unmarked(10, 'alice', 'ten\n', ['//depot/main/a.c'])
  const part2 = dvReview('bob', 0, '//depot/main/...')
  smtp.rcpt['bob@example.com'] = 452
  const first = await openReviews(dir, smtp.port)
  t.equal(await feed(first.listener, await journal(part1)), null)
  const err = await first.listener.noData(true).catch((e: unknown) => e)
  t.ok(err, 'bob deferred')
  // killed
  rmSync(lockPathOf(join(dir, 'reviews.json')))
  delete smtp.rcpt['bob@example.com']
  const second = await openReviews(dir, smtp.port)
  t.equal(await feed(second.listener, await journal(part1 + part2)), null)
  await second.listener.noData(true)
  await second.listener.close()
  t.same(deliveries(smtp.mails).sort(), ['10:bob:bob@example.com', '10:carol:carol@example.com'].sort(), 'bob gets change 10 after the restart')
})

t.test('unmarked, three changes in one quiet; kill -9 while the second is half-delivered: carol, subscribed after it, must not get it', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + user('dave', 'dave@example.com') + review('bob', 0, '//depot/main/...') + review('dave', 0, '//depot/x/...'))
  const text =
    unmarked(10, 'alice', 'ten\n', ['//depot/x/a.c']) +
    unmarked(11, 'alice', 'eleven\n', ['//depot/main/b.c']) +
    review('carol', 0, '//depot/main/...') +
    unmarked(12, 'alice', 'twelve\n', ['//depot/other/c.c'])
  smtp.rcpt['bob@example.com'] = 452
  const first = await openReviews(dir, smtp.port)
  t.equal(await feed(first.listener, await journal(text)), null)
  const err = await first.listener.noData(true).catch((e: unknown) => e)
  t.ok(err, 'bob deferred')
  rmSync(lockPathOf(join(dir, 'reviews.json')))
  delete smtp.rcpt['bob@example.com']
  const second = await openReviews(dir, smtp.port)
  t.equal(await feed(second.listener, await journal(text)), null)
  await second.listener.noData(true)
  await second.listener.close()
  t.same(deliveries(smtp.mails).sort(), ['10:dave:dave@example.com', '11:bob:bob@example.com'].sort())
})
