/**
 * A real nats-server with JetStream as a test fixture: 127.0.0.1 on a free
 * port, its configuration in the test's directory, stopped by the test.
 * Its store is a directory of its own under the system's temp directory,
 * removed when the test process exits: tap removes a test's directory
 * before the teardowns that stop the server when the directory was made
 * first (`startNats(t.testdir())`), and a server adding to its store
 * meanwhile failed that removal with ENOTEMPTY on CI. Also a
 * three-node JetStream cluster on loopback, and a server that requires
 * authentication and TLS with a private CA made here with openssl.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

/** Debian puts it in /usr/sbin; a manual install in /usr/local/bin or /usr/bin. */
export const NATS_SERVER = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'].find((p) => existsSync(p)) ?? 'nats-server'

/** Skip message for tests that need nats-server, or false when it is there. */
export const natsSkip: string | false = existsSync(NATS_SERVER)
  ? false
  : "nats-server not found in /usr/sbin, /usr/bin or /usr/local/bin: install Debian's nats-server (2.9 or later) to run the JetStream tests"

/** Skip message for tests that also need openssl (the TLS test), or false. */
export const opensslSkip: string | false = (() => {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' })
    return false
  } catch {
    return 'openssl not found: the TLS test makes its own CA with it'
  }
})()

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      const port = typeof addr === 'object' && addr ? addr.port : 0
      srv.close(() => resolve(port))
    })
  })
}

export interface NatsServer {
  readonly port: number
  readonly url: string
  readonly dir: string
  /** Its JetStream store directory (remove it between stop() and start() for a server that lost its store). */
  readonly store: string
  /** What the server printed so far. */
  log(): string
  /** Starts it again (same port, same store) after `kill()` or `stop()`. */
  start(): Promise<void>
  /** SIGKILL, and waits for the exit. */
  kill(): Promise<void>
  /** SIGTERM (SIGKILL after 5 s), and waits for the exit. */
  stop(): Promise<void>
}

interface ServerSpec {
  dir: string
  port: number
  /** Extra configuration text (authorization, tls, cluster). */
  conf?: string
  /** The URL clients use (scheme tls:// with TLS). */
  scheme?: 'nats' | 'tls'
  /** Wait for this text in the log before start() resolves. */
  readyText?: string
}

async function waitPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nats-server exited (${child.exitCode ?? child.signalCode}):\n${log()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket()
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
      s.connect(port, '127.0.0.1')
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nats-server did not listen on ${port} in 20 s:\n${log()}`)
    await sleep(50)
  }
}

/** The stores made here, removed at exit (every server has been stopped by its test then). */
const stores: string[] = []
process.once('exit', () => {
  for (const store of stores) {
    try {
      rmSync(store, { recursive: true, force: true })
    } catch {
      // A server a failed test left running: its store stays in the temp directory.
    }
  }
})

function serverOf(spec: ServerSpec): NatsServer {
  mkdirSync(spec.dir, { recursive: true })
  const store = mkdtempSync(join(tmpdir(), 'logdaemon-nats-store-'))
  stores.push(store)
  const confFile = join(spec.dir, 'nats.conf')
  writeFileSync(confFile, [`listen: 127.0.0.1:${spec.port}`, `jetstream { store_dir: ${JSON.stringify(store)} }`, spec.conf ?? ''].join('\n') + '\n')
  let child: ChildProcess | null = null
  let text = ''
  const log = () => text
  const server: NatsServer = {
    port: spec.port,
    url: `${spec.scheme ?? 'nats'}://127.0.0.1:${spec.port}`,
    dir: spec.dir,
    store,
    log,
    async start() {
      const c = spawn(NATS_SERVER, ['-c', confFile], { stdio: ['ignore', 'pipe', 'pipe'] })
      child = c
      c.stdout?.on('data', (b: Buffer) => (text += b.toString()))
      c.stderr?.on('data', (b: Buffer) => (text += b.toString()))
      await waitPort(spec.port, c, log)
      if (spec.readyText) {
        const deadline = Date.now() + 20_000
        const from = text.length
        while (!text.slice(from).includes(spec.readyText) && Date.now() < deadline) await sleep(50)
      }
    },
    async kill() {
      const c = child
      if (!c || c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise((resolve) => c.once('exit', resolve))
      c.kill('SIGKILL')
      await exited
    },
    async stop() {
      const c = child
      if (!c || c.exitCode !== null || c.signalCode !== null) return
      const exited = new Promise((resolve) => c.once('exit', resolve))
      c.kill('SIGTERM')
      const timer = setTimeout(() => c.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(timer)
    },
  }
  return server
}

/** One nats-server with JetStream on a free loopback port, started. */
export async function startNats(dir: string, options: { conf?: string; scheme?: 'nats' | 'tls' } = {}): Promise<NatsServer> {
  const server = serverOf({ dir, port: await freePort(), ...options })
  await server.start()
  return server
}

export interface NatsCluster {
  readonly nodes: readonly NatsServer[]
  /** Every node's URL, comma-separated (the `servers` option). */
  readonly servers: string
  stop(): Promise<void>
}

/** Three JetStream nodes on loopback routed to each other, started; resolves once they report a meta leader. */
export async function startNatsCluster(dir: string): Promise<NatsCluster> {
  const ports = await Promise.all([0, 1, 2].map(() => freePort()))
  const routes = await Promise.all([0, 1, 2].map(() => freePort()))
  const routeUrls = routes.map((p) => `nats-route://127.0.0.1:${p}`)
  const nodes = [0, 1, 2].map((i) =>
    serverOf({
      dir: join(dir, `n${i}`),
      port: ports[i] as number,
      conf: [
        `server_name: n${i}`,
        `cluster { name: logdaemon-test, listen: 127.0.0.1:${routes[i]}, routes: [${routeUrls.filter((_, j) => j !== i).join(', ')}] }`,
      ].join('\n'),
    }),
  )
  await Promise.all(nodes.map((n) => n.start()))
  // The JetStream meta group needs a leader before streams can be made.
  const deadline = Date.now() + 30_000
  while (!nodes.some((n) => /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/.test(n.log())) && Date.now() < deadline)
    await sleep(100)
  return {
    nodes,
    servers: nodes.map((n) => n.url).join(','),
    async stop() {
      await Promise.all(nodes.map((n) => n.stop()))
    },
  }
}

export interface Tls {
  ca: string
  cert: string
  key: string
  clientCert: string
  clientKey: string
}

/** A private CA and a server certificate for 127.0.0.1 (and a client certificate), made with openssl in `dir`. */
export function makeTls(dir: string): Tls {
  mkdirSync(dir, { recursive: true })
  const f = (n: string) => join(dir, n)
  const run = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] })
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  run(['req', '-x509', ...ec, '-days', '2', '-subj', '/CN=logdaemon test CA', '-keyout', f('ca.key'), '-out', f('ca.pem')])
  /** A key and a certificate for `name`, signed by the CA with the extensions `ext`. */
  const issue = (name: string, subject: string, ext: string) => {
    writeFileSync(f(`${name}.ext`), ext)
    run(['req', ...ec, '-subj', subject, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`)])
    run([
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.pem'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      f(`${name}.ext`),
      '-out',
      f(`${name}.pem`),
    ])
  }
  issue('server', '/CN=127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  issue('client', '/CN=logdaemon client', 'extendedKeyUsage=clientAuth\n')
  return { ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key'), clientCert: f('client.pem'), clientKey: f('client.key') }
}
