import t, { type Test } from 'tap'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { Registry, Gauge } from 'prom-client'
import { isLoopbackHost, listenError, MAX_CONNECTIONS, statusPortTaken, requestHostName, StatusServer } from '../../lib/status/status-server.js'
import { StatusTracker } from '../../lib/status/status-tracker.js'
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from '../../lib/status/status-page.js'
import { JournalEntry } from '../../lib/journal/entry.js'
import { encodeRecord } from '../../lib/journal/encoder.js'
import type { StatusSnapshot } from '../../lib/status/status-snapshot.js'

interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
}

/** A real HTTP request (node:http, so that HEAD and odd methods go out as given). */
function get(url: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

async function start(t: Test, options: Partial<ConstructorParameters<typeof StatusServer>[0]> = {}) {
  const tracker = options.tracker ?? new StatusTracker()
  const server = new StatusServer({ ...options, tracker })
  const { url, port } = await server.listen()
  t.teardown(() => server.close())
  return { tracker, server, url, port }
}

function feed(tracker: StatusTracker, journal: number, count: number): JournalEntry[] {
  const out: JournalEntry[] = []
  let offset = 0
  for (let i = 0; i < count; i++) {
    const raw = encodeRecord({ op: 'pv', version: 7, table: 'db.change', fields: [i, 'alice', 'ws', 'a description'] })
    const e = new JournalEntry(raw, { journal, offset, end: offset + raw.length, line: i + 1 })
    offset += raw.length
    tracker.entryRead(e)
    tracker.listenerHandled('mirror', e)
    out.push(e)
  }
  return out
}

/** Parses Prometheus text exposition: every sample line, with its HELP and TYPE declared first. */
function parseMetrics(t: Test, text: string): Map<string, number> {
  const samples = new Map<string, number>()
  const typed = new Set<string>()
  for (const line of text.split('\n')) {
    if (line === '') continue
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (meta) {
      if (meta[1] === 'TYPE') typed.add(meta[2]!)
      continue
    }
    // Values as Prometheus parses them (Go's ParseFloat: NaN in any case; prom-client writes `Nan`).
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|[Nn][Aa][Nn]|[+-]Inf)$/.exec(line)
    if (!m) {
      t.fail(`not a metrics line: ${line}`)
      continue
    }
    const family = m[1]!.replace(/_(bucket|sum|count)$/, '')
    if (!typed.has(m[1]!) && !typed.has(family)) t.fail(`sample before its TYPE: ${line}`)
    samples.set(m[1]! + (m[2] ?? ''), Number(m[3]))
  }
  return samples
}

t.test('isLoopbackHost', async (t) => {
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost', 'LOCALHOST', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1']) t.ok(isLoopbackHost(h), h)
  for (const h of ['0.0.0.0', '::', '', '10.0.0.1', '192.168.1.10', 'example.com', '::ffff:10.0.0.1', '128.0.0.1']) t.notOk(isLoopbackHost(h), h)
})

t.test('/status.json serves the snapshot', async (t) => {
  const { tracker, url } = await start(t)
  tracker.started({ root: '/p4/root', liveJournal: '/p4/root/journal' })
  tracker.addListener('mirror')
  const es = feed(tracker, 12, 5)
  tracker.liveSize({ journal: 12, size: es.at(-1)!.position.end + 40 })
  tracker.committed({ journal: 12, offset: es[2]!.position.end })

  const res = await get(url + 'status.json')
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^application\/json/)
  t.equal(res.headers['cache-control'], 'no-store')
  const s = JSON.parse(res.body) as StatusSnapshot
  t.match(s, {
    root: '/p4/root',
    position: `12/${es.at(-1)!.position.end}`,
    committed: `12/${es[2]!.position.end}`,
    liveJournal: { number: 12, path: '/p4/root/journal' },
    lagBytes: 40,
    entriesTotal: 5,
    listeners: [{ name: 'mirror', handled: 5, retries: 0, errors: 0 }],
    quiet: false,
    lastRotation: null,
    history: { resolutionSeconds: 5 },
  })
  t.type(s.uptimeSeconds, 'number')
  t.type(s.entriesPerSecond, 'number')
  t.type(s.startedAt, 'string')

  feed(tracker, 12, 3)
  const again = JSON.parse((await get(url + 'status.json')).body) as StatusSnapshot
  t.equal(again.entriesTotal, 8, 'each request sees the current counts')
})

t.test('/metrics serves Prometheus text from a registry of its own', async (t) => {
  const { tracker, url } = await start(t)
  tracker.started({ root: '/r', liveJournal: '/r/journal' })
  tracker.addListener('mirror')
  tracker.addListener('notify')
  const es = feed(tracker, 3, 4)
  tracker.listenerRetry('notify', new Error('smtp down'))
  tracker.listenerError('notify', new Error('smtp still down'))
  tracker.liveSize({ journal: 3, size: es.at(-1)!.position.end + 10 })
  tracker.committed({ journal: 3, offset: es[1]!.position.end })
  tracker.rotated({ from: 2, to: 3, mode: 'rename' })
  tracker.quiet(true)

  const res = await get(url + 'metrics')
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const m = parseMetrics(t, res.body)
  t.equal(m.get('logdaemon_entries_total'), 4)
  t.equal(m.get('logdaemon_listener_handled_total{listener="mirror"}'), 4)
  t.equal(m.get('logdaemon_listener_handled_total{listener="notify"}'), 0)
  t.equal(m.get('logdaemon_listener_retries_total{listener="notify"}'), 1)
  t.equal(m.get('logdaemon_listener_errors_total{listener="notify"}'), 1)
  t.equal(m.get('logdaemon_listener_skipped_total{listener="mirror"}'), 0)
  t.equal(m.get('logdaemon_errors_total'), 1)
  t.equal(m.get('logdaemon_retries_total'), 1)
  t.equal(m.get('logdaemon_read_journal'), 3)
  t.equal(m.get('logdaemon_read_offset_bytes'), es.at(-1)!.position.end)
  t.equal(m.get('logdaemon_committed_journal'), 3)
  t.equal(m.get('logdaemon_committed_offset_bytes'), es[1]!.position.end)
  t.equal(m.get('logdaemon_live_journal'), 3)
  t.equal(m.get('logdaemon_live_journal_size_bytes'), es.at(-1)!.position.end + 10)
  t.equal(m.get('logdaemon_lag_bytes'), 10)
  t.equal(m.get('logdaemon_quiet'), 1)
  t.type(m.get('logdaemon_uptime_seconds'), 'number')
  t.type(m.get('logdaemon_entries_per_second'), 'number')
  t.type(m.get('logdaemon_last_rotation_timestamp_seconds'), 'number')
  t.ok(
    [...m.keys()].some((k) => k.startsWith('logdaemon_process_cpu')),
    'default process metrics, prefixed',
  )

  feed(tracker, 3, 2)
  const m2 = parseMetrics(t, (await get(url + 'metrics')).body)
  t.equal(m2.get('logdaemon_entries_total'), 6, 'counts are read at scrape time')
})

t.test('unknown values are absent from /metrics, not zero', async (t) => {
  const { url } = await start(t)
  const m = parseMetrics(t, (await get(url + 'metrics')).body)
  for (const name of [
    'logdaemon_lag_bytes',
    'logdaemon_committed_offset_bytes',
    'logdaemon_live_journal_size_bytes',
    'logdaemon_last_rotation_timestamp_seconds',
  ]) {
    t.notOk(m.has(name), `${name} has no sample`)
  }
  t.equal(m.get('logdaemon_entries_total'), 0)
})

t.test('a given registry is served as is', async (t) => {
  const registry = new Registry()
  new Gauge({ name: 'custom_gauge', help: 'a custom gauge', registers: [registry] }).set(7)
  const { url } = await start(t, { registry })
  const m = parseMetrics(t, (await get(url + 'metrics')).body)
  t.equal(m.get('custom_gauge'), 7)
  t.notOk(m.has('logdaemon_entries_total'))
})

t.test('/ serves the self-contained page', async (t) => {
  const { url } = await start(t)
  const res = await get(url)
  t.equal(res.status, 200)
  t.match(res.headers['content-type'], /^text\/html/)
  t.equal(res.headers['content-security-policy'], STATUS_PAGE_CSP)
  t.equal(res.body, STATUS_PAGE_HTML)
  t.match(res.body, /fetch\('status\.json'/)
  t.notMatch(res.body, /(src|href)="(https?:)?\/\//, 'no external assets')
  t.equal(res.body.match(/<\/script/gi)?.length, 1, 'the script cannot close itself early')
})

t.test('HEAD, other methods and unknown paths', async (t) => {
  const { url } = await start(t)
  const head = await get(url + 'status.json', { method: 'HEAD' })
  t.equal(head.status, 200)
  t.equal(head.body, '')
  const post = await get(url + 'status.json', { method: 'POST' })
  t.equal(post.status, 405)
  t.equal(post.headers.allow, 'GET, HEAD')
  t.equal((await get(url + 'nope')).status, 404)
})

t.test('with a token, every route needs it', async (t) => {
  const token = 's3cret-token'
  const { url } = await start(t, { token })
  for (const path of ['', 'status.json', 'metrics']) {
    const none = await get(url + path)
    t.equal(none.status, 401, `/${path} without a token`)
    t.equal(none.headers['www-authenticate'], 'Bearer realm="logdaemon"')
    t.equal((await get(url + path, { headers: { authorization: 'Bearer wrong' } })).status, 401, `/${path} with a wrong token`)
    t.equal((await get(url + path + '?token=s3cret')).status, 401, `/${path} with a prefix of the token`)
    t.equal((await get(url + path, { headers: { authorization: `Basic ${token}` } })).status, 401, `/${path} with another scheme`)
    t.equal((await get(url + path, { headers: { authorization: `Bearer ${token}` } })).status, 200, `/${path} with the bearer header`)
    t.equal((await get(url + path, { headers: { authorization: `bearer ${token}` } })).status, 200, `/${path}: the scheme is case-insensitive`)
    t.equal((await get(`${url}${path}?token=${token}`)).status, 200, `/${path} with ?token=`)
  }
})

t.test('without a token, a request for another host name is refused (DNS rebinding: a web page resolved to 127.0.0.1 read the status)', async (t) => {
  const { port } = await start(t)
  for (const host of ['evil.example.com', `evil.example.com:${port}`, `127.0.0.1.evil.example:${port}`, '10.0.0.1']) {
    const res = await get(`http://127.0.0.1:${port}/status.json`, { headers: { host } })
    t.equal(res.status, 421, `Host: ${host}`)
    t.notMatch(res.body, /"version"/, 'no status in the body')
  }
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, 'LOCALHOST', `[::1]:${port}`, '127.0.0.2', `localhost.:${port}`]) {
    t.equal((await get(`http://127.0.0.1:${port}/status.json`, { headers: { host } })).status, 200, `Host: ${host}`)
  }
  t.equal(requestHostName(undefined), null)
  t.equal(requestHostName('[::1]:80'), '[::1]')
  t.equal(requestHostName('Example.COM.:8080'), 'example.com')
})

t.test('with a token, any Host header is answered (the token is the guard)', async (t) => {
  const { port } = await start(t, { host: '127.0.0.1', token: 'tok' })
  t.equal((await get(`http://127.0.0.1:${port}/status.json?token=tok`, { headers: { host: 'p4.example.com' } })).status, 200)
})

t.test('refuses a non-loopback address without a token', async (t) => {
  for (const host of ['0.0.0.0', '::']) {
    const server = new StatusServer({ host, tracker: new StatusTracker() })
    await t.rejects(server.listen(), { code: 'ERR_CONFIG_INVALID', details: { key: 'status.token' } }, host)
    await server.close()
  }
  t.throws(() => new StatusServer({ tracker: new StatusTracker(), token: '' }), { code: 'ERR_CONFIG_INVALID' }, 'an empty token')
})

t.test('listens on a non-loopback address with a token', async (t) => {
  const { port } = await start(t, { host: '0.0.0.0', token: 'tok' })
  t.equal((await get(`http://127.0.0.1:${port}/status.json`)).status, 401)
  t.equal((await get(`http://127.0.0.1:${port}/status.json?token=tok`)).status, 200)
})

t.test('an IPv6 loopback URL is bracketed', async (t) => {
  let started
  try {
    started = await start(t, { host: '::1' })
  } catch (err) {
    t.comment(`skipped: no IPv6 loopback here: ${String(err)}`)
    return
  }
  t.match(started.url, /^http:\/\/\[::1\]:\d+\/$/)
  t.equal((await get(started.url + 'status.json')).status, 200)
})

t.test('a bracketed IPv6 literal is the address inside the brackets (listen looked [::1] up as a name: a bare ENOTFOUND)', async (t) => {
  let started
  try {
    started = await start(t, { host: '[::1]' })
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ERR_CONFIG_INVALID' || !/no such address/.test(String(err))) throw err
    t.comment(`skipped: no IPv6 loopback here: ${String(err)}`)
    return
  }
  t.match(started.url, /^http:\/\/\[::1\]:\d+\/$/)
  t.equal((await get(started.url + 'status.json')).status, 200)
})

t.test('a status.host that does not resolve says so and names the key (it was a bare getaddrinfo ENOTFOUND)', async (t) => {
  // .invalid never resolves (RFC 6761); a machine without a name server says EAI_AGAIN instead of ENOTFOUND.
  const expected = {
    code: 'ERR_CONFIG_INVALID',
    message: /cannot listen on nonexistent\.invalid:0: status\.host nonexistent\.invalid .*Set status\.host to an address of this machine/,
    details: { key: 'status.host', host: 'nonexistent.invalid' },
    cause: { syscall: 'getaddrinfo' },
  }
  const server = new StatusServer({ host: 'nonexistent.invalid', token: 'tok', tracker: new StatusTracker() })
  await t.rejects(server.listen(), expected, 'listen')
  await server.close()
  await t.rejects(statusPortTaken('nonexistent.invalid', 0), expected, 'statusPortTaken, as check uses it')
  for (const host of ['127.0.0.1', 'localhost']) t.equal(await statusPortTaken(host, 0), false, host)
})

t.test('close is idempotent and ends kept-alive connections', async (t) => {
  const server = new StatusServer({ tracker: new StatusTracker() })
  await server.close()
  const { url } = await server.listen()
  await t.rejects(server.listen(), /already/)
  const res = await fetch(url + 'status.json', { headers: { connection: 'keep-alive' } })
  t.equal(res.status, 200)
  await res.text()
  await Promise.all([server.close(), server.close()])
  await t.rejects(get(url + 'status.json'), { code: 'ECONNREFUSED' })
})

t.test('a port in use is an error from listen', async (t) => {
  const { port } = await start(t)
  const second = new StatusServer({ port, tracker: new StatusTracker() })
  // Says which address and port, and what to do (not only EADDRINUSE).
  await t.rejects(second.listen(), {
    code: 'ERR_ADDRESS_IN_USE',
    message: new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}: the address is in use by another process.*set status\\.port to a free port`),
    cause: { code: 'EADDRINUSE' },
  })
  await second.close()
})

t.test('an address not on this machine is an error naming the setting (not a bare EADDRNOTAVAIL)', async (t) => {
  // 192.0.2.1: TEST-NET-1 (RFC 5737), never a local address.
  const server = new StatusServer({ host: '192.0.2.1', port: 0, token: 'tok', tracker: new StatusTracker() })
  await t.rejects(server.listen(), {
    code: 'ERR_CONFIG_INVALID',
    message: /cannot listen on 192\.0\.2\.1:0: no such address on this machine\. Set status\.host and status\.port/,
    cause: { code: 'EADDRNOTAVAIL' },
    details: { key: 'status' },
  })
  await server.close()
})

t.test('listenError: what each failure of listen says', async (t) => {
  const errno = (code: string, syscall = 'listen'): NodeJS.ErrnoException => Object.assign(new Error(`${code}: ${syscall}`), { code, syscall })
  t.match(listenError(errno('EACCES'), '127.0.0.1', 80), {
    code: 'ERR_CONFIG_INVALID',
    message: /cannot listen on 127\.0\.0\.1:80: permission denied \(ports below 1024 need privileges\)/,
  })
  t.match(listenError(errno('EAI_AGAIN', 'getaddrinfo'), 'p4.example', 4780), {
    code: 'ERR_CONFIG_INVALID',
    message: /status\.host p4\.example could not be looked up \(EAI_AGAIN\)/,
    details: { key: 'status.host' },
  })
  const other = errno('EMFILE')
  t.equal(listenError(other, '127.0.0.1', 4780), other, 'anything else as it is')
  const notErrno = new RangeError('port out of range')
  t.equal(listenError(notErrno, '127.0.0.1', 70000), notErrno, 'not a system error: as it is')
})

t.test('//status.json is not the page: a path is never read as a host', async (t) => {
  const { url } = await start(t)
  const base = new URL(url)
  for (const path of ['//status.json', '//evil.example/status.json', '//']) {
    const res = await rawGet(base.port, path)
    t.notMatch(res.type, /text\/html/, `${path} does not serve the page`)
    t.equal(res.status, 404, path)
  }
})

/** A GET with the request target exactly as given (fetch would normalise it). */
function rawGet(port: string, path: string): Promise<{ status: number; type: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: Number(port), path, method: 'GET' }, (res) => {
      res.resume()
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']) }))
    })
    req.on('error', reject)
    req.end()
  })
}

t.test('a request target no URL can be made of is a 400, and the server goes on (it threw out of the handler: the daemon died)', async (t) => {
  for (const token of [undefined, 'sekrit']) {
    const { url } = await start(t, token ? { token } : {})
    const base = new URL(url)
    for (const target of ['http://[', 'http://x:99999/status.json', 'http://%zz/', 'http://', 'http://1.2.3.4.5/']) {
      const res = await rawTarget(Number(base.port), target)
      t.match(res, /^HTTP\/1\.1 400 /, `${target}${token ? ' (with a token)' : ''}`)
    }
    const after = await get(`${url}status.json${token ? `?token=${token}` : ''}`)
    t.equal(after.status, 200, 'still serving')
  }
})

t.test('connections are bounded: past MAX_CONNECTIONS, more are refused, and the page still answers once they go', async (t) => {
  const { url } = await start(t)
  const port = Number(new URL(url).port)
  const held: Socket[] = []
  t.teardown(() => {
    for (const s of held) s.destroy()
  })
  // Idle connections that sent half a request each.
  for (let i = 0; i < MAX_CONNECTIONS + 8; i++) {
    const s = connect(port, '127.0.0.1')
    s.on('error', () => {})
    s.write('GET /status.json HTTP/1.1\r\nHost: x\r\n')
    held.push(s)
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  const closed = held.filter((s) => s.destroyed || s.readableEnded).length
  t.ok(closed >= 8, `the connections past ${MAX_CONNECTIONS} are closed by the server (${closed} closed)`)
  for (const s of held) s.destroy()
  await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal((await get(`${url}status.json`)).status, 200, 'answers again')
})

// Node looked for connections past headersTimeout every 30 s: MAX_CONNECTIONS of them shut the page out that long.
t.test('idle and byte-by-byte connections are dropped within seconds', async (t) => {
  const { url } = await start(t)
  const port = Number(new URL(url).port)
  const held: Socket[] = []
  let closed = 0
  const drip = setInterval(() => {
    for (const s of held.slice(MAX_CONNECTIONS / 2)) if (!s.destroyed) s.write('a')
  }, 500)
  t.teardown(() => {
    clearInterval(drip)
    for (const s of held) s.destroy()
  })
  // Half send nothing, half a header byte by byte, one every 500 ms (slowloris).
  for (let i = 0; i < MAX_CONNECTIONS; i++) {
    const s = connect(port, '127.0.0.1')
    s.on('error', () => {})
    s.on('close', () => closed++)
    s.resume()
    if (i >= MAX_CONNECTIONS / 2) s.write('GET /status.json HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
    held.push(s)
  }
  await new Promise((resolve) => setTimeout(resolve, 200))
  await t.rejects(get(`${url}status.json`), { code: 'ECONNRESET' }, 'shut out while they are held')
  const started = performance.now()
  let status = 0
  while (status !== 200 && performance.now() - started < 12_000) {
    await new Promise((resolve) => setTimeout(resolve, 250))
    status = await get(`${url}status.json`).then(
      (r) => r.status,
      () => 0,
    )
  }
  t.equal(status, 200, `answers again after ${Math.round(performance.now() - started)} ms`)
  // The page answers once one is closed; the others go at the server's next looks (every second), the byte-by-byte
  // ones by requestTimeout (10 s): not all at the same look on a busy machine (CI saw 1 of 32 closed 100 ms after).
  while (closed < MAX_CONNECTIONS && performance.now() - started < 15_000) await new Promise((resolve) => setTimeout(resolve, 100))
  t.equal(closed, MAX_CONNECTIONS, `the server closed every one (within ${Math.round(performance.now() - started)} ms)`)
})

/** The raw response head to a request whose target is sent as given. */
function rawTarget(port: number, target: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`))
    let got = ''
    s.on('data', (d: Buffer) => {
      got += d.toString('latin1')
    })
    s.on('end', () => resolve(got))
    s.on('error', reject)
  })
}
