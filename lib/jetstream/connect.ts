import { connect, credsAuthenticator, nkeyAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node'
import pRetry from 'p-retry'
import { ErrorCodes, LogdaemonError, toError } from '../errors.js'
import { isRetryable, retrySettings, type RetryOptions } from '../retry.js'
import { readSecretFile, redactUrl, serverList, type NatsConnectionOptions } from './connection-options.js'

export interface ConnectOptions {
  /** Backoff of the first connection (p-retry); the client reconnects by itself after that. Default: the listeners' retry defaults. */
  retry?: RetryOptions
  signal?: AbortSignal
  /** Told before each retry of the first connection. */
  onRetry?: (err: Error, retriesLeft: number) => void
}

/**
 * How long the client waits before reconnecting to the same server, ms: a
 * restarted server (or a new cluster leader) is back within a second or two.
 */
const RECONNECT_WAIT_MS = 250

/** The nats.js options for a connection: servers, authentication, TLS. Reads the NKey seed and .creds files. */
export async function natsOptions(o: NatsConnectionOptions): Promise<NodeConnectionOptions> {
  const servers = serverList(o.servers)
  if (servers.length === 0) {
    throw Object.assign(new LogdaemonError(ErrorCodes.JETSTREAM_CONNECT, 'no NATS server given: set servers to nats://HOST:PORT'), { retryable: false })
  }
  const opts: NodeConnectionOptions = {
    servers,
    name: o.name ?? 'logdaemon',
    // Keep reconnecting while the daemon runs: the daemon's backpressure holds meanwhile.
    reconnect: true,
    maxReconnectAttempts: -1,
    reconnectTimeWait: RECONNECT_WAIT_MS,
  }
  if (o.user !== undefined) {
    opts.user = o.user
    opts.pass = o.password as string
  }
  if (o.token !== undefined) opts.token = o.token
  if (o.nkey !== undefined) {
    const seed = new TextDecoder().decode(await readSecretFile(o.nkey, 'NKey seed file')).trim()
    opts.authenticator = nkeyAuthenticator(new TextEncoder().encode(seed))
  }
  if (o.creds !== undefined) opts.authenticator = credsAuthenticator(await readSecretFile(o.creds, '.creds file'))
  if (o.tls === true) opts.tls = {}
  else if (o.tls) {
    opts.tls = {
      ...(o.tls.ca !== undefined ? { caFile: o.tls.ca } : {}),
      ...(o.tls.cert !== undefined ? { certFile: o.tls.cert } : {}),
      ...(o.tls.key !== undefined ? { keyFile: o.tls.key } : {}),
    }
  }
  return opts
}

/** Errors no retry fixes: refused credentials, a certificate that does not verify. */
function isPermanent(err: Error): boolean {
  const text = `${err.name} ${err.message} ${String((err as { code?: unknown }).code ?? '')}`
  return /authori[sz]ation|authentication|permission|certificate|self.signed|CERT_|ERR_TLS|unable to verify/i.test(text)
}

/** The servers, without credentials, for messages. */
export function describeServers(o: Pick<NatsConnectionOptions, 'servers'>): string {
  return serverList(o.servers).map(redactUrl).join(', ')
}

/**
 * Connects to NATS, retrying the first connection with p-retry's backoff.
 * Authentication and certificate errors fail at once. Fails with
 * ERR_JETSTREAM_CONNECT, whose message names the servers (credentials in
 * URLs replaced by `***`) and never a password or token.
 */
export async function connectNats(o: NatsConnectionOptions, options: ConnectOptions = {}): Promise<NatsConnection> {
  const opts = await natsOptions(o)
  const where = describeServers(o)
  try {
    return await pRetry(
      async () => {
        try {
          return await connect(opts)
        } catch (err) {
          const e = toError(err)
          // A server the client cannot parse rides along as Node's ERR_INVALID_URL `input`, password and all.
          const withInput = e as Error & { input?: unknown }
          if (typeof withInput.input === 'string') withInput.input = redactUrl(withInput.input)
          const wrapped = new LogdaemonError(ErrorCodes.JETSTREAM_CONNECT, `cannot connect to NATS at ${where}: ${e.message}`, { cause: e })
          throw isPermanent(e) ? Object.assign(wrapped, { retryable: false }) : wrapped
        }
      },
      {
        ...retrySettings(options.retry),
        ...(options.signal ? { signal: options.signal } : {}),
        shouldRetry: ({ error, retriesLeft }) => {
          if (!isRetryable(error)) return false
          options.onRetry?.(error, retriesLeft)
          return true
        },
      },
    )
  } catch (err) {
    const e = toError(err)
    if (e instanceof LogdaemonError) {
      throw Object.assign(
        new LogdaemonError(
          ErrorCodes.JETSTREAM_CONNECT,
          `${e.message}. Check that nats-server runs with JetStream (-js) and listens there, and the authentication and TLS settings`,
          { cause: e.cause },
        ),
        { retryable: isRetryable(e) },
      )
    }
    throw e
  }
}
