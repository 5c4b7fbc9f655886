import t, { type Test } from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { ErrorCodes, type LogdaemonError } from '../../../../lib/errors.js'
import type { JournalEntry } from '../../../../lib/journal/entry.js'
import { encodeRecord, type RecordSpec } from '../../../../lib/journal/encoder.js'
import type { ListenerLogger } from '../../../../lib/listeners/listener.js'
import { ListenerWritable } from '../../../../lib/listeners/listener-writable.js'
import {
  create,
  NotifyListener,
  optionsSchema,
  signBody,
  verifySignature,
  type ChangePayload,
  type NotifyInput,
} from '../../../../lib/listeners/builtin/notify/notify.js'
import { fixturesSkip, readFixture } from '../../../helpers/fixtures.js'
import { frame } from '../../../helpers/collect.js'
import { startHttpPeer, startSmtpPeer, type HttpPeer, type SmtpPeer } from '../../../helpers/notify-peers.js'

const SECRET = 'test-secret-0123456789abcdef'

interface Logged {
  level: string
  obj: object | string
  msg: string | undefined
}

function recordingLogger(): { logger: ListenerLogger; lines: Logged[] } {
  const lines: Logged[] = []
  const at = (level: string) => (obj: object | string, msg?: string) => lines.push({ level, obj, msg })
  return { logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, lines }
}

/** Opens a listener the way the daemon does. */
function opened(options: NotifyInput, name = 'notify'): { listener: NotifyListener; lines: Logged[]; abort: AbortController } {
  const listener = new NotifyListener(options, name)
  const { logger, lines } = recordingLogger()
  const abort = new AbortController()
  listener.open({ start: null, logger, signal: abort.signal })
  return { listener, lines, abort }
}

/** Feeds entries as the daemon does: isHandled, then listen; then a quiet period. */
async function replay(listener: NotifyListener, entries: readonly JournalEntry[]): Promise<void> {
  for (const e of entries) if (listener.isHandled(e)) await listener.listen(e)
  await listener.noData(true)
}

async function peers(t: Test): Promise<{ smtp: SmtpPeer; http: HttpPeer }> {
  const smtp = await startSmtpPeer()
  const http = await startHttpPeer()
  t.teardown(async () => {
    await smtp.close()
    await http.close()
  })
  return { smtp, http }
}

const both = (smtp: SmtpPeer, http: HttpPeer, extra: Partial<NotifyInput> = {}): NotifyInput => ({
  smtp: { host: '127.0.0.1', port: smtp.port, from: 'p4 <p4@example.com>', to: ['review@example.com'] },
  webhook: { url: http.url, secret: SECRET, timeoutMs: 10_000 },
  ...extra,
})

const payloads = (http: HttpPeer): ChangePayload[] => http.requests.map((r) => JSON.parse(r.body.toString('utf8')) as ChangePayload)

const records = (specs: RecordSpec[]) => frame([Buffer.concat(specs.map(encodeRecord))], { journal: 5 })
const change = (n: number, status: number, user = 'alice'): RecordSpec => ({
  op: 'pv',
  version: 2,
  table: 'db.change',
  fields: [n, n, 'ws', user, 1411124783, status, `change ${n}\n`, ''],
})
const revcx = (n: number, file: string): RecordSpec => ({ op: 'pv', version: 0, table: 'db.revcx', fields: [n, file, 1, 0] })
const ex = (pid: number): RecordSpec => ({ op: 'ex', fields: [pid, 1411124783] })

const rejection = async (p: Promise<unknown>): Promise<LogdaemonError> => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  )
  if (err === null) throw new Error('expected a rejection')
  return err as LogdaemonError
}

t.test('options: smtp or webhook required, strict, defaults filled, documented', async (t) => {
  t.match(optionsSchema.safeParse({}).error?.issues[0]?.message, /needs "smtp", "webhook" or both/)
  t.equal(optionsSchema.safeParse({ webhook: { url: 'http://x/', secret: SECRET }, bogus: 1 }).success, false, 'unknown key')
  t.equal(optionsSchema.safeParse({ webhook: { url: 'http://x/', secret: SECRET, bogus: 1 } }).success, false, 'unknown nested key')
  t.equal(optionsSchema.safeParse({ webhook: { url: 'ftp://x/', secret: SECRET } }).success, false, 'http(s) only')
  t.equal(optionsSchema.safeParse({ webhook: { url: 'http://u:p@x/', secret: SECRET } }).success, false, 'no credentials in the URL')
  t.equal(optionsSchema.safeParse({ webhook: { url: 'http://x/', secret: 'short' } }).success, false, 'secret of 16+ characters')
  t.equal(optionsSchema.safeParse({ smtp: { from: 'a@b', to: [] } }).success, false, 'at least one recipient')
  const o = optionsSchema.parse({ smtp: { from: 'a@b', to: ['c@d'] } })
  t.same(o.smtp, {
    host: 'localhost',
    port: 25,
    secure: false,
    requireTLS: false,
    from: 'a@b',
    to: ['c@d'],
    subjectTemplate: '[p4] Change {change} by {user}@{client}: {summary}',
    timeoutMs: 30_000,
  })
  const deadlineIssue = (smtp: Record<string, unknown>) =>
    optionsSchema.safeParse({ smtp: { from: 'a@b', to: ['c@d'], ...smtp } }).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`)
  t.same(
    deadlineIssue({ deadlineMs: 0 }),
    ['smtp.deadlineMs: Too small: expected number to be >0', 'smtp.deadlineMs: deadlineMs must be at least timeoutMs'],
    'a deadline of 0 is refused',
  )
  t.match(deadlineIssue({ deadlineMs: 1e12 }), [/^smtp\.deadlineMs: expected at most /], 'a deadline no timer can hold is refused')
  t.same(deadlineIssue({ timeoutMs: 60_000, deadlineMs: 30_000 }), ['smtp.deadlineMs: deadlineMs must be at least timeoutMs'], 'nor one shorter than a wait')
  t.equal(optionsSchema.parse({ smtp: { from: 'a@b', to: ['c@d'], deadlineMs: 1000, timeoutMs: 1000 } }).smtp?.deadlineMs, 1000)
  t.same(o.filters, { paths: [], users: [] })
  t.equal(o.encoding, 'utf8')
  t.equal(o.maxFiles, 1000)
  t.equal(o.unmarked, 'when-quiet')
  t.equal(optionsSchema.parse({ webhook: { url: 'https://x/', secret: SECRET } }).webhook?.timeoutMs, 10_000)
  const json = JSON.stringify(optionsSchema.toJSONSchema?.() ?? {})
  t.match(json, /HMAC-SHA256/, 'fields carry descriptions')
})

t.test('the daemon configuration knows notify and reports its option errors by key', async (t) => {
  const { parseConfig } = await import('../../../../lib/daemon/config.js')
  const server = { root: '/r' }
  await t.rejects(parseConfig({ server, listeners: [{ type: 'notify', options: { webhook: { url: 'ftp://x/', secret: SECRET } } }] }), {
    code: ErrorCodes.CONFIG_INVALID,
    message: /listeners\[0\]\.options\.webhook\.url: expected an http:\/\/ or https:\/\/ URL/,
  })
  const c = await parseConfig({ server, listeners: [{ type: 'notify', name: 'reviews', options: { smtp: { from: 'a@b', to: ['c@d'] } } }] })
  t.match(c.listeners[0], { type: 'notify', name: 'reviews', options: { smtp: { port: 25 }, unmarked: 'when-quiet' } })
})

t.test('create() names the listener from the context', async (t) => {
  const l = create(optionsSchema.parse({ webhook: { url: 'http://127.0.0.1:9/', secret: SECRET } }), { name: 'reviews' })
  t.equal(l.name, 'reviews')
  await l.close()
})

t.test('replaying journal-2014-submit.jnl mails and posts exactly changes 101, 102, 103', { skip: fixturesSkip }, async (t) => {
  const { smtp, http } = await peers(t)
  const { listener } = opened(both(smtp, http), 'review')
  t.teardown(() => listener.close())
  await replay(listener, await frame([readFixture('journal-2014-submit.jnl')], { journal: 3 }))

  t.same(
    smtp.mails.map((m) => m.headers.get('subject')),
    ['[p4] Change 101 by radek@svn-client: added', '[p4] Change 102 by radek@svn-client: edited', '[p4] Change 103 by radek@svn-client: edited with content'],
  )
  const mail = smtp.mails[2]!
  t.same(mail.to, ['review@example.com'])
  t.match(mail.text, /^Change 103 by radek@svn-client on 2014\/09\/09 09:15:17 UTC\n\n\tedited with content\n/)
  t.match(mail.text, /\n\.\.\. \/\/import\/main\/file\.txt#3 edit\n/)
  t.equal(mail.headers.get('x-logdaemon-change'), '103')

  t.equal(http.requests.length, 3)
  for (const r of http.requests) {
    t.ok(verifySignature(SECRET, r.body, r.headers['x-logdaemon-signature'] as string), 'signature verifies with the secret')
  }
  const [p101, p102, p103] = payloads(http)
  t.same(p101?.change.files, [{ depotFile: '//import/main/file.txt', revision: 1, action: 'add' }])
  t.same(p102?.change.files, [{ depotFile: '//import/main/file.txt', revision: 2, action: 'edit' }])
  t.match(p103, {
    event: 'change.submitted',
    deliveryId: 'change-103',
    listener: 'review',
    change: {
      number: 103,
      user: 'radek',
      client: 'svn-client',
      date: '2014-09-09T09:15:17.000Z',
      description: 'edited with content\n',
      descriptionComplete: true,
      fileCount: 1,
      filesComplete: true,
    },
  })
  t.equal(http.requests[2]?.headers['x-logdaemon-delivery'], 'change-103')
  t.equal(listener.pending, 0)
})

t.test('journal-2014-win1252.jnl: the pending change is not notified, its submit is, once', { skip: fixturesSkip }, async (t) => {
  const { smtp, http } = await peers(t)
  const { listener } = opened(both(smtp, http, { encoding: 'windows-1252' }))
  t.teardown(() => listener.close())
  const entries = await frame([readFixture('journal-2014-win1252.jnl')], { journal: 1 })
  const submitRow = entries.findIndex((e) => e.op === 'rv' && e.table === 'db.change')
  // Up to the row that submits it, change 1 exists only as pending: nothing is sent.
  for (const e of entries.slice(0, submitRow)) if (listener.isHandled(e)) await listener.listen(e)
  t.equal(smtp.mails.length + http.requests.length, 0, 'the pending change 1 (status 0) was not notified')
  await replay(listener, entries.slice(submitRow))
  t.equal(smtp.mails.length, 1)
  t.equal(http.requests.length, 1)
  t.match(payloads(http)[0], {
    change: { number: 1, user: 'radek', client: 'radek_radek-Inspiron-1545_9120', files: [{ depotFile: '//depot/file.txt', revision: 1, action: 'add' }] },
  })
  // The @ex@ of the submit transaction was at journal 1, the position the payload names.
  t.match(payloads(http)[0]?.journalPosition, /^1\/\d+$/)
})

t.test('a failing webhook rejects listen; the retried entry resends only to the webhook', async (t) => {
  const { smtp, http } = await peers(t)
  const { listener } = opened(both(smtp, http))
  t.teardown(() => listener.close())
  const entries = await records([change(7, 1), revcx(7, '//depot/a'), ex(1)])
  for (const e of entries.slice(0, -1)) await listener.listen(e)
  const last = entries[entries.length - 1]!
  http.answer = 503
  const err = await rejection(listener.listen(last))
  t.equal(err.code, ErrorCodes.NOTIFY_DELIVERY)
  t.equal(err.details.channel, 'webhook')
  t.equal(err.details.change, 7)
  t.equal(listener.pending, 1)
  t.equal(smtp.mails.length, 1, 'the mail went out although the webhook failed')

  // The daemon retries the same entry.
  http.answer = 204
  await listener.listen(last)
  t.equal(listener.pending, 0)
  t.equal(smtp.mails.length, 1, 'no second mail')
  t.equal(http.requests.length, 2, 'one failed and one accepted POST')
  t.same(
    http.requests.map((r) => r.headers['x-logdaemon-delivery']),
    ['change-7', 'change-7'],
    'the same delivery id on the retry',
  )
  t.ok(verifySignature(SECRET, http.requests[1]!.body, http.requests[1]!.headers['x-logdaemon-signature'] as string))
})

t.test("through the daemon's ListenerWritable: a failing webhook is retried with backoff and delivered once", async (t) => {
  const { smtp, http } = await peers(t)
  http.answerQueue = [503, 500]
  const listener = new NotifyListener(both(smtp, http), 'review')
  const entries = await records([change(7, 1), revcx(7, '//depot/a'), ex(1), change(8, 1), revcx(8, '//depot/b'), ex(2)])
  const retries: string[] = []
  const writable = new ListenerWritable(listener, {
    retry: { retries: 5, minTimeout: 5, maxTimeout: 20, randomize: false },
    observer: { listenerRetry: (_name, err) => retries.push((err as LogdaemonError).code) },
  })
  await pipeline(Readable.from(entries), writable)
  t.same(retries, [ErrorCodes.NOTIFY_DELIVERY, ErrorCodes.NOTIFY_DELIVERY], 'two failed attempts were retried')
  t.same(
    smtp.mails.map((m) => m.headers.get('x-logdaemon-change')),
    ['7', '8'],
    'one mail per change',
  )
  t.same(
    http.requests.map((r) => r.headers['x-logdaemon-delivery']),
    ['change-7', 'change-7', 'change-7', 'change-8'],
    'change 7 posted until accepted, then change 8',
  )
})

t.test('a failing SMTP server rejects listen; the webhook still gets the change, later changes wait', async (t) => {
  const { smtp, http } = await peers(t)
  const { listener } = opened(both(smtp, http))
  t.teardown(() => listener.close())
  const entries = await records([change(7, 1), revcx(7, '//depot/a'), ex(1), change(8, 1), revcx(8, '//depot/b'), ex(2)])
  smtp.refuse = 451
  const firstEx = entries[2]!
  for (const e of entries.slice(0, 2)) await listener.listen(e)
  const err = await rejection(listener.listen(firstEx))
  t.equal(err.code, ErrorCodes.NOTIFY_DELIVERY)
  t.equal(err.details.channel, 'smtp')
  t.same(
    payloads(http).map((p) => p.change.number),
    [7],
    'the webhook took change 7 while the mail failed',
  )
  smtp.refuse = null
  await listener.listen(firstEx)
  for (const e of entries.slice(3)) await listener.listen(e)
  t.same(
    smtp.mails.map((m) => m.headers.get('x-logdaemon-change')),
    ['7', '8'],
  )
  t.same(
    payloads(http).map((p) => p.change.number),
    [7, 8],
    'the retry did not post change 7 again',
  )
})

t.test('both channels failing: the first error rejects, the other is logged', async (t) => {
  const { smtp, http } = await peers(t)
  const { listener, lines } = opened(both(smtp, http))
  t.teardown(() => listener.close())
  smtp.refuse = 451
  http.answer = 500
  const entries = await records([change(7, 1), revcx(7, '//depot/a'), ex(1)])
  for (const e of entries.slice(0, 2)) await listener.listen(e)
  const err = await rejection(listener.listen(entries[2]!))
  t.equal(err.details.channel, 'smtp')
  t.match(
    lines.find((l) => l.level === 'warn'),
    { msg: /webhook POST of change 7/ },
  )
})

t.test('an SMTP server that is down rejects listen with ERR_NOTIFY_DELIVERY', async (t) => {
  const http = await startHttpPeer()
  t.teardown(() => http.close())
  const smtp = await startSmtpPeer()
  await smtp.close()
  const { listener } = opened({ smtp: { host: '127.0.0.1', port: smtp.port, from: 'a@b.c', to: ['d@e.f'] } })
  t.teardown(() => listener.close())
  const entries = await records([change(7, 1), revcx(7, '//depot/a'), ex(1)])
  for (const e of entries.slice(0, -1)) await listener.listen(e)
  const err = await rejection(listener.listen(entries[2]!))
  t.equal(err.code, ErrorCodes.NOTIFY_DELIVERY)
  t.match(err.message, /ECONNREFUSED/)
})

t.test('pending changes, filtered users and paths are not notified', async (t) => {
  const { smtp, http } = await peers(t)
  const { listener } = opened(both(smtp, http, { filters: { users: ['alice'], paths: ['//depot/main/...'] } }))
  t.teardown(() => listener.close())
  await replay(
    listener,
    await records([
      change(1, 0),
      revcx(1, '//depot/main/x'),
      ex(1),
      change(2, 1, 'bob'),
      revcx(2, '//depot/main/x'),
      ex(1),
      change(3, 1),
      revcx(3, '//depot/rel/x'),
      ex(1),
      change(4, 1),
      revcx(4, '//depot/rel/x'),
      revcx(4, '//depot/main/y'),
      ex(1),
    ]),
  )
  t.same(
    payloads(http).map((p) => p.change.number),
    [4],
  )
  t.equal(smtp.mails.length, 1)
})

t.test('a change already delivered by this process is not sent again on a re-read', async (t) => {
  const http = await startHttpPeer()
  t.teardown(() => http.close())
  const { listener, lines } = opened({ webhook: { url: http.url, secret: SECRET, timeoutMs: 10_000 } })
  t.teardown(() => listener.close())
  const entries = await records([change(7, 1), revcx(7, '//depot/a'), ex(1)])
  await replay(listener, entries)
  // The same bytes read again (new entry objects, as after a source restart).
  await replay(listener, await records([change(7, 1), revcx(7, '//depot/a'), ex(1)]))
  t.equal(http.requests.length, 1)
  t.ok(lines.some((l) => l.msg?.includes('already delivered')))
})

t.test('records with no @ex@ after them: sent when quiet, or never', async (t) => {
  const http = await startHttpPeer()
  t.teardown(() => http.close())
  const entries = await records([change(7, 1), revcx(7, '//depot/a')])
  const never = opened({ webhook: { url: http.url, secret: SECRET }, unmarked: 'never' }).listener
  t.teardown(() => never.close())
  await replay(never, entries)
  t.equal(http.requests.length, 0, 'unmarked: never')
  const quiet = opened({ webhook: { url: http.url, secret: SECRET } }).listener
  t.teardown(() => quiet.close())
  for (const e of entries) await quiet.listen(e)
  await quiet.noData(false)
  t.equal(http.requests.length, 0, 'noData(false) is a repeated quiet call: nothing new')
  await quiet.noData(true)
  t.equal(http.requests.length, 1)
})

t.test('a quiet pause inside a transaction of a journal with markers is not an unmarked import', async (t) => {
  const http = await startHttpPeer()
  t.teardown(() => http.close())
  const quiet = opened({ webhook: { url: http.url, secret: SECRET } }).listener
  t.teardown(() => quiet.close())
  // A whole transaction first: this journal has markers.
  for (const e of await records([change(6, 1), revcx(6, '//depot/a'), ex(1)])) await quiet.listen(e)
  await quiet.noData(true)
  t.equal(http.requests.length, 1, 'change 6 sent')
  // p4d has written half of the next transaction when the journal goes quiet.
  const next = await records([change(7, 1), revcx(7, '//depot/b'), ex(2)])
  await quiet.listen(next[0]!)
  await quiet.noData(true)
  t.equal(http.requests.length, 1, 'nothing sent for the half-written transaction')
  for (const e of next.slice(1)) await quiet.listen(e)
  t.equal(http.requests.length, 2, 'change 7 sent once its @ex@ came, with its file')
  t.match(JSON.parse(http.requests[1]!.body.toString()).change.files, [{ depotFile: '//depot/b' }])
})

t.test('a delivery that failed in noData is retried by sync, which rejects until it succeeds', async (t) => {
  const http = await startHttpPeer()
  t.teardown(() => http.close())
  const { listener } = opened({ webhook: { url: http.url, secret: SECRET } })
  t.teardown(() => listener.close())
  for (const e of await records([change(7, 1), revcx(7, '//depot/a')])) await listener.listen(e)
  http.answer = 500
  t.equal((await rejection(listener.noData(true))).code, ErrorCodes.NOTIFY_DELIVERY)
  t.equal((await rejection(listener.sync())).code, ErrorCodes.NOTIFY_DELIVERY, 'sync does not let the position be committed')
  http.answer = 200
  await listener.sync()
  t.equal(listener.pending, 0)
  t.equal(http.requests.length, 3)
})

t.test('unknown table versions are logged once per version and skipped', async (t) => {
  const http = await startHttpPeer()
  t.teardown(() => http.close())
  const { listener, lines } = opened({ webhook: { url: http.url, secret: SECRET } })
  t.teardown(() => listener.close())
  const odd = (n: number): RecordSpec => ({ op: 'pv', version: 99, table: 'db.change', fields: [n, n, 'ws', 'u', 0, 1, 'd', ''] })
  const short: RecordSpec = { op: 'pv', version: 0, table: 'db.revcx', fields: [3, '//d/short'] }
  await replay(listener, await records([odd(1), revcx(1, '//d/a'), ex(1), odd(2), revcx(2, '//d/b'), ex(1), change(3, 1), revcx(3, '//d/c'), short, ex(1)]))
  const warns = lines.filter((l) => l.level === 'warn')
  t.equal(warns.length, 2, 'the unknown version once, the malformed row once')
  t.match(warns[0]?.msg, /db\.change version 99 is not a documented layout/)
  t.match(warns[1], { obj: { reason: 'malformed', table: 'db.revcx', at: /journal 5, offset \d+, line \d+/ } })
  t.same(
    payloads(http).map((p) => p.change.number),
    [3],
  )
})

t.test('close() with undelivered changes warns and names them', async (t) => {
  const http = await startHttpPeer()
  t.teardown(() => http.close())
  const { listener, lines } = opened({ webhook: { url: http.url, secret: SECRET } })
  http.answer = 500
  const entries = await records([change(9, 1), revcx(9, '//d/a'), ex(1)])
  for (const e of entries.slice(0, -1)) await listener.listen(e)
  await rejection(listener.listen(entries[2]!))
  listener.close()
  t.match(
    lines.find((l) => l.level === 'warn'),
    { obj: { changes: [9] } },
  )
})

t.test('the receiver example in docs/notify.md verifies what the listener signs', async (t) => {
  const doc = readFileSync(new URL('../../../../docs/notify.md', import.meta.url), 'utf8')
  const code = /```js\n([\s\S]*?)```/.exec(doc)?.[1]
  t.ok(code, 'docs/notify.md has a js example')
  const file = join(t.testdir(), 'verify.mjs')
  writeFileSync(file, `${code}\nexport { verify }\n`)
  const { verify } = (await import(pathToFileURL(file).href)) as { verify: (s: string, b: Buffer, h?: string) => boolean }
  const body = Buffer.from('{"event":"change.submitted"}')
  t.ok(verify(SECRET, body, signBody(SECRET, body)))
  t.notOk(verify(SECRET, Buffer.from('{}'), signBody(SECRET, body)))
  t.notOk(verify(SECRET, body, undefined))
})
