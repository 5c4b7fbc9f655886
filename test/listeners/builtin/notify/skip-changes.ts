/**
 * `skipChanges`: the way past a change that can never be delivered (the
 * listener holds every later change behind it, as it must for a refusal
 * it cannot tell from a passing one).
 */
import t, { type Test } from 'tap'
import { ErrorCodes, type LogdaemonError } from '../../../../lib/errors.js'
import { NotifyListener } from '../../../../lib/listeners/builtin/notify/notify.js'
import { optionsSchema } from '../../../../lib/listeners/builtin/notify/notify-options.js'
import { startSmtpPeer } from '../../../helpers/notify-peers.js'
import { deliveries, feed, journal, submit } from '../../../helpers/review-journal.js'

async function open(t: Test, port: number, skipChanges: number[]) {
  const warnings: string[] = []
  const log = () => {}
  const listener = new NotifyListener(
    optionsSchema.parse({ smtp: { host: '127.0.0.1', port, from: 'Perforce <p4@example.com>', to: ['team@example.com'] }, skipChanges }),
  )
  await listener.open({
    start: null,
    logger: { debug: log, info: log, error: log, warn: (_o: object | string, msg?: string) => void warnings.push(msg ?? '') },
    signal: new AbortController().signal,
  })
  t.teardown(() => listener.close())
  return { listener, warnings }
}

t.test('a change the server never takes holds the later ones until it is listed in skipChanges', async (t) => {
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  smtp.refuseContent = { includes: 'STUCK', code: 451, text: '4.3.0 try again later' }
  const text = submit(10, 'alice', 'STUCK\n', ['//depot/main/a.c']) + submit(11, 'alice', 'eleven\n', ['//depot/main/b.c'])
  const stuck = await open(t, smtp.port, [])
  const err = (await feed(stuck.listener, await journal(text))) as LogdaemonError | null
  t.equal(err?.code, ErrorCodes.NOTIFY_DELIVERY)
  t.match(err?.message, /skipChanges/, 'the error names the way out')
  t.same(deliveries(smtp.mails), [], 'change 11 waits behind change 10')
  const skipping = await open(t, smtp.port, [10])
  t.equal(await feed(skipping.listener, await journal(text)), null)
  t.same(deliveries(smtp.mails), ['11:team:team@example.com'], 'change 10 skipped, change 11 sent')
  t.match(skipping.warnings, [/change 10 is in skipChanges: not sent/])
})

t.test('skipChanges takes change numbers only', async (t) => {
  const base = { smtp: { host: 'h', from: 'p4@example.com', to: ['a@example.com'] } }
  t.same(optionsSchema.parse(base).skipChanges, [])
  for (const bad of [[0], [-1], [1.5], ['12'], 12]) t.throws(() => optionsSchema.parse({ ...base, skipChanges: bad }), `rejects ${JSON.stringify(bad)}`)
})
