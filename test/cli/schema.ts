import t from 'tap'
import { describeSchema } from '../../lib/cli/schema.js'
import { main } from '../../lib/cli/logdaemon.js'
import { PassThrough } from 'node:stream'

function io() {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.setEncoding('utf8').on('data', (s: string) => (out += s))
  stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
  return { io: { stdout, stderr }, out: () => out, err: () => err }
}

t.test('no argument lists the tables with versions and releases', async (t) => {
  const text = describeSchema(undefined)
  t.match(text, /^118 tables in Perforce Helix Core database schema documents/)
  t.match(text, /\ndb\.rev +7 8 9 10 +2006\.2–2024\.1\n/)
  t.match(text, /\ndb\.domain +4 5 6 7 8 +2006\.2–2024\.1\n/)
})

t.test('TABLE:VERSION shows each documented layout of that version', async (t) => {
  const text = describeSchema('db.change:6')
  t.match(text, /^db\.change version 6, documented 2019\.1–2023\.1: 13 columns, key change\n/)
  t.match(text, /\n {2}0 +change +Change +integer +key\n/)
  t.match(text, /\n {2}5 +status +ChangeStatus +flag\n/)
  t.equal(describeSchema('db.rev:9').split('db.rev version 9').length - 1, 2, 'two documented layouts of db.rev 9')
  t.match(describeSchema('db.domain'), /db\.domain version 8, documented 2023\.2–2024\.1/)
  t.match(describeSchema('rdb.lbr:0'), /key \(none documented\)/)
})

t.test('unknown tables and versions are usage errors', async (t) => {
  t.throws(() => describeSchema('db.nope'), { code: 'ERR_USAGE' })
  t.throws(() => describeSchema('db.rev:3'), { code: 'ERR_USAGE', message: /documented: 7, 8, 9, 10/ })
  t.throws(() => describeSchema('db.rev:x'), { code: 'ERR_USAGE' })
})

t.test('logdaemon schema', async (t) => {
  const a = io()
  t.equal(await main(['schema', 'db.desc:0'], a.io), 0)
  t.match(a.out(), /^db\.desc version 0, documented 2006\.2–2023\.1: 2 columns, key descKey\n/)
  const b = io()
  t.equal(await main(['schema'], b.io), 0)
  t.match(b.out(), /db\.change/)
  const c = io()
  t.equal(await main(['schema', 'db.nope'], c.io), 2)
  t.match(c.err(), /^logdaemon: schema: no documented table "db\.nope"/)
  const d = io()
  t.equal(await main(['schema', 'a', 'b'], d.io), 2)
})
