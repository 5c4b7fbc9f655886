import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { nkeys } from '@nats-io/transport-node'
import { connectNats } from '../../lib/jetstream/connect.js'
import { redactUrl } from '../../lib/jetstream/connection-options.js'
import type { NatsConnectionOptions } from '../../lib/jetstream/connection-options.js'
import { JetStreamListener } from '../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../lib/listeners/builtin/jetstream/jetstream-options.js'
import { JetStreamJournalSource } from '../../lib/source/jetstream/jetstream-journal-source.js'
import { transactions } from '../helpers/entries.js'
import { makeTls, natsSkip, opensslSkip, startNats } from '../helpers/nats.js'

const PASSWORD = 's3cret-Pa55'
const TOKEN = 't0ken-XYZ'
const noRetry = { retries: 0 }

async function refused(t: Test, o: NatsConnectionOptions, secret: string | null, why: RegExp): Promise<void> {
  const err = await connectNats(o, { retry: noRetry }).then(
    async (nc) => {
      await nc.close()
      return null
    },
    (e: unknown) => e as Error & { code?: string; retryable?: boolean },
  )
  t.ok(err, 'refused')
  t.equal(err?.code, 'ERR_JETSTREAM_CONNECT')
  t.match(err?.message, why)
  if (secret) t.notMatch(err?.message, secret, 'the secret is not in the message')
}

t.test('redactUrl hides credentials written in a URL', async (t) => {
  t.equal(redactUrl('nats://bob:pw@host:4222'), 'nats://***@host:4222')
  t.equal(redactUrl('tls://host:4222'), 'tls://host:4222')
  t.equal(redactUrl('nats://t0ken@host:4222'), 'nats://***@host:4222', 'a token alone')
  t.equal(redactUrl('bob:Hunter2Secret@127.0.0.1:2'), '***@127.0.0.1:2', 'no scheme (the client adds nats://)')
  t.equal(redactUrl('bob:Hunter2/Secret@127.0.0.1:1'), '***@127.0.0.1:1', 'a raw / in the password')
  t.equal(redactUrl('nats://bob:Hunter2/Secret@h:4222'), 'nats://***@h:4222')
  t.equal(redactUrl('127.0.0.1:1'), '127.0.0.1:1')
})

t.test('a failed connection names the servers without their credentials, scheme or not', async (t) => {
  for (const servers of [['127.0.0.1:1', 'bob:Hunter2Secret@127.0.0.1:2'], 'bob:Hunter2/Secret@127.0.0.1:1']) {
    const err = await connectNats({ servers }, { retry: noRetry }).then(
      async (nc) => {
        await nc.close()
        return null
      },
      (e: unknown) => e as Error & { code?: string },
    )
    t.equal(err?.code, 'ERR_JETSTREAM_CONNECT')
    t.match(err?.message, /cannot connect to NATS at .*\*\*\*@127\.0\.0\.1:[12]/)
    t.notMatch(err?.message, 'Hunter2', JSON.stringify(servers))
    t.notMatch(JSON.stringify(err?.cause ?? null), 'Hunter2', 'nor in what the cause carries (an unparsable URL as input)')
  }
})

t.test('authentication against servers that require it', { skip: natsSkip }, async (t) => {
  t.test('user and password', async (t) => {
    const server = await startNats(t.testdir(), { conf: `authorization { user: bob, password: ${JSON.stringify(PASSWORD)} }` })
    t.teardown(() => server.stop())
    const nc = await connectNats({ servers: server.url, user: 'bob', password: PASSWORD }, { retry: noRetry })
    await nc.close()
    await refused(t, { servers: server.url, user: 'bob', password: 'wrong-one' }, 'wrong-one', /authori[sz]ation/i)
    await refused(t, { servers: server.url }, null, /authori[sz]ation/i)
  })

  t.test('token, on the listener and the source', async (t) => {
    const server = await startNats(t.testdir(), { conf: `authorization { token: ${JSON.stringify(TOKEN)} }` })
    t.teardown(() => server.stop())
    const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, token: TOKEN, stream: 'A', server: 'm' }))
    await l.open()
    for (const e of transactions(3, 1).entries) await l.listen(e)
    await l.sync({ journal: 1, offset: 0 })
    await l.close()
    const s = new JetStreamJournalSource({ servers: server.url, token: TOKEN, stream: 'A', durable: 'd' })
    let n = 0
    for await (const _ of s) if (++n === 6) break
    t.equal(n, 6, 'read back with the token')
    await refused(t, { servers: server.url, token: 'not-it' }, 'not-it', /authori[sz]ation/i)
  })

  t.test('NKey seed file', async (t) => {
    const dir = t.testdir()
    const user = nkeys.createUser()
    const seedFile = join(dir, 'user.nk')
    writeFileSync(seedFile, new TextDecoder().decode(user.getSeed()) + '\n', { mode: 0o600 })
    const server = await startNats(dir, { conf: `authorization { users: [ { nkey: ${user.getPublicKey()} } ] }` })
    t.teardown(() => server.stop())
    const nc = await connectNats({ servers: server.url, nkey: seedFile }, { retry: noRetry })
    await nc.close()
    const other = join(dir, 'other.nk')
    writeFileSync(other, new TextDecoder().decode(nkeys.createUser().getSeed()))
    await refused(t, { servers: server.url, nkey: other }, null, /authori[sz]ation/i)
    await t.rejects(connectNats({ servers: server.url, nkey: join(dir, 'missing.nk') }, { retry: noRetry }), {
      code: 'ERR_JETSTREAM_CONNECT',
      retryable: false,
    })
  })
})

t.test('TLS with a private CA', { skip: natsSkip || opensslSkip }, async (t) => {
  const dir = t.testdir()
  const tls = makeTls(join(dir, 'pki'))
  const server = await startNats(join(dir, 'server'), {
    scheme: 'tls',
    conf: `tls { cert_file: ${JSON.stringify(tls.cert)}, key_file: ${JSON.stringify(tls.key)}, ca_file: ${JSON.stringify(tls.ca)}, verify: true }\nauthorization { user: tls, password: ${JSON.stringify(PASSWORD)} }`,
  })
  t.teardown(() => server.stop())
  const good = { servers: server.url, user: 'tls', password: PASSWORD, tls: { ca: tls.ca, cert: tls.clientCert, key: tls.clientKey } }
  const l = new JetStreamListener(optionsSchema.parse({ ...good, stream: 'T', server: 'm' }))
  await l.open()
  for (const e of transactions(2, 1).entries) await l.listen(e)
  await l.sync({ journal: 1, offset: 0 })
  t.equal(l.acknowledged(), `1/${transactions(2, 1).bytes.length}`, 'published over TLS')
  await l.close()
  // Without the CA the server's certificate does not verify: refused at once, not retried.
  await refused(t, { servers: server.url, user: 'tls', password: PASSWORD, tls: true }, PASSWORD, /cert|verify|self.signed/i)
})
