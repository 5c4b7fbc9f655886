import { createServer, type AddressInfo, type Socket } from 'node:net'
import t from 'tap'
import { ErrorCodes, type LogdaemonError } from '../../../../lib/errors.js'
import type { SubmittedChange } from '../../../../lib/listeners/builtin/notify/change-collector.js'
import { DEFAULT_SUBJECT } from '../../../../lib/listeners/builtin/notify/change-message.js'
import { SmtpSender, type SmtpOptions } from '../../../../lib/listeners/builtin/notify/smtp-sender.js'
import { startSmtpPeer } from '../../../helpers/notify-peers.js'

const change: SubmittedChange = {
  change: 4711,
  user: 'zoë',
  client: 'zoe-ws',
  date: 1411124783,
  description: 'Fix the frobnicator\n\nA longer explanation, with a € sign.\n',
  descriptionComplete: true,
  files: [
    { depotFile: '//depot/main/frob.c', revision: 12, action: 'edit' },
    { depotFile: '//depot/main/new file.txt', revision: 1, action: 'add' },
  ],
  fileCount: 2,
  filesComplete: true,
  position: { journal: 7, offset: 0, end: 100, line: 1 },
  pid: '1',
}

const options = (port: number, extra: Partial<SmtpOptions> = {}): SmtpOptions => ({
  host: '127.0.0.1',
  port,
  secure: false,
  requireTLS: false,
  from: 'Perforce <p4@example.com>',
  to: ['review@example.com', 'lead@example.com'],
  subjectTemplate: DEFAULT_SUBJECT,
  timeoutMs: 10_000,
  ...extra,
})

t.test('mails the change to every recipient, p4 describe style, with dedupe headers', async (t) => {
  const peer = await startSmtpPeer()
  t.teardown(() => peer.close())
  const sender = new SmtpSender(options(peer.port))
  t.teardown(() => sender.close())
  await sender.send(change, 'review')
  t.equal(peer.mails.length, 1)
  const mail = peer.mails[0]!
  t.equal(mail.from, 'p4@example.com')
  t.same(mail.to, ['review@example.com', 'lead@example.com'])
  t.equal(mail.headers.get('subject'), '[p4] Change 4711 by zoë@zoe-ws: Fix the frobnicator')
  t.equal(mail.headers.get('message-id'), '<logdaemon.change-4711@example.com>')
  t.equal(mail.headers.get('x-logdaemon-change'), '4711')
  t.equal(mail.headers.get('x-logdaemon-delivery'), 'change-4711')
  t.equal(mail.headers.get('x-logdaemon-listener'), 'review')
  t.equal(
    mail.text,
    [
      'Change 4711 by zoë@zoe-ws on 2014/09/19 11:06:23 UTC',
      '',
      '\tFix the frobnicator',
      '\t',
      '\tA longer explanation, with a € sign.',
      '',
      'Affected files ...',
      '',
      '... //depot/main/frob.c#12 edit',
      '... //depot/main/new file.txt#1 add',
      '',
    ].join('\n'),
  )
})

t.test('logs in when auth is configured', async (t) => {
  const peer = await startSmtpPeer({ auth: { user: 'p4mail', pass: 'pw' } })
  t.teardown(() => peer.close())
  const good = new SmtpSender(options(peer.port, { auth: { user: 'p4mail', pass: 'pw' } }))
  t.teardown(() => good.close())
  await good.send(change, 'n')
  t.equal(peer.mails.length, 1)
  const bad = new SmtpSender(options(peer.port, { auth: { user: 'p4mail', pass: 'wrong' } }))
  t.teardown(() => bad.close())
  const err = (await bad.send(change, 'n').catch((e: unknown) => e)) as LogdaemonError
  t.equal(err.code, ErrorCodes.NOTIFY_DELIVERY)
  t.equal(peer.mails.length, 1)
})

t.test('a server that refuses the message rejects with ERR_NOTIFY_DELIVERY', async (t) => {
  const peer = await startSmtpPeer()
  t.teardown(() => peer.close())
  peer.refuse = 451
  const sender = new SmtpSender(options(peer.port))
  t.teardown(() => sender.close())
  const err = (await sender.send(change, 'n').catch((e: unknown) => e)) as LogdaemonError
  t.equal(err.code, ErrorCodes.NOTIFY_DELIVERY)
  t.same(err.details, { channel: 'smtp', change: 4711, host: '127.0.0.1', port: peer.port })
  t.match(err.message, /mail for change 4711 via 127\.0\.0\.1:\d+ failed/)
})

t.test('no server listening rejects with ERR_NOTIFY_DELIVERY', async (t) => {
  const peer = await startSmtpPeer()
  const port = peer.port
  await peer.close()
  const sender = new SmtpSender(options(port))
  t.teardown(() => sender.close())
  const err = (await sender.send(change, 'n').catch((e: unknown) => e)) as LogdaemonError
  t.equal(err.code, ErrorCodes.NOTIFY_DELIVERY)
  t.match(err.message, /ECONNREFUSED/)
})

t.test('a server that trickles its reply (a tarpit) is cut off at deadlineMs, and the mail fails to be retried', async (t) => {
  // It greets, then answers EHLO one continuation line every 50 ms and never ends: the socket is never idle
  // for timeoutMs, so only the deadline ends the session.
  const sockets = new Set<Socket>()
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
    socket.write('220 tarpit ESMTP\r\n')
    socket.once('data', () => {
      const drip = setInterval(() => socket.write('250-still thinking\r\n'), 50)
      socket.on('close', () => clearInterval(drip))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const s of sockets) s.destroy()
    server.close()
  })
  const port = (server.address() as AddressInfo).port
  const sender = new SmtpSender(options(port, { timeoutMs: 1000, deadlineMs: 600 }))
  t.teardown(() => sender.close())
  const guard = new Promise((resolve) => setTimeout(() => resolve('still waiting after 10 s'), 10_000).unref())
  const err = (await Promise.race([sender.send(change, 'n').catch((e: unknown) => e), guard])) as LogdaemonError
  t.equal(err.code, ErrorCodes.NOTIFY_DELIVERY, 'the session failed (retried by the listener)')
  t.match(err.message, /mail for change 4711 via 127\.0\.0\.1:\d+ failed.*: did not finish within deadlineMs \(600 ms\); the connection was closed/)
  // The connection is closed, not left dripping.
  for (let i = 0; i < 50 && sockets.size > 0; i++) await new Promise((r) => setTimeout(r, 20))
  t.equal(sockets.size, 0, 'its connection closed')
})

t.test('requireTLS fails against a server without STARTTLS', async (t) => {
  const peer = await startSmtpPeer()
  t.teardown(() => peer.close())
  const sender = new SmtpSender(options(peer.port, { requireTLS: true }))
  t.teardown(() => sender.close())
  const err = (await sender.send(change, 'n').catch((e: unknown) => e)) as LogdaemonError
  t.equal(err.code, ErrorCodes.NOTIFY_DELIVERY)
  t.equal(peer.mails.length, 0)
})

t.test('the outcome per recipient: 4xx at RCPT TO deferred, 5xx refused, the rest accepted; a refused sender rejects', async (t) => {
  const peer = await startSmtpPeer()
  t.teardown(() => peer.close())
  const sender = new SmtpSender(options(peer.port, { to: ['a@example.com', 'b@example.com', 'c@example.com'] }))
  t.teardown(() => sender.close())
  peer.rcpt = { 'b@example.com': 452, 'c@example.com': 550 }
  const outcome = await sender.send(change, 'n')
  t.same(outcome.accepted, ['a@example.com'])
  t.match(outcome.deferred, [{ address: 'b@example.com', code: 452, command: 'RCPT TO', reply: /^452 / }])
  t.match(outcome.refused, [{ address: 'c@example.com', code: 550, command: 'RCPT TO', reply: /^550 / }])
  t.same(peer.mails[0]?.to, ['a@example.com'])

  peer.rcpt = { 'a@example.com': 450, 'b@example.com': 452, 'c@example.com': 550 }
  const none = await sender.send(change, 'n')
  t.same(none.accepted, [], 'every recipient refused: an outcome, not an error')
  t.same(
    none.deferred.map((r) => r.address),
    ['a@example.com', 'b@example.com'],
  )
  t.same(
    none.refused.map((r) => r.address),
    ['c@example.com'],
  )

  peer.rcpt = {}
  const message = sender.teamMail(change, 'n')
  t.same((await sender.deliver(message, change.change, ['b@example.com'])).accepted, ['b@example.com'], 'the envelope can be a part of the recipients')
  t.same(peer.mails.at(-1)?.to, ['b@example.com'])
  t.equal(peer.mails.at(-1)?.headers.get('to'), 'a@example.com, b@example.com, c@example.com', 'the headers are those of the whole message')

  peer.refuseContent = { includes: 'frobnicator', code: 554, text: '5.6.0 message content refused by the test' }
  const content = await sender.send(change, 'n')
  t.same(
    content.refused.map((r) => [r.address, r.command, r.code]),
    [
      ['a@example.com', 'DATA', 554],
      ['b@example.com', 'DATA', 554],
      ['c@example.com', 'DATA', 554],
    ],
    'a 5xx about the message refuses it for every recipient',
  )
  peer.refuseContent = null

  peer.mailFrom = 553
  const err = (await sender.send(change, 'n').catch((e: unknown) => e)) as LogdaemonError
  t.equal(err.code, ErrorCodes.NOTIFY_DELIVERY, 'a 5xx to MAIL FROM is the session: retried')
  t.equal(err.retryable, true)
  t.match(err.message, /at MAIL FROM/)
})

t.test('the team mail subject is capped at 200 characters; the body has the whole first line', async (t) => {
  const sender = new SmtpSender(options(1))
  t.teardown(() => sender.close())
  const line = 'é'.repeat(2_000_000)
  const mail = sender.teamMail({ ...change, description: `${line}\n` }, 'notify')
  t.equal(mail.subject.length, 200)
  t.match(mail.subject, /^\[p4\] Change 4711 by zoë@zoe-ws: é+\u2026$/)
  t.match(mail.text, line)
})
