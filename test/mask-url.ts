/**
 * maskUrl and maskCredentials: no secret shows, whichever way the URL is
 * read (a password with a raw / ? # or @ makes it invalid, or reads it
 * another way), and host, port and path still show.
 */
import t from 'tap'
import { maskCredentials, maskUrl } from '../lib/mask-url.js'

const SECRET = 'Hunter2Secret'

t.test('maskCredentials keeping the user: a password with a raw / # ? or @', async (t) => {
  const cases: [string, string][] = [
    ['postgres://alice:pa/Hunter2Secret@127.0.0.1:1/db', 'postgres://alice:***@127.0.0.1:1/db'],
    ['postgres://alice:p#Hunter2Secret@127.0.0.1:1/db', 'postgres://alice:***@127.0.0.1:1/db'],
    ['postgres://alice:p?Hunter2Secret@127.0.0.1:1/db', 'postgres://alice:***@127.0.0.1:1/db'],
    ['postgres://alice:p@Hunter2Secret@127.0.0.1:1/db', 'postgres://alice:***@127.0.0.1:1/db'],
    // Valid, but read by a parser as host alice, port 9 and a fragment.
    ['postgres://alice:9#Hunter2Secret@h/db', 'postgres://alice:***@h/db'],
    ['postgres://alice:Hunter2Secret@h:5432/db?sslmode=require', 'postgres://alice:***@h:5432/db?sslmode=require'],
    ['postgres://alice@h/db', 'postgres://alice@h/db'],
    ['postgres://h/db?application_name=a@b', 'postgres://h/db?application_name=a@b'],
  ]
  for (const [url, masked] of cases) {
    t.equal(maskCredentials(url, { keepUser: true }), masked, url)
    t.notMatch(maskCredentials(url, { keepUser: true }), SECRET)
  }
})

t.test('maskCredentials: every secret-named parameter, however it is spelled', async (t) => {
  const cases: [string, string][] = [
    ['postgres://alice@h:1/db?sslpassword=Hunter2Secret&sslkey=/x', 'postgres://alice@h:1/db?sslpassword=***&sslkey=***'],
    ['postgres://h/db?user=u&password=Hunter2Secret&x=1', 'postgres://h/db?user=u&password=***&x=1'],
    ['postgres://h/db?PASSWORD=Hunter2Secret', 'postgres://h/db?PASSWORD=***'],
    ['postgres://h/db?ssl%70assword=Hunter2Secret', 'postgres://h/db?ssl%70assword=***'],
    ['postgres://h/db?api_token=Hunter2Secret&client_secret=Hunter2Secret', 'postgres://h/db?api_token=***&client_secret=***'],
    ['postgres://h/db?password=Hunter2#Secret&sslmode=require', 'postgres://h/db?password=***&sslmode=require'],
    ['postgres://h/db?password=Hunter2@Secret', 'postgres://h/db?password=***'],
    ['postgres://h/db#&password=Hunter2Secret', 'postgres://h/db#&password=***'],
    ['postgres://h/db?passfile=/etc/pgpass&sslmode=verify-full', 'postgres://h/db?passfile=/etc/pgpass&sslmode=verify-full'],
  ]
  for (const [url, masked] of cases) t.equal(maskCredentials(url, { keepUser: true }), masked, url)
})

t.test('maskCredentials hiding the user info: NATS servers, with or without a scheme', async (t) => {
  const cases: [string, string][] = [
    ['nats://bob:Hunter2Secret@h:4222', 'nats://***@h:4222'],
    ['nats://Hunter2Secret@h:4222', 'nats://***@h:4222'],
    ['tls://h:4222', 'tls://h:4222'],
    ['bob:Hunter2Secret@127.0.0.1:2', '***@127.0.0.1:2'],
    ['bob:Hunter2/Secret@127.0.0.1:1', '***@127.0.0.1:1'],
    ['Hunter2Secret@127.0.0.1:1', '***@127.0.0.1:1'],
    ['nats://bob:Hunter2/Secret@h:4222/P4J', 'nats://***@h:4222/P4J'],
    ['127.0.0.1:1', '127.0.0.1:1'],
  ]
  for (const [url, masked] of cases) t.equal(maskCredentials(url, { keepUser: false }), masked, url)
})

t.test('maskUrl: user info, query and fragment, and the http(s) path after its first segment', async (t) => {
  t.equal(maskUrl('https://u:p@h.example/p?q=1#f'), 'https://***@h.example/p?***')
  t.equal(maskUrl('https://hooks.slack.com/services/T0/B0/Hunter2Secret'), 'https://hooks.slack.com/services/***')
  t.equal(maskUrl('nats://h:4222/P4JOURNAL'), 'nats://h:4222/P4JOURNAL')
  t.equal(maskUrl('http://h.example/x'), 'http://h.example/x')
  t.equal(maskUrl('not a url: x@y'), 'not a url: x@y')
  t.equal(maskUrl('ops@example.com'), 'ops@example.com')
  for (const url of [
    'postgres://alice:pa/Hunter2Secret@127.0.0.1:1/db',
    'postgres://alice:p#Hunter2Secret@127.0.0.1:1/db',
    'bob:Hunter2Secret@127.0.0.1:2',
    'https://hooks.example.com\\services\\T0\\Hunter2Secret',
    'https://hooks.example.com/services/@/Hunter2Secret',
  ]) {
    t.notMatch(maskUrl(url), SECRET, url)
  }
  t.equal(maskUrl('postgres://alice:pa/Hunter2Secret@127.0.0.1:1/db'), 'postgres://***@127.0.0.1:1/db')
  t.equal(maskUrl('bob:Hunter2Secret@127.0.0.1:2'), '***@127.0.0.1:2')
})
