import t from 'tap'
import { judgeReply, outcomeOfError, outcomeOfInfo } from '../../../../lib/listeners/builtin/notify/smtp-outcome.js'

t.test('judgeReply: the enhanced status code decides when there is one, else the basic code and the command', async (t) => {
  const cases: [string, number | null, string, string][] = [
    ['RCPT TO', 550, '550 5.1.1 <bob@example.com>: user unknown', 'final'],
    ['RCPT TO', 550, '550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in virtual mailbox table', 'final'],
    ['RCPT TO', 552, '552 5.2.2 mailbox full', 'final'],
    ['RCPT TO', 554, '554 5.7.1 <bob@example.com>: Relay access denied', 'session'],
    ['RCPT TO', 550, '550 5.7.1 policy', 'session'],
    ['RCPT TO', 550, '550 5.4.4 unroutable', 'session'],
    ['RCPT TO', 550, '550 5.5.1 bad sequence', 'session'],
    ['RCPT TO', 550, '550 5.3.0 other system error', 'session'],
    ['RCPT TO', 550, '550 5.6.0 media', 'session'],
    ['RCPT TO', 550, '550 5.0.0 unknown user', 'final'],
    ['RCPT TO', 550, '550 no such user', 'final'],
    ['RCPT TO', 551, '551 user not local', 'final'],
    ['RCPT TO', 553, '553 mailbox name not allowed', 'final'],
    ['RCPT TO', 552, '552 too many recipients', 'deferred'],
    ['RCPT TO', 554, '554 relay denied', 'session'],
    ['RCPT TO', 530, '530 authentication required', 'session'],
    ['RCPT TO', 452, '452 4.2.2 mailbox full', 'deferred'],
    ['RCPT TO', null, 'refused', 'deferred'],
    // A review's real-world replies: the configuration's (the sender, the relay, the login), never taken for a recipient's ...
    ['RCPT TO', 553, '553 5.1.8 <p4@example.com>: Sender address rejected: Domain not found', 'session'],
    ['RCPT TO', 550, '550 5.1.0 <p4@example.com>: Sender address rejected: undeliverable address', 'session'],
    ['RCPT TO', 550, '550 5.1.7 bad sender mailbox', 'session'],
    ['RCPT TO', 550, '550 relay not permitted', 'session'],
    ['RCPT TO', 553, "553 sorry, that domain isn't in my list of allowed rcpthosts (#5.7.1)", 'session'],
    ['RCPT TO', 550, '550 Relaying denied. Proper authentication required.', 'session'],
    ['RCPT TO', 550, '550 SMTP AUTH is required for message submission on port 587', 'session'],
    // ... and a recipient's that will never pass, final rather than holding every later change.
    ['RCPT TO', 550, '550 5.4.1 Recipient address rejected: Access denied. AS(201806281)', 'final'],
    ['RCPT TO', 550, '550 5.5.0 Requested action not taken: mailbox unavailable', 'final'],
    ['RCPT TO', 554, '554 5.7.1 <bob@example.com>: Recipient address rejected: Access denied', 'final'],
    ['RCPT TO', 553, '553 sorry, no mailbox here by that name. (#5.1.1)', 'final'],
    // The address a reply echoes is not read as its words.
    ['RCPT TO', 550, '550 5.1.1 <relay@example.com>: user unknown', 'final'],
    ['RCPT TO', 550, '550 <sender.auth@example.com>... No such user', 'final'],
    ['RCPT TO', 550, '550 5.7.1 <mailbox@example.com>: Relay access denied', 'session'],
    // A third review: 5.1.x before the words, bare addresses and host names left out, and at DATA only what is about the message.
    ['RCPT TO', 550, '550 5.1.1 <bob@example.com>: Recipient address rejected: User unknown in relay recipient table', 'final'],
    ['RCPT TO', 550, '550 5.1.1 relay@example.com... User unknown', 'final'],
    ['RCPT TO', 550, '550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient sender@example.com not found by SMTP address lookup', 'final'],
    ['RCPT TO', 550, '550 5.1.1 User unknown [relay1.example.com]', 'final'],
    ['RCPT TO', 550, '550 5.1.1 bob@relay.example.com: user unknown', 'final'],
    ['RCPT TO', 550, '550 5.1.1 auth@example.com: user unknown', 'final'],
    ['DATA', 554, '554 Message rejected: Email address is not verified. The following identities failed the check: p4@example.com', 'session'],
    ['DATA', 554, '554 Access denied: User arn:aws:iam::1:user/x is not authorized to perform ses:SendRawEmail', 'session'],
    ['DATA', 550, '550 5.7.1 Our system has detected an unusual rate of unsolicited mail originating from your IP address', 'session'],
    ['DATA', 550, '550 5.7.520 Access denied, Your organization does not allow external forwarding', 'session'],
    ['DATA', 550, '550 5.7.708 Service unavailable. Access denied, traffic not accepted from this IP', 'session'],
    ['DATA', 552, '552 5.3.4 Message size exceeds fixed maximum message size', 'final'],
    ['DATA', 554, '554 5.6.0 Message content rejected', 'final'],
    ['DATA', 552, '552 message too big', 'final'],
    ['DATA', 554, '554 transaction failed', 'session'],
    ['DATA', 554, '554 5.3.4 message too big', 'final'],
    ['DATA', 550, '550 5.6.0 content rejected', 'final'],
    ['DATA', 554, '554 5.7.1 Message rejected as spam', 'final'],
    ['DATA', 550, '550 5.7.1 blocked URL in message content', 'final'],
    ['DATA', 550, '550 not allowed', 'session'],
    ['DATA', 550, '550 5.7.26 Unauthenticated email from example.com is not accepted due to its DMARC policy', 'session'],
    ['DATA', 550, '550 5.7.1 SPF check failed for the sender', 'session'],
    ['DATA', 451, '451 4.3.0 try later', 'session'],
  ]
  for (const [command, code, reply, verdict] of cases) t.equal(judgeReply(command, code, reply), verdict, `${command} ${reply}`)
})

t.test('outcomeOfInfo: a recipient nodemailer does not list as accepted is deferred, never taken for delivered', async (t) => {
  const outcome = outcomeOfInfo({ accepted: ['a@example.com'], rejected: [], rejectedErrors: [] }, ['a@example.com', 'b@example.com'])
  t.same(outcome.accepted, ['a@example.com'])
  t.match(outcome.deferred, [{ address: 'b@example.com', code: null }])
  t.same(outcome.refused, [])
})

t.test('outcomeOfInfo: refusals nodemailer reports for a mail others took', async (t) => {
  const info = {
    accepted: ['a@example.com'],
    rejected: ['b@example.com', 'c@example.com', 'd@example.com', 'e@example.com'],
    rejectedErrors: [
      { recipient: 'b@example.com', command: 'RCPT TO', responseCode: 550, response: '550 5.1.1 <b@example.com>: user unknown' },
      { recipient: 'c@example.com', command: 'RCPT TO', responseCode: 452, response: '452 4.2.2 mailbox full' },
      { recipient: 'd@example.com', command: 'RCPT TO', responseCode: 554, response: '554 5.7.1 <d@example.com>: Relay access denied' },
      'not an error',
      { command: 'RCPT TO', responseCode: 550 },
    ],
  }
  const o = outcomeOfInfo(info, ['a@example.com', 'b@example.com', 'c@example.com', 'd@example.com', 'e@example.com'])
  t.same(o.accepted, ['a@example.com'])
  t.same(
    o.refused.map((r) => r.address),
    ['b@example.com'],
    'an unknown user, for good',
  )
  t.same(
    o.deferred.map((r) => [r.address, r.code]),
    [
      ['c@example.com', 452],
      ['e@example.com', null],
      ['d@example.com', 554],
    ],
    'a full mailbox, a rejected address without its error, and a relay refusal while others took the mail: retried for them',
  )
  t.same(
    outcomeOfInfo(null, ['a@example.com']).deferred.map((r) => r.address),
    ['a@example.com'],
    'no report at all: nobody counted delivered',
  )
})

t.test('outcomeOfError: who a failed mail reached, or null for the session', async (t) => {
  const all = ['a@example.com', 'b@example.com']
  t.equal(outcomeOfError('boom', all), null, 'not an SMTP error')
  t.equal(outcomeOfError({ code: 'ECONNECTION', message: 'connect ECONNREFUSED' }, all), null, 'no connection')
  t.equal(outcomeOfError({ code: 'EENVELOPE', command: 'MAIL FROM', responseCode: 530, response: '530 5.7.0 Authentication required' }, all), null)
  const relay = { recipient: '', command: 'RCPT TO', responseCode: 554, response: '554 5.7.1 Relay access denied' }
  t.equal(
    outcomeOfError({ code: 'EENVELOPE', command: 'RCPT TO', rejectedErrors: all.map((a) => ({ ...relay, recipient: a })) }, all),
    null,
    'every recipient refused by the relay: the session',
  )
  const unknown = outcomeOfError(
    {
      code: 'EENVELOPE',
      command: 'RCPT TO',
      responseCode: 550,
      response: '550 5.1.1 user unknown',
      rejectedErrors: [{ recipient: 'a@example.com', command: 'RCPT TO', responseCode: 550, response: '550 5.1.1 <a@example.com>: user unknown' }],
    },
    all,
  )
  t.same(
    unknown?.refused.map((r) => r.address),
    ['a@example.com'],
  )
  t.same(
    unknown?.deferred.map((r) => r.address),
    ['b@example.com'],
    'a recipient the error does not name is retried, never taken as delivered',
  )
  const tooBig = outcomeOfError({ code: 'EMESSAGE', command: 'MAIL FROM', message: 'Message size larger than allowed 1000' }, all)
  t.same(
    tooBig?.refused.map((r) => [r.address, r.code, r.reply]),
    [
      ['a@example.com', null, 'Message size larger than allowed 1000'],
      ['b@example.com', null, 'Message size larger than allowed 1000'],
    ],
    "larger than the server's SIZE: the message, for good",
  )
  t.equal(outcomeOfError({ code: 'EMESSAGE', command: 'DATA', responseCode: 451, response: '451 4.3.0 try later' }, all), null, 'a 4xx at DATA: the session')
  t.same(outcomeOfError({ code: 'EMESSAGE', command: 'DATA', responseCode: 554, response: '554 5.6.0 content rejected' }, all)?.refused.length, 2)
})
