import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { z } from 'zod'
import { pathSchema } from '../path-schema.js'
import { ErrorCodes, LogdaemonError, toError } from '../errors.js'
import { maskCredentials } from '../mask-url.js'

/**
 * How logdaemon reaches a NATS server, the same for the `jetstream`
 * listener and the JetStream source: servers, one way to authenticate,
 * TLS. Secrets (password, token) are never logged; the configuration's
 * validation messages hide them by key name.
 */
export const connectionShape = {
  servers: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
    .describe('NATS URL(s): nats://HOST:PORT or tls://HOST:PORT, one string (comma-separated) or a list.'),
  user: z.string().min(1).optional().describe('User name (with password).'),
  password: z.string().min(1).optional().describe('Password (with user). Never logged.'),
  token: z.string().min(1).optional().describe('Authentication token. Never logged.'),
  nkey: pathSchema().optional().describe('File holding an NKey seed (SU…), relative to the configuration file.'),
  creds: pathSchema().optional().describe('A .creds file (JWT and NKey seed), relative to the configuration file.'),
  tls: z
    .union([
      z.literal(true),
      z.strictObject({
        ca: pathSchema().optional().describe('PEM file of the CA that signed the server certificate (a private CA).'),
        cert: pathSchema().optional().describe('Client certificate PEM file (when the server verifies clients).'),
        key: pathSchema().optional().describe('Client private key PEM file.'),
      }),
    ])
    .optional()
    .describe('TLS: true for the system CAs, or files of a private CA and a client certificate.'),
  name: z.string().min(1).optional().describe('Connection name shown by the server (default logdaemon).'),
}

export const connectionSchema = z.strictObject(connectionShape)

export type NatsConnectionOptions = z.infer<typeof connectionSchema>

/** Adds the "one way to authenticate" rules to an object schema that has the connection keys. */
export function checkAuth(o: Partial<NatsConnectionOptions>, ctx: z.RefinementCtx): void {
  const ways = [o.user !== undefined || o.password !== undefined, o.token !== undefined, o.nkey !== undefined, o.creds !== undefined].filter(Boolean)
  if (ways.length > 1) ctx.addIssue({ code: 'custom', path: ['user'], message: 'give one way to authenticate: user and password, token, nkey or creds' })
  if ((o.user === undefined) !== (o.password === undefined)) {
    ctx.addIssue({ code: 'custom', path: [o.user === undefined ? 'user' : 'password'], message: 'user and password go together' })
  }
  if (o.tls && o.tls !== true && (o.tls.cert === undefined) !== (o.tls.key === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['tls'], message: 'tls.cert and tls.key go together' })
  }
}

/** The server list as an array of URLs. */
export function serverList(servers: string | readonly string[]): string[] {
  const list = typeof servers === 'string' ? servers.split(',') : [...servers]
  return list.map((s) => s.trim()).filter(Boolean)
}

/**
 * A server fit for logs: credentials written in it (`nats://user:pass@host`,
 * `nats://token@host`, or without a scheme, `user:pass@host:4222`, as the
 * client takes it) are replaced by `***`, even a password holding a raw `/`.
 */
export function redactUrl(url: string): string {
  return maskCredentials(url, { keepUser: false })
}

/** Relative file options resolved from `baseDir` (the configuration file's directory). */
export function resolveConnectionFiles<T extends Partial<NatsConnectionOptions>>(o: T, baseDir: string): T {
  const abs = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(baseDir, p))
  const out: T = { ...o }
  if (o.nkey !== undefined) out.nkey = abs(o.nkey)
  if (o.creds !== undefined) out.creds = abs(o.creds)
  if (o.tls && o.tls !== true) {
    const tls: { ca?: string; cert?: string; key?: string } = {}
    if (o.tls.ca !== undefined) tls.ca = abs(o.tls.ca) as string
    if (o.tls.cert !== undefined) tls.cert = abs(o.tls.cert) as string
    if (o.tls.key !== undefined) tls.key = abs(o.tls.key) as string
    out.tls = tls
  }
  return out
}

/** Reads a secret file (NKey seed, .creds) without echoing it in errors. */
export async function readSecretFile(file: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file))
  } catch (err) {
    const e = new LogdaemonError(ErrorCodes.JETSTREAM_CONNECT, `cannot read the ${what} ${file}: ${toError(err).message}`, { file, cause: err })
    throw Object.assign(e, { retryable: false })
  }
}
