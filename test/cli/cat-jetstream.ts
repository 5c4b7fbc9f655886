import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { main } from '../../lib/cli/cat.js'
import { parseStreamUrl } from '../../lib/cli/cat-jetstream.js'
import { JetStreamListener } from '../../lib/listeners/builtin/jetstream/jetstream.js'
import { optionsSchema } from '../../lib/listeners/builtin/jetstream/jetstream-options.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { transactions } from '../helpers/entries.js'
import { natsSkip, startNats } from '../helpers/nats.js'
import { fakeIO } from '../helpers/stdio.js'

const BIN = fileURLToPath(new URL('../../dist/bin/logdaemon-cat.js', import.meta.url))

t.test('parseStreamUrl', async (t) => {
  t.same(parseStreamUrl('nats://127.0.0.1:4222/P4JOURNAL'), { servers: 'nats://127.0.0.1:4222', stream: 'P4JOURNAL' })
  t.same(parseStreamUrl('tls://u:p%40ss@h:1/S/'), { servers: 'tls://h:1', stream: 'S', user: 'u', password: 'p@ss' })
  t.same(parseStreamUrl('nats://s3cr3t@h:1/S'), { servers: 'nats://h:1', stream: 'S', token: 's3cr3t' })
  t.throws(() => parseStreamUrl('nats://h:1'), { code: 'ERR_USAGE' })
  t.throws(() => parseStreamUrl('http://h:1/S'), { code: 'ERR_USAGE' })
  t.throws(() => parseStreamUrl('nats://bob:hunter2@h:1'), { message: /\*\*\*@/ })
  try {
    parseStreamUrl('nats://bob:hunter2@h:1')
  } catch (err) {
    t.notMatch((err as Error).message, 'hunter2', 'credentials are not echoed')
  }
  // A raw / in the password: the URL does not match, and the echo must not show it either.
  t.throws(() => parseStreamUrl('nats://bob:hun/ter2@h:1/S'), { code: 'ERR_USAGE', message: /"nats:\/\/\*\*\*@h:1\/S"/ })
})

t.test('usage errors', async (t) => {
  const a = fakeIO()
  t.equal(await main(['--durable', 'x'], a.io), 2)
  t.match(a.stderr(), /--durable needs --jetstream/)
  const b = fakeIO()
  t.equal(await main(['--jetstream', 'nats://h:1/S', 'file'], b.io), 2)
  const c = fakeIO()
  t.equal(await main(['--jetstream', 'nope'], c.io), 2)
  const d = fakeIO()
  t.equal(await main(['--subject', 'x.y'], d.io), 2)
  t.match(d.stderr(), /--subject needs --jetstream/)
  const e = fakeIO()
  t.equal(await main(['--jetstream', 'nats://127.0.0.1:1/S', '--subject', 'a.>'], e.io), 2)
  t.match(e.stderr(), /--subject wants a subject prefix/)
})

t.test('logdaemon-cat --jetstream prints a stream like a file', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir())
  t.teardown(() => server.stop())
  const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: 'CAT', server: 'm' }))
  await l.open()
  const { entries, bytes } = transactions(50, 3)
  for (const e of entries) await l.listen(e)
  await l.sync({ journal: 3, offset: bytes.length })
  await l.close()
  const url = `${server.url}/CAT`

  const raw = fakeIO()
  t.equal(await main(['--jetstream', url], raw.io), 0, raw.stderr())
  t.ok(raw.stdout().equals(bytes), 'raw: the journal bytes')

  const json = fakeIO()
  t.equal(await main(['--jetstream', url, '--format', 'json', '--op', 'ex'], json.io), 0)
  const lines = json
    .stdout()
    .toString()
    .trim()
    .split('\n')
    .map((x) => JSON.parse(x) as { op: string; journal: number; offset: number })
  t.equal(lines.length, 50)
  t.ok(lines.every((x) => x.op === 'ex' && x.journal === 3))
  t.equal(lines[0]?.offset, (entries[1] as JournalEntry).position.offset, 'positions as in the journal')

  // A durable consumer goes on where it stopped.
  const first = fakeIO()
  t.equal(await main(['--jetstream', url, '--durable', 'inspect'], first.io), 0)
  t.equal(first.stdout().length, bytes.length)
  const second = fakeIO()
  t.equal(await main(['--jetstream', url, '--durable', 'inspect'], second.io), 0)
  t.equal(second.stdout().length, 0, 'nothing new for the durable consumer')

  const missing = fakeIO()
  t.equal(await main(['--jetstream', `${server.url}/NOPE`], missing.io), 1)
  t.match(missing.stderr(), /logdaemon-cat: stream NOPE does not exist/)

  // A stream published under another subject prefix.
  const other = new JetStreamListener(optionsSchema.parse({ servers: server.url, stream: 'SUBJ', server: 'm', subject: 'site.a' }))
  await other.open()
  for (const e of entries) await other.listen(e)
  await other.sync({ journal: 3, offset: bytes.length })
  await other.close()
  const prefixed = fakeIO()
  t.equal(await main(['--jetstream', `${server.url}/SUBJ`, '--subject', 'site.a'], prefixed.io), 0, prefixed.stderr())
  t.ok(prefixed.stdout().equals(bytes), '--subject: the journal bytes of a stream published under site.a')

  if (existsSync(BIN)) {
    const r = spawnSync(process.execPath, [BIN, '--jetstream', url], { encoding: 'buffer' })
    t.equal(r.status, 0, r.stderr.toString())
    t.ok(r.stdout.equals(bytes), 'the built bin prints the same bytes')
  }
})

t.test('logdaemon-cat --jetstream with the user and password in the URL', { skip: natsSkip }, async (t) => {
  const server = await startNats(t.testdir(), { conf: 'authorization { users: [{ user: r, password: "s3cr3t/x" }] }' })
  t.teardown(() => server.stop())
  const l = new JetStreamListener(optionsSchema.parse({ servers: server.url, user: 'r', password: 's3cr3t/x', stream: 'AUTH', server: 'm' }))
  await l.open()
  const { entries, bytes } = transactions(5, 3)
  for (const e of entries) await l.listen(e)
  await l.sync({ journal: 3, offset: bytes.length })
  await l.close()
  // Before, the credentials of the URL were not used: "Authorization Violation" (a probe).
  const url = server.url.replace('://', `://r:${encodeURIComponent('s3cr3t/x')}@`)
  const ok = fakeIO()
  t.equal(await main(['--jetstream', `${url}/AUTH`], ok.io), 0, ok.stderr())
  t.ok(ok.stdout().equals(bytes), 'the journal bytes')
  const wrong = fakeIO()
  t.equal(await main(['--jetstream', `${server.url.replace('://', '://r:nope@')}/AUTH`], wrong.io), 1)
  t.notMatch(wrong.stderr(), /nope/, 'the password is not echoed')
})
