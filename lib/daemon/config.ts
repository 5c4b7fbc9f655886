import { STALLED, unlessStalled } from '../stalled.js'
import { constants, type Stats } from 'node:fs'
import { type FileHandle, open, stat } from 'node:fs/promises'
import { basename, dirname, extname, join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { z } from 'zod'
import { ErrorCodes, LogdaemonError, isErrnoException, isLogdaemonError, toError } from '../errors.js'
import { maskUrl } from '../mask-url.js'
import { BUILTIN_LISTENER_TYPES, isBuiltinListenerType, loadBuiltin } from '../listeners/builtin/index.js'
import { isListener, type Listener, type ListenerFactory } from '../listeners/listener.js'
import { retryOptionsSchema, type RetryOptions } from '../retry.js'
import { msSchema } from '../timer-ms.js'
import { pathSchema } from '../path-schema.js'
import { DEFAULT_HEALTH, type HealthThresholds } from '../status/status-tracker.js'
import { consumerStatePath, jetstreamSourceSchema, resolveSourceFiles, type JetStreamSourceConfig } from './source-config.js'
import { jsonDuplicateKey, jsonSyntaxError } from './json-syntax.js'
import { journalSetFileProblem } from '../files/journal-set.js'
import { isSharedSpecialFile, sameDir, sameFile } from '../files/same-path.js'
import { fileKind } from '../files/if-exists.js'
import { lockPathOf } from '../files/state-lock.js'
import { MIRROR_DIR_LOCK, MIRROR_JOURNAL } from '../listeners/builtin/mirror/mirror-names.js'
import type { NotifyOptions } from '../listeners/builtin/notify/notify-options.js'
import { parseSqlUrl } from '../listeners/builtin/sql/sql-url.js'

/** Default port of the status page. */
export const DEFAULT_STATUS_PORT = 4780

/** How a failing listener is retried; the defaults are DEFAULT_RETRY's (lib/retry.ts). */
const retrySchema = retryOptionsSchema

const moduleRef = z.union([pathSchema(), z.custom<ListenerFactory | Listener>((v) => typeof v === 'function' || isListener(v))], {
  error: 'expected a module specifier or path, or (in a JS configuration) a factory function or a listener object',
})

const listenerSchema = z
  .strictObject({
    type: z.enum([...BUILTIN_LISTENER_TYPES, 'module'] as unknown as readonly [string, ...string[]]).describe('A built-in listener, or `module` for your own.'),
    name: z.string().min(1).optional().describe('Names it in logs, errors and the status page. Default: the type (or the module file name).'),
    module: moduleRef
      .optional()
      .describe('type module only: the module specifier or path (relative to the configuration file), or inline in a JS configuration.'),
    options: z.record(z.string(), z.unknown()).default({}).describe('Options of the listener.'),
    retry: retrySchema.optional().describe('Overrides the top-level retry for this listener.'),
  })
  .superRefine((l, ctx) => {
    if (l.type === 'module' && l.module === undefined) {
      ctx.addIssue({ code: 'custom', path: ['module'], message: 'missing (expected the module specifier or path of the listener, as type is "module")' })
    }
    if (l.type !== 'module' && l.module !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['module'], message: `not allowed for the built-in type "${l.type}" (use type "module" for your own listener)` })
    }
  })

const statusSchema = z
  .strictObject({
    host: z.string().min(1).default('127.0.0.1').describe('Address to listen on. Any non-loopback address requires token.'),
    port: z.number().int().min(0).max(65535).default(DEFAULT_STATUS_PORT).describe(`Port (0 picks a free one). Default ${DEFAULT_STATUS_PORT}.`),
    token: z.string().min(1).optional().describe('Required as `Authorization: Bearer TOKEN` or `?token=` when set.'),
  })
  .describe('The status page, /status.json and /metrics.')

/** Default of `stopTimeoutMs`: a minute for listeners to finish, sync and close after SIGTERM. */
export const DEFAULT_STOP_TIMEOUT_MS = 60_000

const healthSchema = z
  .strictObject({
    behindBytes: z
      .number()
      .int()
      .min(0)
      .default(DEFAULT_HEALTH.behindBytes)
      .describe('Unread bytes (lagBytes) above which the health is "Behind". Default 64 MiB.'),
    behindSeconds: z
      .number()
      .min(0)
      .default(DEFAULT_HEALTH.behindSeconds)
      .describe('Age of the oldest unread or uncommitted byte (lagSeconds) above which the health is "Behind". Default 300.'),
    caughtUpBytes: z
      .number()
      .int()
      .min(0)
      .default(DEFAULT_HEALTH.caughtUpBytes)
      .describe('Unread bytes at or below which the health is "Caught up" (when at the live journal). Default 0.'),
  })
  .describe('Thresholds of the health state on the status page, /status.json and /metrics.')
/** Without a jetstream source the journal files are needed: the one message for their absence, whichever check finds it. */
const SERVER_MISSING = 'missing (expected object)'

/** The configuration file's schema (before paths are resolved). */
export const configSchema = z
  .strictObject({
    server: z
      .strictObject({
        root: pathSchema().describe('P4ROOT, the server root.'),
        journal: pathSchema().optional().describe('P4JOURNAL, the live journal. Default ROOT/journal.'),
        prefix: pathSchema().optional().describe('journalPrefix: archives are PREFIX.jnl.N (relative to root) instead of ROOT/journal.N.'),
      })
      .optional()
      .describe('Where the server keeps its journals (not with a jetstream source).'),
    source: jetstreamSourceSchema.optional().describe('Read a NATS JetStream stream instead of the journal files (docs/jetstream.md).'),
    from: z
      .union([z.number().int().min(0), z.literal('end')], { error: 'expected a journal number (an integer >= 0) or "end"' })
      .optional()
      .describe('Where to start when there is no state file yet: journal N from its start (the last checkpoint N), or "end".'),
    state: pathSchema()
      .default('logdaemon.state.json')
      .describe('The state file: the committed position (with a jetstream source, kept beside it in STATE.jetstream.STREAM.DURABLE.json).'),
    quietMs: msSchema().positive().default(5000).describe('A journal quiet this long counts as quiet: listeners get noData and pending work is committed.'),
    commitIntervalMs: msSchema().min(0).default(1000).describe('Least time between two commits.'),
    stopTimeoutMs: msSchema()
      .positive()
      .default(DEFAULT_STOP_TIMEOUT_MS)
      .describe('After SIGTERM, how long listeners may take to finish, sync and close before the daemon logs what it waited on and exits 1.'),
    health: healthSchema.default({ ...DEFAULT_HEALTH }),
    retry: retrySchema.default({}),
    listeners: z.array(listenerSchema).min(1, { error: 'expected at least one listener' }).describe('The listeners, fed in this order.'),
    status: z
      .union([z.literal(false), statusSchema], { error: 'expected false or an object { host, port, token }' })
      .default({ host: '127.0.0.1', port: DEFAULT_STATUS_PORT }),
    log: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('pino log level.'),
        file: pathSchema().optional().describe('Log to this file instead of standard error.'),
      })
      .default({ level: 'info' }),
  })
  .superRefine((c, ctx) => {
    if (!c.server && !c.source) ctx.addIssue({ code: 'custom', path: ['server'], message: SERVER_MISSING })
    if (c.server && c.source)
      ctx.addIssue({ code: 'custom', path: ['source'], message: 'a jetstream source replaces the journal files: give server or source, not both' })
    if (c.source && c.from !== undefined)
      ctx.addIssue({ code: 'custom', path: ['from'], message: 'not used with a jetstream source (its durable consumer says where to resume)' })
  })

export type ConfigInput = z.input<typeof configSchema>

/** One listener of a validated configuration. */
export interface ListenerConfig {
  type: string
  name: string
  module?: string | ListenerFactory | Listener
  options: Record<string, unknown>
  retry?: RetryOptions
}

/** A validated configuration, paths made absolute. */
export interface DaemonConfig {
  /** The file it came from, or null. */
  file: string | null
  /** Relative paths were taken from here: the configuration file's directory. */
  baseDir: string
  /** Where the server keeps its journals; absent with a jetstream `source`. */
  server?: { root: string; journal?: string; prefix?: string }
  /** Read a JetStream stream instead of the journal files. */
  source?: JetStreamSourceConfig
  from?: number | 'end'
  state: string
  quietMs: number
  commitIntervalMs: number
  stopTimeoutMs: number
  health: HealthThresholds
  retry: RetryOptions
  listeners: ListenerConfig[]
  status: false | { host: string; port: number; token?: string }
  log: { level: string; file?: string }
}

function pathText(path: readonly PropertyKey[]): string {
  let out = ''
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out ? `.${String(p)}` : String(p)
  return out || '(top level)'
}

/**
 * Keys whose values never appear in messages (passwords, tokens, webhook
 * secrets, keys): matched anywhere in a key name, in any case. Masking a
 * harmless value costs a less helpful message; showing a secret costs more.
 */
const SECRET_KEY = /secret|pass|token|auth|credential|cookie|signature|private|bearer|session|api[-_]?key|access[-_]?key|^key$/i

/** Redaction stops this deep (configurations are shallow); deeper values are not shown. */
const MAX_REDACT_DEPTH = 16

/**
 * A copy of a configuration value safe to echo in a message: the value of
 * every secret-like key (at any depth) becomes "(hidden)", every URL loses
 * its user info and query, and an http(s) URL its path after the first
 * segment (see maskUrl).
 */
export function redactForMessage(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return maskUrl(value)
  if (typeof value !== 'object' || value === null) return value
  if (depth >= MAX_REDACT_DEPTH) return '(...)'
  if (Array.isArray(value)) return value.map((v) => redactForMessage(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = SECRET_KEY.test(k) ? '(hidden)' : redactForMessage(v, depth + 1)
  return out
}

function describeInput(input: unknown, path: readonly PropertyKey[]): string {
  if (input === undefined) return ''
  if (path.some((p) => typeof p === 'string' && SECRET_KEY.test(p))) return ' (value hidden)'
  if (typeof input === 'function') return ' (got a function)'
  const text = valueText(redactForMessage(input))
  return ` (got ${text.length > MAX_ECHO ? `${text.slice(0, MAX_ECHO - 3)}...` : text})`
}

/** The longest value a message shows: enough to find it in the file. */
const MAX_ECHO = 60

/**
 * A value as the configuration wrote it: its JSON, but numbers JSON has no
 * text for (JSON.stringify writes Infinity, -Infinity and NaN as null),
 * BigInts (which it throws on) and symbols as JS writes them, at any
 * depth. The walk
 * stops a little past MAX_ECHO characters: a long array or object is not
 * written out whole to be cut.
 */
function valueText(value: unknown): string {
  let out = ''
  const add = (v: unknown): void => {
    if (typeof v === 'bigint') out += `${v}n`
    else if (typeof v === 'number' || typeof v === 'symbol') out += String(v)
    else if (typeof v !== 'object' || v === null) out += JSON.stringify(v) ?? 'null'
    else {
      const array = Array.isArray(v)
      out += array ? '[' : '{'
      let first = true
      for (const [k, x] of Object.entries(v)) {
        if (out.length > MAX_ECHO) break
        // JSON leaves these out of an object (and writes null in an array).
        if (!array && (x === undefined || typeof x === 'function')) continue
        out += `${first ? '' : ','}${array ? '' : `${JSON.stringify(k)}:`}`
        first = false
        add(x)
      }
      out += array ? ']' : '}'
    }
  }
  add(value)
  return out
}

/** One line per problem: `key: what was expected (got …)`. */
export function formatIssues(issues: readonly z.core.$ZodIssue[], prefix: readonly PropertyKey[] = []): string[] {
  const lines: string[] = []
  for (const issue of issues) {
    const path = [...prefix, ...issue.path]
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) lines.push(`${pathText([...path, key])}: unknown key`)
      continue
    }
    const input = (issue as { input?: unknown }).input
    if (issue.code === 'invalid_type' && input === undefined) {
      lines.push(`${pathText(path)}: missing (expected ${issue.expected})`)
      continue
    }
    const message = issue.message.replace(/^Invalid (input|option): /, '')
    // Custom checks look at the whole object: its text would only repeat the configuration.
    lines.push(`${pathText(path)}: ${message}${issue.code === 'custom' ? '' : describeInput(input, path)}`)
  }
  return lines
}

function invalid(file: string | null, lines: string[]): LogdaemonError {
  const where = file ?? 'configuration'
  return new LogdaemonError(
    ErrorCodes.CONFIG_INVALID,
    `${where} is invalid:\n  ${lines.join('\n  ')}\nSee the configuration reference in docs/daemon.md, or run 'logdaemon init' for a commented example`,
    { file, details: { problems: lines } },
  )
}

function defaultName(l: { type: string; module?: unknown }): string {
  if (l.type !== 'module') return l.type
  if (typeof l.module === 'string') return basename(l.module, extname(l.module)).replace(/^@.*\//, '') || l.module
  return 'inline'
}

/**
 * Validates a configuration object: the schema (unknown keys are errors),
 * then each built-in listener's options against its own schema. Throws one
 * ERR_CONFIG_INVALID listing every problem as `key: what was expected`.
 * Relative paths are resolved from `baseDir`.
 */
export async function parseConfig(value: unknown, where: { file?: string | null; baseDir?: string } = {}): Promise<DaemonConfig> {
  const file = where.file ?? null
  const baseDir = where.baseDir ?? (file ? dirname(file) : process.cwd())
  const parsed = configSchema.safeParse(value, { reportInput: true })
  const dropped = optionsDropped(value)
  if (!parsed.success) {
    // Report the built-in listeners' option problems too: every problem at once.
    const raw = (value as { listeners?: unknown } | null)?.listeners
    const more: string[] = []
    if (Array.isArray(raw)) {
      for (const [i, l] of raw.entries()) {
        const { type, options } = (l ?? {}) as { type?: unknown; options?: unknown }
        if (typeof type !== 'string' || !isBuiltinListenerType(type)) continue
        const r = (await loadBuiltin(type)).optionsSchema.safeParse(options ?? {}, { reportInput: true })
        if (!r.success) more.push(...formatIssues(r.error.issues, ['listeners', i, 'options']))
      }
    }
    const lines = formatIssues(parsed.error.issues)
    // The object-wide checks (server or source) run only on an otherwise valid configuration: say it here too.
    const top = (value ?? {}) as { server?: unknown; source?: unknown }
    if (typeof value === 'object' && top.server === undefined && top.source === undefined && !lines.some((l) => l.startsWith('server:'))) {
      lines.unshift(`server: ${SERVER_MISSING}`)
    }
    // A built-in listener's schema reports a `__proto__` key in its options too: the line once.
    throw invalid(file, [...new Set([...lines, ...more, ...dropped])])
  }
  const c = parsed.data
  const problems: string[] = [...dropped]
  const names = new Map<string, number>()
  const listeners: ListenerConfig[] = []
  /** Listeners whose options their schema refused: their files are not known. */
  const refused = new Set<number>()
  for (const [i, l] of c.listeners.entries()) {
    const name = l.name ?? defaultName(l)
    const before = names.get(name)
    if (before !== undefined) {
      problems.push(`listeners[${i}].name: "${name}" is already the name of listeners[${before}] (expected a distinct name for each listener)`)
    }
    names.set(name, i)
    let options = l.options
    if (isBuiltinListenerType(l.type)) {
      const mod = await loadBuiltin(l.type)
      const r = mod.optionsSchema.safeParse(l.options, { reportInput: true })
      if (r.success) options = r.data as Record<string, unknown>
      else {
        problems.push(...formatIssues(r.error.issues, ['listeners', i, 'options']))
        refused.add(i)
      }
    }
    listeners.push({
      type: l.type,
      name,
      options,
      ...(l.module !== undefined ? { module: l.module } : {}),
      ...(l.retry ? { retry: l.retry } : {}),
    })
  }
  const abs = (p: string): string => resolve(baseDir, p)
  const written = await writtenPaths(c, listeners, refused, abs)
  if (file) problems.push(...(await writtenOverConfig(written, file)))
  if (c.server) problems.push(...(await writtenInJournalSet(c.server, written, abs)))
  problems.push(...(await statesNotRegular(written)), ...(await writtenTwice(written)))
  if (problems.length) throw invalid(file, problems)
  return {
    file,
    baseDir,
    ...(c.server
      ? {
          server: {
            root: abs(c.server.root),
            ...(c.server.journal ? { journal: resolve(abs(c.server.root), c.server.journal) } : {}),
            // A relative prefix is taken from the root, as p4d does.
            ...(c.server.prefix ? { prefix: c.server.prefix } : {}),
          },
        }
      : {}),
    ...(c.source ? { source: resolveSourceFiles(c.source, baseDir) } : {}),
    ...(c.from !== undefined ? { from: c.from } : {}),
    state: abs(c.state),
    quietMs: c.quietMs,
    commitIntervalMs: c.commitIntervalMs,
    stopTimeoutMs: c.stopTimeoutMs,
    health: c.health,
    retry: c.retry,
    listeners,
    status: c.status,
    log: { level: c.log.level, ...(c.log.file ? { file: abs(c.log.file) } : {}) },
  }
}

/** What a JS object literal's `__proto__: {…}` makes: a prototype, not a key (the message's end). */
const OWN_PROTOTYPE = 'expected a plain object: in a JS configuration, `__proto__: {…}` sets the prototype, it is no key'

/**
 * Whether `v`'s prototype is an object literal's (`{ __proto__: {…} }`, or
 * `Object.create({…})`), whose keys the schema would read as `v`'s. A
 * class's prototype (an instance as the configuration) and Object's own
 * from another realm (an object made by `vm`) have a `constructor` of
 * their own: their keys are no configuration (a probe).
 */
function madeOverAnother(v: object): boolean {
  const proto: unknown = Object.getPrototypeOf(v)
  return proto !== Object.prototype && proto !== null && !Object.hasOwn(proto as object, 'constructor')
}

/**
 * What the schema would not see as written: a `__proto__` key in a
 * listener's raw `options` (JSON.parse makes it an own key; z.record skips
 * it, as copying it by assignment would set the copy's prototype: an
 * unknown key, as z.strictObject reports it at every other level), and an
 * object whose prototype is not Object's (`{ __proto__: {…} }` in a JS
 * object literal sets the prototype: it makes no key). Under a listener's
 * `options` z.record copies own keys only, so the prototype's were dropped
 * (a module listener got `{}`); at every other level the schema reads keys
 * through the prototype, so `server: { __proto__: { root } }` was used as
 * a root (probes). Not looked into: an inline listener (`module`, an
 * object with methods) and what a module listener's options hold below
 * their top level (its own values, passed on as they are).
 */
function optionsDropped(value: unknown): string[] {
  const problems: string[] = []
  const seen = new Set<object>()
  const walk = (v: unknown, path: readonly PropertyKey[], deep: boolean): void => {
    if (typeof v !== 'object' || v === null || seen.has(v)) return
    seen.add(v)
    if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, [...path, i], deep)
      return
    }
    const options = path.length === 3 && path[0] === 'listeners' && path[2] === 'options'
    if (options && Object.hasOwn(v, '__proto__')) problems.push(`${pathText(path)}.__proto__: unknown key`)
    if (madeOverAnother(v)) {
      problems.push(`${pathText(path)}: has a prototype of its own, whose keys would be ${options ? 'ignored' : 'read as its own'} (${OWN_PROTOTYPE})`)
      return
    }
    if (!deep) return
    const listener = path.length === 2 && path[0] === 'listeners'
    for (const [k, x] of Object.entries(v)) {
      if (listener && k === 'module') continue
      walk(x, [...path, k], !(listener && k === 'options' && (v as { type?: unknown }).type === 'module'))
    }
  }
  walk(value, [], true)
  return problems
}

/**
 * A file (or, for a mirror, a directory) the daemon or a built-in listener
 * writes: the key that names it, its path, and how it is written: a state
 * (saved by writing a new file and renaming it over the old, under a lock
 * beside it), an output (appended: the log, print's output), a lock, or a
 * mirror's directory.
 */
interface Written {
  readonly key: string
  readonly path: string
  readonly kind: 'state' | 'output' | 'lock' | 'dir'
}

/**
 * What the daemon and its built-in listeners write: the state, the log, a
 * mirror's directory and state (by default DIR/.mirror-state.json), print's
 * output, notify's state file (by default beside the daemon's state), a
 * sql listener's SQLite database and its WAL and shared-memory files.
 * Paths from the configuration's directory; none for the listeners whose
 * options were `refused`.
 */
async function writtenPaths(
  c: z.infer<typeof configSchema>,
  listeners: readonly ListenerConfig[],
  refused: ReadonlySet<number>,
  abs: (p: string) => string,
): Promise<Written[]> {
  const state = abs(c.state)
  const written: Written[] = [{ key: 'state', path: state, kind: 'state' }]
  if (c.source) {
    const position = consumerStatePath(state, c.source)
    written.push({ key: `state (its JetStream position file ${position})`, path: position, kind: 'state' })
  }
  if (c.log.file) written.push({ key: 'log.file', path: abs(c.log.file), kind: 'output' })
  for (const [i, l] of listeners.entries()) {
    if (refused.has(i)) continue // its options were refused: reported already
    const o = l.options as { dir?: unknown; stateFile?: unknown; output?: unknown }
    const key = (k: string): string => `listeners[${i}].options.${k}`
    if (l.type === 'mirror' && typeof o.dir === 'string') {
      const dir = abs(o.dir)
      written.push({ key: key('dir'), path: dir, kind: 'dir' })
      const stateFile = typeof o.stateFile === 'string' ? abs(o.stateFile) : join(dir, '.mirror-state.json')
      written.push({ key: typeof o.stateFile === 'string' ? key('stateFile') : `${key('dir')} (its state file ${stateFile})`, path: stateFile, kind: 'state' })
      const dirLock = lockPathOf(join(dir, MIRROR_DIR_LOCK))
      written.push({ key: `${key('dir')} (its lock ${dirLock})`, path: dirLock, kind: 'lock' })
    }
    if (l.type === 'print' && typeof o.output === 'string' && o.output !== '-') written.push({ key: key('output'), path: abs(o.output), kind: 'output' })
    if (l.type === 'sql') written.push(...sqliteFiles((l.options as { url?: unknown }).url, key('url'), abs('.')))
    if (l.type === 'notify') {
      const file = await notifyStateFile(l.options as NotifyOptions, i, { baseDir: abs('.'), daemonState: state, name: l.name })
      if (file) written.push(file)
    }
  }
  // Each state has its lock beside it (STATE.lock).
  for (const w of written.filter((x) => x.kind === 'state')) {
    const lock = lockPathOf(w.path)
    written.push({ key: `${w.key} (its lock ${lock})`, path: lock, kind: 'lock' })
  }
  return written
}

/**
 * The files of a sql listener's SQLite replica: the database, written in
 * place, and the WAL and shared-memory files SQLite keeps beside it; none
 * for PostgreSQL or a URL the listener will refuse. Before, none was
 * looked at: `sqlite:journal` (the live journal, empty after a rotation)
 * was made a database, and p4d's journal began with SQLite's pages.
 */
function sqliteFiles(url: unknown, key: string, baseDir: string): Written[] {
  if (typeof url !== 'string') return []
  let target: ReturnType<typeof parseSqlUrl>
  try {
    target = parseSqlUrl(url, baseDir)
  } catch {
    return [] // the listener refuses it when it is made
  }
  if (target.kind !== 'sqlite') return []
  const file = target.file
  return [
    { key, path: file, kind: 'output' },
    { key: `${key} (its WAL file ${file}-wal)`, path: `${file}-wal`, kind: 'output' },
    { key: `${key} (its shared-memory file ${file}-shm)`, path: `${file}-shm`, kind: 'output' },
  ]
}

/**
 * A notify listener's state file: its review state with `reviews`, else its
 * delivery state, named as the listener names them; null when kept in
 * memory (not with the daemon's state known).
 */
async function notifyStateFile(o: NotifyOptions, i: number, where: { baseDir: string; daemonState: string; name: string }): Promise<Written | null> {
  const [{ reviewsOptionsOf }, { deliveryStatePath }, { reviewStatePath }] = await Promise.all([
    import('../listeners/builtin/notify/notify-options.js'),
    import('../listeners/builtin/notify/delivery-store.js'),
    import('../listeners/builtin/notify/reviews/review-mailer.js'),
  ])
  const reviews = reviewsOptionsOf(o)
  const path = reviews ? reviewStatePath(reviews, where) : deliveryStatePath(o.deliveryState, where)
  if (path === null) return null
  const given = reviews ? reviews.state !== undefined : o.deliveryState !== undefined
  const key = given
    ? `listeners[${i}].options.${reviews ? 'reviews.state' : 'deliveryState'}`
    : `listeners[${i}] (its ${reviews ? 'review' : 'delivery'} state file ${path})`
  return { key, path, kind: 'state' }
}

/**
 * The written files that are files of the server's journal set: `key: why`
 * for each. Before, none was refused: a `state` or mirror `stateFile` named
 * `journal.N` was renamed over the server's archive, a `log.file` in the
 * journal set had log lines appended to the server's journal, and a raw
 * `print` to the live journal fed the daemon its own output without end
 * (`check` found it valid).
 */
async function writtenInJournalSet(
  server: NonNullable<z.infer<typeof configSchema>['server']>,
  written: readonly Written[],
  abs: (p: string) => string,
): Promise<string[]> {
  const root = abs(server.root)
  const layout = { root, ...(server.journal ? { journal: resolve(root, server.journal) } : {}), ...(server.prefix ? { prefix: server.prefix } : {}) }
  const problems: string[] = []
  for (const { key, path } of written.filter((w) => w.kind !== 'dir')) {
    const problem = await journalSetFileProblem(layout, path)
    if (problem) problems.push(`${key}: ${problem}: logdaemon would write over the server's journal (expected a file outside the journal set)`)
  }
  return problems
}

/**
 * The written files that are the configuration `file` itself, through any
 * path (as writtenTwice compares them): `key: why` for each. Before,
 * `check` and `run` took a `log.file` or a print `output` naming it, `run`
 * appended its lines to the configuration, and the next start could not
 * parse it.
 */
async function writtenOverConfig(written: readonly Written[], file: string): Promise<string[]> {
  const problems: string[] = []
  for (const { key, path, kind } of written) {
    if (kind !== 'dir' && (await sameFile(file, path)))
      problems.push(`${key}: ${path} is the configuration file (expected a file of its own: logdaemon would write over its configuration)`)
  }
  return problems
}

/**
 * Two of the written files that are one (through `..`, a symlink, a hard
 * link or a bind mount), or two mirrors on one directory, or a file in a
 * mirror's directory under the name of a journal it writes there: `key:
 * why` for the later of each pair. `check` found these valid before, and
 * `run` failed at start with ERR_LOCKED (two mirrors, two users of one
 * state file, a log on a lock file), refused the mirror's directory
 * (journal files it did not write), or mixed a log into a print output.
 * Two outputs on a device, a FIFO or a socket (`/dev/null`, `/dev/stdout`)
 * are fine: such a file takes many writers.
 */
async function writtenTwice(written: readonly Written[]): Promise<string[]> {
  const problems: string[] = []
  const reported: string[] = []
  const dirs = written.filter((w) => w.kind === 'dir')
  for (const [j, later] of written.entries()) {
    // Two mirrors on one directory share its default state file and lock too: one message says it.
    if (reported.some((key) => later.key.startsWith(`${key} `))) continue
    const shared = later.kind === 'output' && (await isSharedSpecialFile(later.path))
    for (const earlier of written.slice(0, j)) {
      if ((earlier.kind === 'dir') !== (later.kind === 'dir')) continue
      if (shared && earlier.kind === 'output') continue
      if (!(await (later.kind === 'dir' ? sameDir(earlier.path, later.path) : sameFile(earlier.path, later.path)))) continue
      const what = later.kind === 'dir' ? 'directory' : 'file'
      problems.push(`${later.key}: ${later.path} is the ${what} of ${earlier.key} too (expected a ${what} of its own)`)
      reported.push(later.key)
      break
    }
    if (later.kind === 'dir' || reported.includes(later.key) || !MIRROR_JOURNAL.test(basename(later.path))) continue
    for (const d of dirs) {
      if (!(await sameDir(dirname(later.path), d.path))) continue
      problems.push(`${later.key}: ${later.path} is the name of a journal the mirror of ${d.key} writes there (expected a file outside it)`)
      break
    }
  }
  return problems
}

/**
 * The listeners' states (files saved by renaming a new file over the old)
 * that exist and are not regular files: the rename would replace a device
 * (as root, `/dev/null` itself), a FIFO or a directory's name. The daemon's
 * own state is read before it is ever written, and refused then
 * (ERR_STATE_CORRUPT, with the advice on where to start).
 */
async function statesNotRegular(written: readonly Written[]): Promise<string[]> {
  const problems: string[] = []
  for (const { key, path } of written.filter((w) => w.kind === 'state' && w.key !== 'state')) {
    const st = await stat(path).catch(() => null)
    if (st && !st.isFile())
      problems.push(`${key}: ${path} is not a regular file (a state is saved by renaming a new file over it: expected a regular file, or a path not made yet)`)
  }
  return problems
}

/**
 * Loads and validates a configuration file: JSON (`.json`), or a JS module
 * (`.mjs`, `.js`, `.cjs`) whose default export is the configuration object
 * or a function (may be async) returning it. Fails with
 * ERR_CONFIG_NOT_FOUND when the file is missing, is not a regular file (a
 * FIFO, a device, a directory: refused before any read, which could block
 * forever) or cannot be loaded, and ERR_CONFIG_INVALID when it does not
 * validate.
 */
export async function loadConfig(path: string): Promise<DaemonConfig> {
  const file = resolve(path)
  let value: unknown
  if (extname(file) === '.json') {
    const text = await readRegularFile(file)
    try {
      value = JSON.parse(text.replace(/^\uFEFF/, ''))
    } catch {
      // Never V8's message: it quotes the text, secrets included. No cause either, for the same reason.
      const at = jsonSyntaxError(text.replace(/^\uFEFF/, ''))
      const where = at ? ` at line ${at.line}, column ${at.column} (expected ${at.expected})` : ''
      throw new LogdaemonError(ErrorCodes.CONFIG_INVALID, `${file} is not valid JSON${where}`, { file, ...(at ? { line: at.line } : {}) })
    }
    // JSON.parse keeps the last of two equal keys silently: `"from": 1 … "from": "end"` would start from the end unseen.
    const dup = jsonDuplicateKey(text.replace(/^\uFEFF/, ''))
    if (dup) {
      const key = JSON.stringify(dup.key.length > 80 ? `${dup.key.slice(0, 80)}…` : dup.key)
      throw new LogdaemonError(
        ErrorCodes.CONFIG_INVALID,
        `${file}: the key ${key} appears twice in one object, the second time at line ${dup.line}, column ${dup.column}: JSON keeps only the last, so the first would be ignored; remove one`,
        { file, line: dup.line },
      )
    }
  } else {
    let info: Stats
    try {
      info = await stat(file)
    } catch (err) {
      throw notFound(file, err)
    }
    // import() would read a FIFO (or a device) and wait forever: only a regular file is loaded.
    if (!info.isFile()) throw notRegularFile(file, info)
    let mod: { default?: unknown } | typeof STALLED
    try {
      mod = (await unlessStalled(import(pathToFileURL(file).href))) as { default?: unknown } | typeof STALLED
    } catch (err) {
      if (!(err instanceof SyntaxError) && !isNodeError(err)) throw thrownWhileLoading(file, err)
      if (err instanceof SyntaxError) {
        // V8 names the offending token, which may be part of a secret: only the kind of error shows.
        const kind = err.message.replace(/\s*(['"`]).*?\1/g, '').trim()
        throw new LogdaemonError(
          ErrorCodes.CONFIG_NOT_FOUND,
          `configuration ${file} cannot be loaded: it has a JavaScript syntax error (${kind}); run 'node --check ${file}' to see where`,
          { file },
        )
      }
      throw notFound(file, err)
    }
    if (mod === STALLED) throw stalledError(file, 'a top-level await in it')
    try {
      value = typeof mod.default === 'function' ? await unlessStalled(Promise.resolve((mod.default as () => unknown)())) : mod.default
    } catch (err) {
      throw thrownWhileLoading(file, err)
    }
    if (value === STALLED) throw stalledError(file, 'the promise its default export returned')
    if (value === undefined) {
      throw new LogdaemonError(
        ErrorCodes.CONFIG_INVALID,
        `${file} has no default export: write \`export default { server: { root: ... }, listeners: [...] }\``,
        { file },
      )
    }
    try {
      return await parseConfig(value, { file })
    } catch (err) {
      // A getter or a Proxy of the module threw while the configuration was read: its message may quote the file.
      if (err instanceof LogdaemonError) throw err
      throw thrownWhileLoading(file, err)
    }
  }
  return parseConfig(value, { file })
}

/**
 * The text of the JSON configuration `file`, refusing (ERR_CONFIG_NOT_FOUND)
 * anything but a regular file before reading it: opened without blocking
 * (opening a FIFO blocks until a writer comes, and reading it waits for
 * one forever) and checked on the open handle, so a file swapped for a
 * FIFO after a look at its path is refused too.
 */
async function readRegularFile(file: string): Promise<string> {
  let handle: FileHandle
  try {
    handle = await open(file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0))
  } catch (err) {
    throw notFound(file, err)
  }
  try {
    const info = await handle.stat()
    if (!info.isFile()) throw notRegularFile(file, info)
    return await handle.readFile('utf8')
  } catch (err) {
    throw isLogdaemonError(err) ? err : notFound(file, err)
  } finally {
    await handle.close().catch(() => {})
  }
}

function notRegularFile(file: string, info: Stats): LogdaemonError {
  return new LogdaemonError(
    ErrorCodes.CONFIG_NOT_FOUND,
    `configuration ${file} is not a regular file but ${fileKind(info)}: name the configuration file itself with --config FILE`,
    { file },
  )
}

/** Node's own errors (a missing import, an unknown extension) name files and modules, never the file's values. */
function isNodeError(err: unknown): boolean {
  return isErrnoException(err) && typeof err.code === 'string' && err.code.startsWith('ERR_')
}

/**
 * An error thrown while the configuration module ran (a ReferenceError for
 * an unquoted value, a throw in its default-export function, in a getter
 * or a Proxy trap of the object it gave while it is read). Its message
 * may quote a value of the file (`hunter2 is not defined`), so only its
 * kind and the place in the file are shown, and it is not kept as the
 * cause (logs print causes).
 */
function thrownWhileLoading(file: string, err: unknown): LogdaemonError {
  const kind = err instanceof Error && /^[A-Z]\w*$/.test(err.name) ? err.name : 'error'
  const where = placeIn(file, err)
  const article = /^[aeiou]/i.test(kind) ? 'an' : 'a'
  return new LogdaemonError(
    ErrorCodes.CONFIG_NOT_FOUND,
    `configuration ${file} cannot be loaded: ${article} ${kind}${where ? ` at line ${where.line}, column ${where.column}` : ''} ` +
      `(its message is not shown: it may quote the file); run 'node ${file}' to see it`,
    { file, ...(where ? { line: where.line } : {}) },
  )
}

/** Where in `file` an error was thrown, from its stack (the first frame in that file). */
function placeIn(file: string, err: unknown): { line: number; column: number } | null {
  const stack = err instanceof Error && typeof err.stack === 'string' ? err.stack : ''
  const url = pathToFileURL(file).href
  for (const frame of stack.split('\n')) {
    const i = frame.indexOf(url)
    if (i < 0) continue
    const m = /^:(\d+):(\d+)/.exec(frame.slice(i + url.length))
    if (m) return { line: Number(m[1]), column: Number(m[2]) }
  }
  return null
}

function notFound(file: string, err: unknown): LogdaemonError {
  const missing = isErrnoException(err) && err.code === 'ENOENT'
  const why = missing ? 'does not exist' : `cannot be loaded: ${toError(err).message}`
  return new LogdaemonError(
    ErrorCodes.CONFIG_NOT_FOUND,
    `configuration ${file} ${why}${missing ? ": write one with 'logdaemon init', or name it with --config FILE" : ''}`,
    { file, cause: err },
  )
}

function stalledError(file: string, what: string): LogdaemonError {
  return new LogdaemonError(
    ErrorCodes.CONFIG_INVALID,
    `configuration ${file} never finished loading: ${what} never settles (nothing is left that could settle it: no timer, socket or file is pending)`,
    { file },
  )
}
