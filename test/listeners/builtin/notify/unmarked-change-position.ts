/**
 * A journal without markers (an import tool's), mailed when quiet: a
 * change is known by its db.change row, so a replay that groups the
 * records otherwise than the first run did does not mail it again.
 */
import t from 'tap'
import { startSmtpPeer } from '../../../helpers/notify-peers.js'
import { change, deliveries, desc, feed, journal, openReviews, review, revcx, user, writeCheckpoint } from '../../../helpers/review-journal.js'

const users = user('alice', 'alice@example.com') + user('bob', 'bob@example.com')

t.test('a quiet inside one change (the import paused between its files), then a restart that reads it in one go: mailed once', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + review('bob', 0, '//depot/main/...'))
  const part1 = desc(10, 'ten\n') + change(10, 'alice', 'ten\n') + revcx(10, '//depot/main/a.c')
  const all = await journal(part1 + revcx(10, '//depot/main/b.c'))
  const n1 = (await journal(part1)).length
  const first = await openReviews(dir, smtp.port)
  await feed(first.listener, all.slice(0, n1))
  await first.listener.noData(true)
  await feed(first.listener, all.slice(n1))
  await first.listener.noData(true)
  first.listener.close()
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com'], 'the first run mails change 10 at the first quiet')
  const second = await openReviews(dir, smtp.port)
  await feed(second.listener, all)
  await second.listener.noData(true)
  second.listener.close()
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com'], 'the replay does not mail it again')
})

t.test('a quiet between a change row and its first file row: the change is mailed with its files, once, and not again after a restart', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + review('bob', 0, '//depot/main/...'))
  const head = desc(10, 'ten\n') + change(10, 'alice', 'ten\n')
  const text = head + revcx(10, '//depot/main/a.c') + desc(11, 'eleven\n') + change(11, 'alice', 'eleven\n') + revcx(11, '//depot/main/b.c')
  const all = await journal(text)
  const n1 = (await journal(head)).length
  const first = await openReviews(dir, smtp.port)
  await feed(first.listener, all.slice(0, n1))
  await first.listener.noData(true)
  t.same(deliveries(smtp.mails), [], 'nothing yet: the change has no files')
  await feed(first.listener, all.slice(n1))
  await first.listener.noData(true)
  first.listener.close()
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com', '11:bob:bob@example.com'], 'change 10 once its files came')
  t.match(smtp.mails[0]?.text, /a\.c/)
  const second = await openReviews(dir, smtp.port)
  await feed(second.listener, all)
  await second.listener.noData(true)
  second.listener.close()
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com', '11:bob:bob@example.com'], 'a restart sends neither again')
})
