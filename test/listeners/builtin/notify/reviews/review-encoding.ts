import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { frame } from '../../../../helpers/collect.js'
import { startSmtpPeer } from '../../../../helpers/notify-peers.js'
import { checkpointHeader, deliveries, feed, openReviews, review, submit, user } from '../../../../helpers/review-journal.js'

/**
 * A server that is not in Unicode mode writes its text in its code page:
 * the listener's `encoding`. Reviews lines, user names and depot paths are
 * decoded with it alike, whether read from the checkpoint or from the live
 * journal (the daemon hands out entries decoded as UTF-8), so a Reviews
 * line with `é` or `Œ` matches the file it names.
 */
for (const encoding of ['latin1', 'windows-1252'] as const) {
  t.test(`encoding ${encoding}: Reviews lines from the checkpoint and from the journal match files with non-ASCII names`, async (t) => {
    const smtp = await startSmtpPeer()
    t.teardown(() => smtp.close())
    const dir = t.testdir()
    // 0x8C is Œ in windows-1252 (a C1 control in latin1): compared as the same text on both sides either way.
    const oeuvre = '//depot/\u008cuvre/...'
    writeFileSync(
      join(dir, 'checkpoint.1'),
      Buffer.from(checkpointHeader + user('alice', 'alice@example.com') + user('bob', 'bob@example.com') + review('bob', 0, oeuvre), 'latin1'),
    )
    const { listener } = await openReviews(dir, smtp.port, { encoding })
    t.teardown(() => listener.close())
    // carol subscribes to a path with é (0xE9) in the live journal, then two changes are submitted.
    const text =
      user('carol', 'carol@example.com') +
      review('carol', 0, '//depot/caf\u00e9/...') +
      review('josé', 0, '//depot/caf\u00e9/...') +
      submit(10, 'alice', 'ten\n', ['//depot/caf\u00e9/a.c']) +
      submit(11, 'alice', 'eleven\n', ['//depot/\u008cuvre/a.c']) +
      submit(12, 'jos\u00e9', 'twelve\n', ['//depot/caf\u00e9/b.c'])
    t.equal(await feed(listener, await frame([Buffer.from(text, 'latin1')], { journal: 1 })), null)
    t.same(
      deliveries(smtp.mails),
      ['10:carol:carol@example.com', '11:bob:bob@example.com', '12:carol:carol@example.com'],
      'each reviewer gets the changes their lines name',
    )
    t.same(
      listener.reviews?.state
        .explain({ user: 'alice', files: [{ depotFile: '//depot/caf\u00e9/a.c', revision: 1, action: 'edit' }] })
        .map((e) => [e.user, e.excluded]),
      [
        ['carol', null],
        ['jos\u00e9', 'no such user in db.user'],
      ],
      'the user name with é is the one the journal wrote',
    )
  })
}
