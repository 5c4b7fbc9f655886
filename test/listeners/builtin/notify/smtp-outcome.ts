import t from 'tap'
import { judgeReply, outcomeOfInfo } from '../../../../lib/listeners/builtin/notify/smtp-outcome.js'

t.test('judgeReply: the enhanced status code decides when there is one, else the basic code and the command', async (t) => {
  const cases: [string, number | null, string, string][] = [
    ['RCPT TO', 550, '550 5.1.1 <bob@example.com>: user unknown', 'final'],
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
    ['DATA', 552, '552 message too big', 'final'],
    ['DATA', 554, '554 transaction failed', 'final'],
    ['DATA', 554, '554 5.3.4 message too big', 'final'],
    ['DATA', 550, '550 5.6.0 content rejected', 'final'],
    ['DATA', 554, '554 5.7.1 spam', 'session'],
    ['DATA', 550, '550 not allowed', 'session'],
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
