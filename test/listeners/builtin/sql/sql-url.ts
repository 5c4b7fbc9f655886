import t from 'tap'
import { ErrorCodes } from '../../../../lib/errors.js'
import { maskPassword, parseSqlUrl } from '../../../../lib/listeners/builtin/sql/sql-url.js'

t.test('sqlite: files relative to the base directory', async (t) => {
  t.same(parseSqlUrl('sqlite:replica.db', '/etc/logdaemon'), { kind: 'sqlite', file: '/etc/logdaemon/replica.db', masked: 'sqlite:/etc/logdaemon/replica.db' })
  t.match(parseSqlUrl('sqlite:/srv/r.db'), { file: '/srv/r.db' })
  t.match(parseSqlUrl('sqlite:///srv/r.db'), { file: '/srv/r.db' })
  t.throws(() => parseSqlUrl('sqlite:'), { code: ErrorCodes.CONFIG_INVALID })
})

t.test('postgres: the password never shows', async (t) => {
  const p = parseSqlUrl('postgres://replica:s3cr%40t@db.example.com:5433/p4?sslmode=require')
  t.equal(p.kind, 'postgres')
  t.equal(p.masked, 'postgres://replica:***@db.example.com:5433/p4?sslmode=require')
  t.notMatch(p.masked, /s3cr/)
  t.match(parseSqlUrl('postgresql://db/p4'), { kind: 'postgres', masked: 'postgresql://db/p4' })
  t.equal(maskPassword('postgres://u:p@ss@h/db'), 'postgres://u:***@h/db', 'a raw @ in the password')
  t.equal(maskPassword('postgres://h/db?user=u&password=secret&x=1'), 'postgres://h/db?user=u&password=***&x=1')
  let err: unknown
  try {
    parseSqlUrl('mysql://u:hunter2@h/db')
  } catch (e) {
    err = e
  }
  t.match(err, { code: ErrorCodes.CONFIG_INVALID })
  t.notMatch(String((err as Error).message), /hunter2/, 'not even in the error for a bad URL')
})
