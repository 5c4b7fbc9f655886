import t from 'tap'
import { startSmtpPeer } from '../../../../helpers/notify-peers.js'
import { change, desc, ex, feed, journal, openReviews, review, revcx, user, writeCheckpoint } from '../../../../helpers/review-journal.js'

/**
 * A change with more files than review mode keeps (100,000): reviewers are matched against the files kept. Those
 * whose lines match only the others are not mailed; that is logged, and the mails do not claim a count of the
 * change's files that matched which nobody looked at.
 */
t.test('a change with more files than are kept for matching says so', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(
    dir,
    user('alice', 'alice@example.com') +
      user('bob', 'bob@example.com') +
      user('carol', 'carol@example.com') +
      review('bob', 0, '//depot/zzz/...') +
      review('carol', 0, '//depot/...'),
  )
  const kept = 100_000
  const files = Array.from({ length: kept }, (_, i) => `//depot/aaa/f${i}.c`).concat(Array.from({ length: 10 }, (_, i) => `//depot/zzz/f${i}.c`))
  const text = desc(7, 'big branch\n') + change(7, 'alice', 'big branch\n') + files.map((f) => revcx(7, f)).join('') + ex(1007)
  const { listener, lines } = await openReviews(dir, smtp.port)
  t.equal(await feed(listener, await journal(text)), null)
  await listener.sync()
  const warned = lines.find((l) => l.level === 'warn' && l.obj.change === 7)
  t.ok(warned, 'the change is logged')
  t.match(warned?.msg ?? '', /has 100010 files: Reviews lines were matched against its first 100000 only/)
  const carol = smtp.mails.find((m) => m.headers.get('x-logdaemon-reviewers') === 'carol')
  t.ok(carol, 'carol (//depot/...) is mailed')
  t.match(carol?.text ?? '', "(100000 of the first 100000 of the change's 100010 files matched; the others were not matched against Reviews.)")
  t.notMatch(carol?.text ?? '', "(100000 of the change's 100010 files matched.)", 'no claim that the last 10 files did not match')
  await listener.close()
})
