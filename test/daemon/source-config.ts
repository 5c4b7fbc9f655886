import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkConfig } from '../../lib/cli/check.js'
import { parseConfig } from '../../lib/daemon/config.js'

const source = { type: 'jetstream', servers: 'nats://127.0.0.1:4222', stream: 'P4JOURNAL', durable: 'standby' }
const listeners = [{ type: 'print' }]

t.test('a jetstream source in place of the journal files', async (t) => {
  const c = await parseConfig({ source: { ...source, nkey: 'keys/user.nk', tls: { ca: 'ca.pem' } }, listeners }, { baseDir: '/etc/logdaemon' })
  t.equal(c.server, undefined)
  t.match(c.source, {
    type: 'jetstream',
    stream: 'P4JOURNAL',
    subject: 'p4.journal',
    durable: 'standby',
    nkey: '/etc/logdaemon/keys/user.nk',
    tls: { ca: '/etc/logdaemon/ca.pem' },
  })
})

t.test('server or source, one way to authenticate, no from; secrets stay hidden', async (t) => {
  await t.rejects(parseConfig({ listeners }), { code: 'ERR_CONFIG_INVALID', message: /server: missing/ })
  await t.rejects(parseConfig({ server: { root: '/p4' }, source, listeners }), { message: /source: a jetstream source replaces the journal files/ })
  await t.rejects(parseConfig({ source, from: 3, listeners }), { message: /from: not used with a jetstream source/ })
  await t.rejects(parseConfig({ source: { ...source, token: 'abc', user: 'u', password: 'p' }, listeners }), { message: /one way to authenticate/ })
  await t.rejects(parseConfig({ source: { ...source, user: 'u' }, listeners }), { message: /user and password go together/ })
  await t.rejects(parseConfig({ source: { ...source, durable: 'a b' }, listeners }), { message: /source\.durable/ })
  await t.rejects(parseConfig({ source: { ...source, filter: 'p4.>.x' }, listeners }), { message: /source\.filter/ })
  const err = await parseConfig({ source: { ...source, password: 42, user: 'u' }, listeners }).catch((e: Error) => e)
  t.match(err, { message: /source\.password.*\(value hidden\)/ })
  const listenerErr = await parseConfig({ server: { root: '/p4' }, listeners: [{ type: 'jetstream', options: { servers: 'nats://h:1', token: 7 } }] }).catch(
    (e: Error) => e,
  )
  t.match(listenerErr, { message: /listeners\[0\]\.options\.server: missing/ })
  t.match(listenerErr, { message: /listeners\[0\]\.options\.token.*\(value hidden\)/ })
})

t.test('logdaemon check describes a jetstream source without contacting it', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'c.json')
  writeFileSync(file, JSON.stringify({ source, listeners, status: false }))
  const report = await checkConfig(file)
  t.same(report.problems, [])
  t.match(report.text, /source +jetstream stream P4JOURNAL, subjects p4\.journal\.>, durable standby/)
})

t.test("logdaemon check reads a jetstream source's state file: its position, or what is wrong with it", async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'c.json')
  writeFileSync(file, JSON.stringify({ source, state: 'consumer.state.json', listeners, status: false }))
  const state = join(dir, 'consumer.state.jetstream.P4JOURNAL.standby.json')
  const saved = {
    format: 'logdaemon-jetstream-state',
    version: 1,
    stream: 'P4JOURNAL',
    durable: 'standby',
    position: '7/4096',
    savedAt: '2026-12-07T20:00:00.000Z',
  }
  writeFileSync(state, JSON.stringify(saved))
  const report = await checkConfig(file)
  t.same(report.problems, [])
  t.match(report.text, /state file +.*consumer\.state\.jetstream\.P4JOURNAL\.standby\.json\n/, 'the file it keeps its position in')
  t.match(
    report.text,
    /start +after 7\/4096 from the state file .*consumer\.state\.jetstream\.P4JOURNAL\.standby\.json, saved 2026-12-07T20:00:00\.000Z, or after the last record durable consumer standby acknowledged/,
  )

  writeFileSync(state, JSON.stringify({ ...saved, durable: 'other' }))
  const other = await checkConfig(file)
  t.match(
    other.problems,
    [/is of durable consumer other of stream P4JOURNAL, but this reader reads durable consumer standby/],
    "another consumer's file: the problem run stops at",
  )

  writeFileSync(state, JSON.stringify({ format: 'logdaemon-state', version: 1, position: '7/0' }))
  const files = await checkConfig(file)
  t.match(files.problems, [/is the state of a daemon that reads journal files/])
})
