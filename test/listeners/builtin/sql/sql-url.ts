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

t.test('postgres: a password with a raw / # or ? (not a valid URL) is masked in the error, which still names user and host', async (t) => {
  for (const url of [
    'postgres://alice:pa/Hunter2Secret@127.0.0.1:1/db',
    'postgres://alice:p#Hunter2Secret@127.0.0.1:1/db',
    'postgres://alice:p?Hunter2Secret@127.0.0.1:1/db',
  ]) {
    const err = (() => {
      try {
        parseSqlUrl(url)
      } catch (e) {
        return e as Error & { code?: string }
      }
      return null
    })()
    t.equal(err?.code, ErrorCodes.CONFIG_INVALID, url)
    t.notMatch(err?.message, 'Hunter2Secret', url)
    t.match(err?.message, 'sql url "postgres://alice:***@127.0.0.1:1/db" is not a valid URL', url)
  }
  t.notMatch(parseSqlUrl('postgres://alice:9#Hunter2Secret@h/db').masked, 'Hunter2Secret', 'valid, read as host alice, port 9 and a fragment')
})

t.test('postgres: every secret-named query parameter is masked (sslpassword, sslkey, …)', async (t) => {
  const p = parseSqlUrl('postgres://alice@127.0.0.1:1/db?sslpassword=Hunter2Secret&sslkey=/x&sslmode=require&application_name=a')
  t.equal(p.masked, 'postgres://alice@127.0.0.1:1/db?sslpassword=***&sslkey=***&sslmode=require&application_name=a')
  t.equal(maskPassword('postgres://h/db?SSLPassword=Hunter2Secret'), 'postgres://h/db?SSLPassword=***', 'any case')
  t.equal(maskPassword('postgres://h/db?ssl%70assword=Hunter2Secret'), 'postgres://h/db?ssl%70assword=***', 'the name decoded, as pg reads it')
  t.equal(maskPassword('postgres://h/db?passfile=/etc/pgpass'), 'postgres://h/db?passfile=/etc/pgpass', 'a path to the password file shows')
})
