import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createHash, timingSafeEqual } from 'node:crypto'
import { connect, createServer as createNetServer, isIP, type AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import { ErrorCodes, LogdaemonError, isErrnoException } from '../errors.js'
import { createMetricsRegistry } from './metrics.js'
import { STATUS_PAGE_CSP, STATUS_PAGE_HTML } from './status-page.js'
import type { StatusTracker } from './status-tracker.js'

export interface StatusServerOptions {
  /** Address to listen on (an IPv6 literal with or without brackets). Default `127.0.0.1`; any non-loopback address requires `token`. */
  host?: string
  /** Port; 0 (the default) picks a free one. */
  port?: number
  /** Required as `Authorization: Bearer TOKEN` or `?token=TOKEN` on every request when set. */
  token?: string
  tracker: StatusTracker
  /** The registry `/metrics` serves. Default: `createMetricsRegistry(tracker)`. */
  registry?: Registry
}

/** Whether `host` is a loopback address (127.0.0.0/8, ::1) or `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase()
  if (h === 'localhost') return true
  if (isIP(h) === 4) return h.startsWith('127.')
  if (isIP(h) === 6) return h === '::1' || /^(0{0,4}:){7}0{0,3}1$/.test(h) || /^::ffff:127\./.test(h)
  return false
}

/**
 * The address `listen` is given for `host`: an IPv6 literal without the
 * brackets a URL writes around it (`[::1]` is `::1`; getaddrinfo does not
 * know the bracketed form), any other host as it is.
 */
export function listenHost(host: string): string {
  const inner = /^\[(.*)\]$/.exec(host)?.[1]
  return inner !== undefined && isIP(inner) === 6 ? inner : host
}

/** `HOST:PORT` as a URL writes it: an IPv6 literal in brackets. */
export function hostPort(host: string, port: number): string {
  const h = listenHost(host)
  return `${isIP(h) === 6 ? `[${h}]` : h}:${port}`
}

/**
 * Whether another process holds the status port: a connection to it is
 * accepted, or else binding `host`:`port` as `listen` will (let go at
 * once) fails with EADDRINUSE. Rejects with the error `listen` would give
 * for any other failure (a port below 1024 without the privilege, an
 * address that is not this machine's, a name that does not resolve).
 * `logdaemon check` asks, and decides whether the holder is the daemon it
 * checks. Port 0 (any free port) is never taken, but its address is tried.
 */
export async function statusPortTaken(host: string, port: number): Promise<boolean> {
  // A listener there answers a connection: taken, and not bound even for an instant (a daemon starting then would
  // find its port in use). Only a refused connection leads to the bind, which finds the other failures.
  if (port !== 0 && (await answers(listenHost(host), port))) return true
  const server = createNetServer()
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen({ port, host: listenHost(host), exclusive: true }, () => resolve())
    })
  } catch (err) {
    if (isErrnoException(err) && err.code === 'EADDRINUSE') return true
    throw listenError(err, host, port)
  }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return false
}

/** Whether a TCP connection to `host`:`port` is accepted within a second. */
function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port })
    const done = (yes: boolean) => {
      socket.destroy()
      resolve(yes)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/**
 * The host name of a request's Host header (`127.0.0.1:4780`, `[::1]:4780`,
 * `localhost`), lower case, without the port and a trailing dot; null when
 * there is no header.
 */
export function requestHostName(header: string | undefined): string | null {
  if (header === undefined) return null
  const h = header.trim().toLowerCase()
  const name = h.startsWith('[') ? h.slice(0, h.indexOf(']') + 1 || undefined) : h.replace(/:\d*$/, '')
  return name.replace(/\.$/, '')
}

/**
 * Connections the status page holds at once; Node accepts any more and
 * closes them at once (the client sees a reset), so the timeouts below are
 * what frees a place. A browser tab keeps one or two and a scraper one: the
 * bound keeps clients (idle, or sending a request byte by byte) from taking
 * the daemon's file descriptors, which its journals and state file need (an
 * adversarial probe: 200 half-sent requests under `ulimit -n 128` made the
 * next state save fail with EMFILE).
 */
export const MAX_CONNECTIONS = 32

/**
 * How long a client may take to send its request's headers, and the whole
 * request (Node's defaults: 60 s and 5 min). A GET to a local page sends
 * them in milliseconds; a connection that sends nothing, or a byte at a
 * time, holds one of the MAX_CONNECTIONS places until then.
 */
const HEADERS_TIMEOUT_MS = 5_000
const REQUEST_TIMEOUT_MS = 10_000
/** How long a connection may stay open between requests (Node's default); the page polls once a second, so it keeps one. */
const KEEP_ALIVE_TIMEOUT_MS = 5_000
/**
 * How often Node looks for connections past HEADERS_TIMEOUT_MS or REQUEST_TIMEOUT_MS. Its default, 30 s, let
 * MAX_CONNECTIONS idle connections shut the page out for 30 s (a probe); at 1 s they go within 6 s.
 */
const CONNECTIONS_CHECKING_INTERVAL_MS = 1_000

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest()

/**
 * The status HTTP server (node:http only):
 *
 * - `/` the status page, which polls `/status.json` once a second;
 * - `/status.json` the tracker's snapshot;
 * - `/metrics` Prometheus text.
 *
 * GET and HEAD only. Listens on 127.0.0.1 by default; refuses any other
 * address without a token (ERR_CONFIG_INVALID).
 */
export class StatusServer {
  readonly #host: string
  readonly #port: number
  readonly #token: Buffer | null
  readonly #tracker: StatusTracker
  readonly #registry: Registry
  #server: Server | null = null
  #closing: Promise<void> | null = null

  constructor(options: StatusServerOptions) {
    this.#host = listenHost(options.host ?? '127.0.0.1')
    this.#port = options.port ?? 0
    this.#token = options.token === undefined ? null : digest(options.token)
    this.#tracker = options.tracker
    this.#registry = options.registry ?? createMetricsRegistry(options.tracker)
    if (options.token === '') {
      throw new LogdaemonError(
        ErrorCodes.CONFIG_INVALID,
        'status.token is empty: set a long random token, or remove the key to serve without one on 127.0.0.1',
        {
          details: { key: 'status.token' },
        },
      )
    }
  }

  /** Starts listening; resolves with the base URL (`http://HOST:PORT/`, without the token). */
  async listen(): Promise<{ url: string; port: number }> {
    if (this.#server !== null) throw new Error('StatusServer: listen() was already called')
    if (this.#token === null && !isLoopbackHost(this.#host)) {
      throw new LogdaemonError(
        ErrorCodes.CONFIG_INVALID,
        `status.host is ${this.#host}, which is not a loopback address: set status.token so that only holders of the token can read the status, or set status.host to 127.0.0.1`,
        { details: { key: 'status.token', host: this.#host } },
      )
    }
    // Bounds what clients can hold (a status page has a handful): connections, and how long one may take to send its request.
    const server = createServer(
      {
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        connectionsCheckingInterval: CONNECTIONS_CHECKING_INTERVAL_MS,
      },
      (req, res) => this.#handle(req, res),
    )
    server.maxConnections = MAX_CONNECTIONS
    this.#server = server
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(this.#port, this.#host, () => {
          server.off('error', reject)
          resolve()
        })
      })
    } catch (err) {
      this.#server = null
      throw listenError(err, this.#host, this.#port)
    }
    const { port } = server.address() as AddressInfo
    return { url: `http://${hostPort(this.#host, port)}/`, port }
  }

  /** Stops listening and closes open connections (browsers keep them alive). Idempotent. */
  close(): Promise<void> {
    const server = this.#server
    if (server === null) return Promise.resolve()
    this.#closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeAllConnections()
    })
    return this.#closing
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    // req.url is always set on a server's requests. A path is appended to the base rather than
    // resolved against it: resolving would read `//status.json` as a host and serve `/`.
    const raw = String(req.url)
    let url: URL
    try {
      url = raw.startsWith('/') ? new URL(`http://status.invalid${raw}`) : new URL(raw, 'http://status.invalid')
    } catch {
      // A request target no URL can be made of (`http://[`, a port past 65535): the client's error, never the daemon's.
      res.setHeader('connection', 'close')
      return send(res, 400, 'text/plain; charset=utf-8', 'bad request: the request target is not a valid URL\n')
    }
    res.setHeader('cache-control', 'no-store')
    res.setHeader('x-content-type-options', 'nosniff')
    res.setHeader('referrer-policy', 'no-referrer')
    if (!this.#hostAllowed(req)) {
      // DNS rebinding: a web page the admin opens names its own host, resolved to 127.0.0.1, and reads the status
      // from the browser. Without a token only a loopback name (or the configured host) may be asked for.
      res.setHeader('connection', 'close')
      return send(res, 421, 'text/plain; charset=utf-8', 'misdirected request: without status.token the status page answers only to a loopback host name\n')
    }
    if (!this.#authorized(req, url)) {
      res.setHeader('www-authenticate', 'Bearer realm="logdaemon"')
      return send(res, 401, 'text/plain; charset=utf-8', 'unauthorized: send Authorization: Bearer TOKEN or add ?token=TOKEN to the address\n')
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD')
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n')
    }
    switch (url.pathname) {
      case '/':
        res.setHeader('content-security-policy', STATUS_PAGE_CSP)
        return send(res, 200, 'text/html; charset=utf-8', STATUS_PAGE_HTML)
      case '/status.json':
        // Lag is measured on disk when the status is read.
        void this.#tracker.measure().then(() => send(res, 200, 'application/json; charset=utf-8', JSON.stringify(this.#tracker.snapshot())))
        return
      case '/metrics':
        this.#tracker
          .measure()
          .then(() => this.#registry.metrics())
          .then(
            (text) => send(res, 200, this.#registry.contentType, text),
            /* c8 ignore next -- prom-client's own metrics do not fail */
            (err: unknown) => send(res, 500, 'text/plain; charset=utf-8', `metrics failed: ${String(err)}\n`),
          )
        return
      default:
        return send(res, 404, 'text/plain; charset=utf-8', 'not found: try /, /status.json or /metrics\n')
    }
  }

  /** Without a token, the Host header must name a loopback address or the configured host (a missing one is allowed: no browser omits it). */
  #hostAllowed(req: IncomingMessage): boolean {
    if (this.#token !== null) return true
    const name = requestHostName(req.headers.host)
    if (name === null || isLoopbackHost(name)) return true
    return name === requestHostName(this.#host.includes(':') && !this.#host.startsWith('[') ? `[${this.#host}]` : this.#host)
  }

  #authorized(req: IncomingMessage, url: URL): boolean {
    if (this.#token === null) return true
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '')
    const given = bearer?.[1] ?? url.searchParams.get('token')
    // Compares digests so that neither the length nor the bytes leak through timing.
    return given !== null && timingSafeEqual(digest(given), this.#token)
  }
}

/**
 * EADDRINUSE, EACCES, EADDRNOTAVAIL and a host name that does not resolve
 * say which address and what to do; other errors pass through.
 */
export function listenError(err: unknown, host: string, port: number): unknown {
  if (!isErrnoException(err)) return err
  const where = hostPort(host, port)
  if (err.code === 'EADDRINUSE') {
    return new LogdaemonError(
      ErrorCodes.ADDRESS_IN_USE,
      `the status page cannot listen on ${where}: the address is in use by another process (another logdaemon? check with \`ss -ltnp 'sport = :${port}'\`). ` +
        'Stop that process, or set status.port to a free port (0 picks one), or set status to false',
      { cause: err, details: { host, port, syscall: err.syscall ?? null } },
    )
  }
  if (err.code === 'EACCES' || err.code === 'EADDRNOTAVAIL') {
    const why = err.code === 'EACCES' ? 'permission denied (ports below 1024 need privileges)' : 'no such address on this machine'
    return new LogdaemonError(
      ErrorCodes.CONFIG_INVALID,
      `the status page cannot listen on ${where}: ${why}. Set status.host and status.port in the configuration`,
      {
        cause: err,
        details: { host, port, key: 'status' },
      },
    )
  }
  if (err.syscall === 'getaddrinfo') {
    // listen looked the name up: ENOTFOUND (no such name), EAI_AGAIN (the name server did not answer), EAI_FAIL.
    const why = err.code === 'ENOTFOUND' ? 'is a name with no address' : `could not be looked up (${err.code})`
    return new LogdaemonError(
      ErrorCodes.CONFIG_INVALID,
      `the status page cannot listen on ${where}: status.host ${host} ${why}. ` +
        'Set status.host to an address of this machine (127.0.0.1 by default) or a name that resolves to one',
      { cause: err, details: { host, port, key: 'status.host' } },
    )
  }
  return err
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.statusCode = status
  res.setHeader('content-type', type)
  res.setHeader('content-length', Buffer.byteLength(body))
  res.end(body)
}
