import t, { type Test } from 'tap'
import { ErrorCodes, type LogdaemonError } from '../../../../lib/errors.js'
import { startSmtpPeer } from '../../../helpers/notify-peers.js'
import { deliveries, feed, journal, openReviews, review, submit, user, writeCheckpoint } from '../../../helpers/review-journal.js'

/**
 * What an SMTP server's refusals do to the mail of a change, as an admin
 * would check it: which mails arrived, to whom, how many times, and what
 * the log says. A recipient refused at RCPT TO is judged by its own reply
 * code, as a whole message would be: 4xx is retried (only to it), 5xx is
 * refused for good for that recipient (logged, counted, skipped). A refusal
 * of the session (MAIL FROM, AUTH) is retried whatever its code.
 */

const users = user('alice', 'alice@example.com') + user('bob', 'bob@example.com') + user('carol', 'carol@example.com')
const subscriptions = review('bob', 0, '//depot/main/...') + review('carol', 0, '//depot/main/...')

t.test('review mail: a reviewer deferred at RCPT TO (452) is retried alone; the archive in cc does not get it twice', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + subscriptions)
  const { listener } = await openReviews(dir, smtp.port, { reviews: { cc: ['archive@example.com'] } })
  t.teardown(() => listener.close())
  smtp.rcpt['bob@example.com'] = 452
  const err = (await feed(listener, await journal(submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])))) as LogdaemonError | null
  t.equal(err?.code, ErrorCodes.NOTIFY_DELIVERY, 'the change is not taken: the daemon retries it')
  t.match(err?.message, /change 10 was not taken for bob@example\.com \(452 /, 'the error names the change and the recipient')
  t.same(deliveries(smtp.mails), ['10:bob:archive@example.com', '10:carol:carol@example.com', '10:carol:archive@example.com'], 'the others have it')
  t.equal(listener.pending, 1)

  delete smtp.rcpt['bob@example.com']
  await listener.sync() // the daemon's retry
  t.same(
    deliveries(smtp.mails),
    ['10:bob:archive@example.com', '10:carol:carol@example.com', '10:carol:archive@example.com', '10:bob:bob@example.com'],
    'the retry went to bob only',
  )
  t.equal(new Set(smtp.mails.map((m) => m.headers.get('message-id'))).size, 2, "bob's mail is the same message both times")
  t.equal(listener.pending, 0)
})

t.test('review mail: a reviewer refused for good at RCPT TO (550) is logged with the change and skipped', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + subscriptions)
  const { listener, lines } = await openReviews(dir, smtp.port)
  t.teardown(() => listener.close())
  smtp.rcpt['bob@example.com'] = 550
  t.equal(await feed(listener, await journal(submit(10, 'alice', 'ten\n', ['//depot/main/a.c']) + submit(11, 'alice', 'eleven\n', ['//depot/main/b.c']))), null)
  t.same(deliveries(smtp.mails), ['10:carol:carol@example.com', '11:carol:carol@example.com'])
  t.match(
    lines.filter((l) => l.level === 'error'),
    [
      { obj: { change: 10, recipient: 'bob@example.com', command: 'RCPT TO', reply: /^550 / }, msg: /change 10 to bob@example\.com refused for good/ },
      { obj: { change: 11, recipient: 'bob@example.com' } },
    ],
  )
  t.equal(listener.refusedRecipients, 2)
})

t.test('review mail: MAIL FROM refused (530, authentication required) is retried, never taken for a refused reviewer', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + subscriptions)
  const { listener, lines } = await openReviews(dir, smtp.port)
  t.teardown(() => listener.close())
  smtp.mailFrom = 530
  const err = (await feed(listener, await journal(submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])))) as LogdaemonError | null
  t.equal(err?.code, ErrorCodes.NOTIFY_DELIVERY)
  t.equal(err?.retryable, true)
  t.match(err?.message, /at MAIL FROM: .*530 /)
  t.equal((await listener.sync().catch((e: unknown) => e as LogdaemonError))?.code, ErrorCodes.NOTIFY_DELIVERY, 'sync rejects: no position is committed')
  t.equal(listener.reviews?.state.mailedThrough, null, 'the review state does not say the change was mailed')
  t.equal(lines.filter((l) => l.level === 'error').length, 0, 'nobody is logged as refused')
  smtp.mailFrom = null
  await listener.sync()
  t.same(deliveries(smtp.mails), ['10:bob:bob@example.com', '10:carol:carol@example.com'], 'once the server is fixed, every reviewer is mailed')
})

t.test('team list: a recipient deferred at RCPT TO (451) is retried alone; the other gets the mail once', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const { listener } = await openTeam(t, smtp.port)
  smtp.rcpt['team2@example.com'] = 451
  const err = (await feed(listener, await journal(submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])))) as LogdaemonError | null
  t.equal(err?.code, ErrorCodes.NOTIFY_DELIVERY, 'not taken: retried')
  t.match(err?.details, { channel: 'smtp', change: 10, recipients: ['team2@example.com'] })
  t.same(deliveries(smtp.mails), ['10:team:team1@example.com'])
  delete smtp.rcpt['team2@example.com']
  await listener.sync()
  t.same(deliveries(smtp.mails), ['10:team:team1@example.com', '10:team:team2@example.com'], 'the retry went to team2 only')
  t.same(smtp.mails[1]?.headers.get('to'), 'team1@example.com, team2@example.com', 'the same message: its To header names both')
  t.equal(listener.pending, 0)
})

t.test('team list: one message refused for good at DATA (552, too big) is logged and skipped; later changes are sent', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const { listener, lines } = await openTeam(t, smtp.port)
  smtp.refuseContent = { includes: 'HUGE', code: 552 }
  const text = submit(10, 'alice', 'HUGE description\n', ['//depot/main/a.c']) + submit(11, 'alice', 'eleven\n', ['//depot/main/b.c'])
  t.equal(await feed(listener, await journal(text)), null, 'nothing to retry')
  t.same(deliveries(smtp.mails), ['11:team:team1@example.com', '11:team:team2@example.com'])
  t.match(
    lines.filter((l) => l.level === 'error'),
    [
      { obj: { change: 10, recipient: 'team1@example.com', command: 'DATA', reply: /^552 / } },
      { obj: { change: 10, recipient: 'team2@example.com', command: 'DATA', reply: /^552 / } },
    ],
  )
  t.equal(listener.refusedRecipients, 2)
})

t.test('team list: a 4xx at DATA is retried', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const { listener } = await openTeam(t, smtp.port)
  smtp.refuseContent = { includes: 'ten', code: 452 }
  const err = (await feed(listener, await journal(submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])))) as LogdaemonError | null
  t.equal(err?.code, ErrorCodes.NOTIFY_DELIVERY)
  smtp.refuseContent = null
  await listener.sync()
  t.same(deliveries(smtp.mails), ['10:team:team1@example.com', '10:team:team2@example.com'])
})

async function openTeam(t: Test, port: number): ReturnType<typeof openReviews> {
  const { NotifyListener } = await import('../../../../lib/listeners/builtin/notify/notify.js')
  const lines: { level: string; obj: Record<string, unknown>; msg: string }[] = []
  const at = (level: string) => (obj: object | string, msg?: string) => lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' })
  const listener = new NotifyListener({
    smtp: { host: '127.0.0.1', port, from: 'Perforce <p4@example.com>', to: ['team1@example.com', 'team2@example.com'] },
  })
  await listener.open({
    start: null,
    logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') },
    signal: new AbortController().signal,
  })
  t.teardown(() => listener.close())
  return { listener, lines }
}

t.test('review mail: an address with an upper-case domain deferred (452) is retried, never taken for delivered', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, user('alice', 'alice@example.com') + user('bob', 'Bob@Example.COM') + review('bob', 0, '//depot/main/...'))
  const { listener } = await openReviews(dir, smtp.port, { reviews: { cc: ['archive@example.com'] } })
  t.teardown(() => listener.close())
  // The envelope carries the domain as nodemailer writes it: lower case.
  smtp.rcpt['Bob@example.com'] = 452
  const err = (await feed(listener, await journal(submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])))) as LogdaemonError | null
  t.equal(err?.code, ErrorCodes.NOTIFY_DELIVERY, 'bob did not take it: the change is retried')
  t.match(err?.details, { recipients: ['Bob@example.com'] })
  t.equal(listener.reviews?.state.mailedThrough, null, 'the state does not say the change was mailed')
  delete smtp.rcpt['Bob@example.com']
  await listener.sync()
  t.same(deliveries(smtp.mails), ['10:bob:archive@example.com', '10:bob:Bob@example.com'], 'bob gets it once, the archive once')
})

t.test('review mail: an upper-case or non-ASCII domain refused for good (550) is skipped, later changes are mailed', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(
    dir,
    user('alice', 'alice@example.com') +
      user('bob', 'Bob@Example.COM') +
      user('carol', 'carol@jõgeva.ee') +
      review('bob', 0, '//depot/main/a.c') +
      review('carol', 0, '//depot/main/b.c'),
  )
  const { listener, lines } = await openReviews(dir, smtp.port)
  t.teardown(() => listener.close())
  smtp.rcpt['Bob@example.com'] = 550
  // nodemailer sends the domain punycoded; smtp-server shows it decoded again.
  smtp.rcpt['carol@jõgeva.ee'] = 550
  const text = submit(10, 'alice', 'ten\n', ['//depot/main/a.c']) + submit(11, 'alice', 'eleven\n', ['//depot/main/b.c'])
  const entries = await journal(text + submit(12, 'alice', 'twelve\n', ['//depot/main/b.c']))
  const first = (await journal(text)).length
  t.equal(await feed(listener, entries.slice(0, first)), null, 'nothing to retry: each is refused for good')
  t.match(
    lines.filter((l) => l.level === 'error'),
    [{ obj: { change: 10, recipient: 'Bob@example.com', reply: /^550 / } }, { obj: { change: 11, recipient: 'carol@xn--jgeva-dua.ee', reply: /^550 / } }],
  )
  t.equal(listener.refusedRecipients, 2)
  delete smtp.rcpt['carol@jõgeva.ee']
  t.equal(await feed(listener, entries.slice(first)), null)
  t.same(deliveries(smtp.mails), ['12:carol:carol@jõgeva.ee'], 'a later change reaches carol')
})

t.test('a relay refusal of every recipient (554 5.7.1 Relay access denied) is the session: retried, nothing skipped', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const dir = t.testdir()
  writeCheckpoint(dir, users + subscriptions)
  const { listener, lines } = await openReviews(dir, smtp.port, { smtp: { to: ['team@example.com'] } })
  t.teardown(() => listener.close())
  smtp.rcptAll = { code: 554, text: '5.7.1 <bob@example.com>: Relay access denied' }
  const err = (await feed(listener, await journal(submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])))) as LogdaemonError | null
  t.equal(err?.code, ErrorCodes.NOTIFY_DELIVERY)
  t.equal(err?.retryable, true)
  t.match(err?.message, /Relay access denied/)
  t.equal((await listener.sync().catch((e: unknown) => e as LogdaemonError))?.code, ErrorCodes.NOTIFY_DELIVERY, 'no position is committed')
  t.equal(listener.reviews?.state.mailedThrough, null, 'the review state does not move past the change')
  t.equal(listener.refusedRecipients, 0)
  t.equal(lines.filter((l) => l.level === 'error').length, 0, 'nobody is logged as refused')
  smtp.rcptAll = null
  await listener.sync()
  t.same(deliveries(smtp.mails).sort(), ['10:bob:bob@example.com', '10:carol:carol@example.com', '10:team:team@example.com'])
})

t.test('a relay refusal of one recipient while the others took the mail (554 5.7.1) is retried for it alone', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const { listener, lines } = await openTeam(t, smtp.port)
  smtp.rcpt['team2@example.com'] = { code: 554, text: '5.7.1 <team2@example.com>: Relay access denied' }
  const err = (await feed(listener, await journal(submit(10, 'alice', 'ten\n', ['//depot/main/a.c'])))) as LogdaemonError | null
  t.equal(err?.code, ErrorCodes.NOTIFY_DELIVERY)
  t.match(err?.details, { recipients: ['team2@example.com'] })
  t.equal(listener.refusedRecipients, 0)
  t.equal(lines.filter((l) => l.level === 'error').length, 0)
  delete smtp.rcpt['team2@example.com']
  await listener.sync()
  t.same(deliveries(smtp.mails), ['10:team:team1@example.com', '10:team:team2@example.com'])
})

t.test('at DATA: a content refusal (554 spam) is final, a sender policy one (554 5.7.1) and a bare 554 are retried', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const { listener } = await openTeam(t, smtp.port)
  smtp.refuseContent = { includes: 'SPAM', code: 554, text: 'Transaction failed: message looks like spam' }
  t.equal(await feed(listener, await journal(submit(10, 'alice', 'SPAM\n', ['//depot/main/a.c']))), null, '554 at DATA: this message, for good')
  t.equal(listener.refusedRecipients, 2)
  smtp.refuseContent = { includes: 'eleven', code: 554, text: '5.7.1 Sender not authorized' }
  const err = (await feed(listener, await journal(submit(11, 'alice', 'eleven\n', ['//depot/main/a.c'])))) as LogdaemonError | null
  t.equal(err?.code, ErrorCodes.NOTIFY_DELIVERY, '5.7.1 at DATA: the session, retried')
  smtp.refuseContent = null
  await listener.sync()
  smtp.refuseContent = { includes: 'twelve', code: 554, text: 'Transaction failed' }
  const bare = (await feed(listener, await journal(submit(12, 'alice', 'twelve\n', ['//depot/main/a.c'])))) as LogdaemonError | null
  t.equal(bare?.code, ErrorCodes.NOTIFY_DELIVERY, 'a bare 554 at DATA: the session (it may be the configuration), retried')
  smtp.refuseContent = null
  await listener.sync()
  t.same(deliveries(smtp.mails), ['11:team:team1@example.com', '11:team:team2@example.com', '12:team:team1@example.com', '12:team:team2@example.com'])
})

t.test("a sender or relay refusal at RCPT TO, as Postfix, Exim and qmail word it, is the session's: nothing skipped, mailed once fixed", async (t) => {
  const replies: [number, string][] = [
    [553, '5.1.8 <p4@example.com>: Sender address rejected: Domain not found'],
    [550, 'relay not permitted'],
    [553, "sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)"],
  ]
  for (const [n, [code, text]] of replies.entries()) {
    const smtp = await startSmtpPeer()
    const { listener, lines } = await openTeam(t, smtp.port)
    smtp.rcpt['team1@example.com'] = { code, text }
    smtp.rcpt['team2@example.com'] = { code, text }
    const change = 10 + n
    const err = (await feed(listener, await journal(submit(change, 'alice', 'text\n', ['//depot/main/a.c'])))) as LogdaemonError | null
    t.equal(err?.code, ErrorCodes.NOTIFY_DELIVERY, `${code} ${text}: retried`)
    t.equal(listener.refusedRecipients, 0, 'no recipient taken as refused for good')
    t.same(
      lines.filter((l) => l.level === 'error'),
      [],
      'no "refused for good" line',
    )
    smtp.rcpt = {}
    await listener.sync()
    t.same(deliveries(smtp.mails), [`${change}:team:team1@example.com`, `${change}:team:team2@example.com`], 'mailed once the server takes it')
    await smtp.close()
  }
})

t.test('a recipient refusal that never passes (Exchange Online 5.4.1, a 5.7.1 spam refusal at DATA) is final: later changes go on', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const { listener } = await openTeam(t, smtp.port)
  smtp.rcpt['team2@example.com'] = { code: 550, text: '5.4.1 Recipient address rejected: Access denied. AS(201806281)' }
  t.equal(await feed(listener, await journal(submit(10, 'alice', 'ten\n', ['//depot/main/a.c']))), null, '5.4.1 with the recipient named: for good')
  smtp.refuseContent = { includes: 'SPAMMY', code: 554, text: '5.7.1 Message rejected as spam' }
  t.equal(await feed(listener, await journal(submit(11, 'alice', 'SPAMMY\n', ['//depot/main/a.c']))), null, 'spam at DATA: this message, for good')
  smtp.refuseContent = null
  t.equal(await feed(listener, await journal(submit(12, 'alice', 'twelve\n', ['//depot/main/a.c']))), null)
  t.same(deliveries(smtp.mails), ['10:team:team1@example.com', '12:team:team1@example.com'], 'change 12 went on')
  t.equal(listener.refusedRecipients, 4, 'team2 for 10 and 12, both for 11')
})
