/**
 * Configuration errors never echo a secret: values under secret-like keys
 * are masked wherever they sit in an echoed value, URLs lose their
 * userinfo and query, and a file that does not parse is never quoted.
 */
import t, { type Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig, parseConfig, redactForMessage } from '../../lib/daemon/config.js'

const SECRETS = ['TOKEN-s3cr3t', 'PASSW0RD-x', 'QUERY-s3cr3t', 'HOOK-s3cr3t-0123456789', 'PHRASE-s3cr3t', 'abcS3CR3T', 'defS3CR3T']

function messageOf(err: unknown): string {
  const e = err as Error & { details?: unknown; cause?: unknown }
  return `${e.message}\n${JSON.stringify(e.details ?? null)}\n${e.cause instanceof Error ? `${e.cause.message}\n${e.cause.stack}` : ''}`
}

function noSecret(t: Test, err: unknown, what: string): void {
  t.ok(err instanceof Error, `${what}: fails`)
  const text = messageOf(err)
  for (const s of SECRETS) t.notOk(text.includes(s), `${what}: ${s} not shown`)
}

const base = { server: { root: '/p4' }, from: 1, listeners: [{ type: 'mirror', options: { dir: 'm' } }] }

t.test('a status token inside an echoed parent object is masked', async (t) => {
  const err = await parseConfig({ ...base, status: { host: '0.0.0.0', port: 'x', token: 'TOKEN-s3cr3t' } }).catch((e: unknown) => e)
  noSecret(t, err, 'status')
  t.match((err as Error).message, /status/)
})

t.test('secret-like keys anywhere in an echoed value are masked', async (t) => {
  const err = await parseConfig({ ...base, listeners: { options: { webhook: { secret: 'HOOK-s3cr3t-0123456789' }, auth: { pass: 'PASSW0RD-x' } } } }).catch(
    (e: unknown) => e,
  )
  noSecret(t, err, 'listeners object')
  const err2 = await parseConfig({ ...base, retry: { passphrase: 'PHRASE-s3cr3t' } }).catch((e: unknown) => e)
  noSecret(t, err2, 'unknown key')
})

t.test("a webhook URL's userinfo and query are masked in validation errors", async (t) => {
  const err = await parseConfig({
    ...base,
    listeners: [
      {
        type: 'notify',
        options: { webhook: { url: 'ftp://user:PASSW0RD-x@ci.example.com/hook?token=QUERY-s3cr3t', secret: 'HOOK-s3cr3t-0123456789' } },
      },
    ],
  }).catch((e: unknown) => e)
  noSecret(t, err, 'webhook')
  t.match((err as Error).message, /ci\.example\.com/, 'the host still shows')
})

t.test('redaction: keys, URLs, nesting, arrays', async (t) => {
  t.same(redactForMessage({ a: 1, token: 'x', nested: [{ Password: 'y', url: 'https://u:p@h.example/p?q=1#f' }], apiKey: 'k', sshOptions: { Ciphers: 'c' } }), {
    a: 1,
    token: '(hidden)',
    nested: [{ Password: '(hidden)', url: 'https://***@h.example/p?***' }],
    apiKey: '(hidden)',
    sshOptions: { Ciphers: 'c' },
  })
  t.equal(redactForMessage('http://h.example/x'), 'http://h.example/x', 'a plain URL is left as it is')
})

t.test('a JSON file that does not parse is never quoted: line and column only', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'c.json')
  writeFileSync(file, '{\n  "server": { "root": "/p4" },\n  "status": { "token": abcS3CR3T }\n}\n')
  const err = await loadConfig(file).catch((e: unknown) => e)
  noSecret(t, err, 'unquoted token')
  t.match(err, { code: 'ERR_CONFIG_INVALID', message: /c\.json is not valid JSON at line 3, column 24/ })
  for (const [text, where] of [
    ['{"a": 1,}', 'line 1, column 9'],
    ['{"a": "x\ny"}', 'line 1, column 9'],
    ['{"a": 1} x', 'line 1, column 10'],
    ['{"a": tru', 'line 1, column 7'],
    ['', 'line 1, column 1'],
    ['[1, 2', 'line 1, column 6'],
  ] as const) {
    writeFileSync(file, text)
    const e = await loadConfig(file).catch((x: unknown) => x)
    t.match(e, { code: 'ERR_CONFIG_INVALID', message: new RegExp(`not valid JSON at ${where}`) }, JSON.stringify(text))
  }
})

t.test('a key twice in one JSON object is refused with its place (JSON.parse kept the last silently), its values never quoted', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'c.json')
  writeFileSync(file, '{\n  "server": { "root": "/p4" },\n  "from": 1,\n  "status": { "token": "TOKEN-s3cr3t" },\n  "from": "end"\n}\n')
  const err = await loadConfig(file).catch((e: unknown) => e)
  noSecret(t, err, 'duplicate')
  t.match(err, {
    code: 'ERR_CONFIG_INVALID',
    line: 5,
    message: /c\.json: the key "from" appears twice in one object, the second time at line 5, column 3: JSON keeps only the last/,
  })
  // Spelled differently, the same name; nested objects and arrays of objects too. The same name in two objects is fine.
  for (const [text, where] of [
    ['{"a": 1, "\\u0061": 2}', 'line 1, column 10'],
    ['{"x": {"b": 1, "c": {"b": 2}, "b": 3}}', 'line 1, column 31'],
    ['{"l": [{"t": 1}, {"t": 2, "t": 3}]}', 'line 1, column 27'],
  ] as const) {
    writeFileSync(file, text)
    t.match(
      await loadConfig(file).catch((x: unknown) => x),
      { code: 'ERR_CONFIG_INVALID', message: new RegExp(`twice in one object, the second time at ${where}`) },
      text,
    )
  }
})

t.test('a JS configuration with a syntax error is not quoted either', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'c.mjs')
  writeFileSync(file, 'export default {\n  status: { token: abcS3CR3T defS3CR3T },\n}\n')
  const err = await loadConfig(file).catch((e: unknown) => e)
  noSecret(t, err, 'js syntax error')
  t.match(err, {
    code: 'ERR_CONFIG_NOT_FOUND',
    message: /c\.mjs cannot be loaded: it has a JavaScript syntax error \(Unexpected identifier\); run 'node --check /,
  })
})

t.test('a JS configuration that throws while loading (an unquoted secret is a ReferenceError) shows the kind and place only', async (t) => {
  const dir = t.testdir()
  const file = join(dir, 'c.mjs')
  writeFileSync(file, "export default {\n  server: { root: '/p4' },\n  status: { token: abcS3CR3T },\n}\n")
  const err = await loadConfig(file).catch((e: unknown) => e)
  noSecret(t, err, 'ReferenceError')
  t.match(err, {
    code: 'ERR_CONFIG_NOT_FOUND',
    message: /c\.mjs cannot be loaded: a ReferenceError at line 3, column \d+ \(its message is not shown: it may quote the file\); run 'node /,
  })
  const fn = join(dir, 'f.mjs')
  writeFileSync(fn, "export default () => {\n  throw new Error('bad PASSW0RD-x')\n}\n")
  const err2 = await loadConfig(fn).catch((e: unknown) => e)
  noSecret(t, err2, 'a default-export function that throws')
  t.match((err2 as Error).message, /f\.mjs cannot be loaded: an Error at line 2, column \d+/)
  const missing = join(dir, 'm.mjs')
  writeFileSync(missing, "import x from './nowhere.mjs'\nexport default x\n")
  // Plain node names the missing module (ERR_MODULE_NOT_FOUND); tap's TypeScript loader throws it without a code.
  t.match(await loadConfig(missing).catch((e: unknown) => e), { code: 'ERR_CONFIG_NOT_FOUND', message: /m\.mjs cannot be loaded: / }, 'a missing import')
})

t.test('a Slack-style webhook URL (the secret in its path) is masked after its first segment', async (t) => {
  const err = await parseConfig({
    ...base,
    listeners: [{ type: 'notify', options: { webhook: { url: 'https://hooks.slack.com/services/T0001/B0002/HOOK-s3cr3t-0123456789', secret: 1 } } }],
  }).catch((e: unknown) => e)
  noSecret(t, err, 'slack url')
  t.equal(redactForMessage('https://hooks.slack.com/services/T0001/B0002/XXXX'), 'https://hooks.slack.com/services/***')
  t.equal(redactForMessage('https://discord.com/api/webhooks/1/tok?wait=1'), 'https://discord.com/api/***?***')
  t.equal(redactForMessage('nats://h.example:4222/P4JOURNAL'), 'nats://h.example:4222/P4JOURNAL', 'not http: the path is a name, kept')
})

t.test('a JS configuration whose getter or Proxy throws while it is read shows the kind and place only', async (t) => {
  const dir = t.testdir()
  const getter = join(dir, 'g.mjs')
  writeFileSync(getter, "export default {\n  get server() { throw new Error('db password is PASSW0RD-x') },\n  listeners: [{ type: 'print' }],\n}\n")
  const err = await loadConfig(getter).catch((e: unknown) => e)
  noSecret(t, err, 'a throwing getter')
  t.match(err, {
    code: 'ERR_CONFIG_NOT_FOUND',
    message: /g\.mjs cannot be loaded: an Error at line 2, column \d+ \(its message is not shown: it may quote the file\); run 'node /,
  })
  t.equal((err as Error).cause, undefined, 'not kept as the cause')
  const proxy = join(dir, 'p.mjs')
  writeFileSync(
    proxy,
    "export default new Proxy({}, {\n  get() { throw new TypeError('token PASSW0RD-x') },\n  ownKeys() { throw new TypeError('token PASSW0RD-x') },\n})\n",
  )
  const err2 = await loadConfig(proxy).catch((e: unknown) => e)
  noSecret(t, err2, 'a throwing Proxy')
  t.match(err2, { code: 'ERR_CONFIG_NOT_FOUND', message: /p\.mjs cannot be loaded: a TypeError at line \d+, column \d+/ })
  const valid = join(dir, 'v.mjs')
  writeFileSync(valid, "export default { get server() { return { root: '/p4' } }, from: 1, listeners: [{ type: 'print', options: { x: 1 } }] }\n")
  t.match(await loadConfig(valid).catch((e: unknown) => e), { code: 'ERR_CONFIG_INVALID' }, 'a validation error is still one')
})

t.test('connection URLs in echoed values: scheme-less NATS servers, passwords with a raw / # or ?', async (t) => {
  const err = await parseConfig({
    ...base,
    listeners: [{ type: 'jetstream', options: { servers: ['127.0.0.1:1', 'bob:PASSW0RD-x@127.0.0.1:2', 5], stream: 'S', server: 'm' } }],
  }).catch((e: unknown) => e)
  noSecret(t, err, 'jetstream servers')
  t.equal(redactForMessage('bob:PASSW0RD-x@127.0.0.1:2'), '***@127.0.0.1:2')
  for (const url of ['postgres://alice:pa/PASSW0RD-x@h:1/db', 'postgres://alice:p#PASSW0RD-x@h:1/db', 'postgres://alice:p?PASSW0RD-x@h:1/db']) {
    t.notMatch(redactForMessage(url), 'PASSW0RD-x', url)
  }
  // A raw # or ? may also start the query or fragment, which echoed URLs never show: only a raw / keeps the host.
  t.equal(redactForMessage('postgres://alice:pa/PASSW0RD-x@h:1/db'), 'postgres://***@h:1/db')
})
