import t, { type Test } from 'tap'
import { createHmac } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ErrorCodes, type LogdaemonError } from '../../../../lib/errors.js'
import { changePayload } from '../../../../lib/listeners/builtin/notify/change-message.js'
import type { SubmittedChange } from '../../../../lib/listeners/builtin/notify/change-collector.js'
import { signBody, verifySignature, WebhookSender } from '../../../../lib/listeners/builtin/notify/webhook-sender.js'
import { startHttpPeer } from '../../../helpers/notify-peers.js'

const SECRET = 'a-secret-of-at-least-16-chars'

const change: SubmittedChange = {
  change: 103,
  user: 'radek',
  client: 'svn-client',
  date: 1410254117,
  description: 'edited with content\n',
  descriptionComplete: true,
  files: [{ depotFile: '//import/main/file.txt', revision: 3, action: 'edit' }],
  fileCount: 1,
  filesComplete: true,
  position: { journal: 41, offset: 1000, end: 1200, line: 17 },
  pid: '9340',
}

t.test('signBody is HMAC-SHA256 of the exact bytes, hex, prefixed sha256=', async (t) => {
  const body = Buffer.from('{"a":1}')
  t.equal(signBody(SECRET, body), `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`)
  t.ok(verifySignature(SECRET, body, signBody(SECRET, body)))
  t.notOk(verifySignature(SECRET, Buffer.from('{"a":2}'), signBody(SECRET, body)), 'another body')
  t.notOk(verifySignature('another-secret-xxxxxxxx', body, signBody(SECRET, body)), 'another secret')
  t.notOk(verifySignature(SECRET, body, undefined), 'no header')
  t.notOk(verifySignature(SECRET, body, 'sha256=00'), 'short header')
})

t.test('POSTs signed JSON with delivery id, timestamp and event headers', async (t) => {
  const peer = await startHttpPeer()
  t.teardown(() => peer.close())
  const sender = new WebhookSender({ url: peer.url, secret: SECRET, timeoutMs: 10_000 }, 'test-agent')
  const now = new Date('2024-05-01T12:00:00.000Z')
  await sender.send(changePayload(change, 'review', now))
  t.equal(peer.requests.length, 1)
  const req = peer.requests[0]!
  t.equal(req.method, 'POST')
  t.equal(req.url, '/hook')
  t.match(req.headers['content-type'], /^application\/json/)
  t.equal(req.headers['user-agent'], 'test-agent')
  t.ok(verifySignature(SECRET, req.body, req.headers['x-logdaemon-signature'] as string), 'signature verifies over the raw body')
  t.equal(req.headers['x-logdaemon-delivery'], 'change-103')
  t.equal(req.headers['x-logdaemon-timestamp'], String(now.getTime() / 1000))
  t.equal(req.headers['x-logdaemon-event'], 'change.submitted')
  t.same(JSON.parse(req.body.toString('utf8')), {
    event: 'change.submitted',
    version: 1,
    deliveryId: 'change-103',
    sentAt: '2024-05-01T12:00:00.000Z',
    listener: 'review',
    change: {
      number: 103,
      user: 'radek',
      client: 'svn-client',
      date: '2014-09-09T09:15:17.000Z',
      description: 'edited with content\n',
      descriptionComplete: true,
      files: [{ depotFile: '//import/main/file.txt', revision: 3, action: 'edit' }],
      fileCount: 1,
      filesComplete: true,
    },
    journalPosition: '41/1200',
  })
})

const failure = async (t: Test, send: () => Promise<void>, pattern: RegExp): Promise<LogdaemonError> => {
  const err = (await send().then(
    () => null,
    (e: unknown) => e,
  )) as LogdaemonError | null
  t.ok(err, 'rejected')
  t.equal(err?.code, ErrorCodes.NOTIFY_DELIVERY)
  t.equal(err?.details.channel, 'webhook')
  t.equal(err?.details.change, 103)
  t.match(err?.message, pattern)
  return err as LogdaemonError
}

t.test('a non-2xx answer rejects with its status and the start of its body', async (t) => {
  const peer = await startHttpPeer()
  t.teardown(() => peer.close())
  peer.answer = 500
  const sender = new WebhookSender({ url: peer.url, secret: SECRET, timeoutMs: 10_000 }, 'x')
  const err = await failure(t, () => sender.send(changePayload(change, 'n', new Date())), /HTTP 500: receiver says no/)
  t.equal(err.details.status, 500)
})

t.test('a redirect is not followed: it rejects', async (t) => {
  const peer = await startHttpPeer()
  t.teardown(() => peer.close())
  peer.answer = 302
  const sender = new WebhookSender({ url: peer.url, secret: SECRET, timeoutMs: 10_000 }, 'x')
  await failure(t, () => sender.send(changePayload(change, 'n', new Date())), /HTTP 302/)
  t.equal(peer.requests.length, 1, 'only the one POST, no follow-up GET')
})

t.test('no answer within timeoutMs rejects', async (t) => {
  const peer = await startHttpPeer()
  t.teardown(() => peer.close())
  peer.answer = 'hang'
  const sender = new WebhookSender({ url: peer.url, secret: SECRET, timeoutMs: 200 }, 'x')
  await failure(t, () => sender.send(changePayload(change, 'n', new Date())), /no answer within 200 ms/)
})

t.test('a refused connection rejects with the reason; errors show the URL without its query', async (t) => {
  const peer = await startHttpPeer()
  const url = peer.url + '?token=s3cret'
  await peer.close()
  const sender = new WebhookSender({ url, secret: SECRET, timeoutMs: 10_000 }, 'x')
  const err = await failure(t, () => sender.send(changePayload(change, 'n', new Date())), /ECONNREFUSED/)
  t.notMatch(err.message, /s3cret/)
  t.equal(err.details.url, peer.url)
})

t.test('an aborted signal stops the request', async (t) => {
  const peer = await startHttpPeer()
  t.teardown(() => peer.close())
  peer.answer = 'hang'
  const sender = new WebhookSender({ url: peer.url, secret: SECRET, timeoutMs: 60_000 }, 'x')
  const ac = new AbortController()
  const p = sender.send(changePayload(change, 'n', new Date()), ac.signal)
  while (peer.requests.length === 0) await new Promise((r) => setTimeout(r, 10))
  ac.abort(new Error('daemon stopping'))
  await failure(t, () => p, /webhook POST of change 103/)
})

t.test('a Slack-style URL carries its secret in the path: errors show only the host and first segment', async (t) => {
  const peer = await startHttpPeer()
  const url = `${new URL(peer.url).origin}/services/T0001/B0002/XXXXs3cretPATH`
  const sender = new WebhookSender({ url, secret: SECRET, timeoutMs: 10_000 }, 'x')
  peer.answer = 500
  const answered = await sender.send(changePayload(change, 'n', new Date())).catch((e: unknown) => e as LogdaemonError)
  await peer.close()
  const refused = await sender.send(changePayload(change, 'n', new Date())).catch((e: unknown) => e as LogdaemonError)
  for (const err of [answered, refused]) {
    t.ok(err instanceof Error, 'fails')
    const text = `${(err as Error).message} ${JSON.stringify((err as LogdaemonError).details)}`
    t.notMatch(text, /s3cretPATH|T0001|B0002/, 'no part of the path after its first segment')
    t.match(text, /\/services\/\*\*\*/, 'the first segment and a mask')
  }
})

t.test('an error answer with a huge body: only its start is read, the rest is not downloaded into memory', async (t) => {
  const BODY = 64 * 1024 * 1024
  const chunk = Buffer.alloc(64 * 1024, 'x')
  let written = 0
  let finished = false
  const server = createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.writeHead(500, { 'content-type': 'text/html' })
      const pump = (): void => {
        while (written < BODY) {
          written += chunk.length
          if (!res.write(chunk)) return void res.once('drain', pump)
        }
        res.end(() => {
          finished = true
        })
      }
      pump()
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => {
    server.closeAllConnections()
    server.close()
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  const sender = new WebhookSender({ url, secret: SECRET, timeoutMs: 30_000 }, 'x')
  await failure(t, () => sender.send(changePayload(change, 'n', new Date())), /HTTP 500: x{200}…/)
  await new Promise((r) => setTimeout(r, 200))
  t.notOk(finished, 'the receiver could not send its whole body')
  t.ok(written < BODY / 4, `at most a socket buffer's worth was sent (${written} bytes)`)
})
