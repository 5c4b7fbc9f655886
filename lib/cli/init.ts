import type { Stats } from 'node:fs'
import { lstat, readdir, writeFile } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'
import { ErrorCodes, LogdaemonError, isErrnoException, toError } from '../errors.js'
import { writeFileAtomic } from '../files/atomic-write.js'
import { describeJournalChain } from '../files/journal-set.js'
import { liveJournalNumber } from '../source/start-point.js'
import { DEFAULT_STATUS_PORT } from '../daemon/config.js'
import type { Command } from './command.js'

/** The file `logdaemon init` writes and `check`/`run` read by default. */
export const DEFAULT_CONFIG_FILE = 'logdaemon.config.mjs'

/** What the starting configuration is made from: the environment a Perforce admin has. */
export interface InitInfo {
  /** P4ROOT. */
  root: string
  /** P4JOURNAL, when set. */
  journal?: string
  /** The journal prefix (journalPrefix), when the server has one. */
  prefix?: string
  /** P4PORT and P4USER, for the commented notify example. */
  port?: string
  user?: string
  /** Where to start: the newest checkpoint's number, when found. */
  from: number | 'end'
  /** Why `from` is what it is, for the comment above it. */
  fromReason: string
  /** Said to the operator when the obvious start (the newest checkpoint's journal) is not one `run` can use. */
  warning?: string
}

export interface InitOptions {
  /** The file to write. Default `logdaemon.config.mjs` in the working directory. */
  file?: string
  /** Environment to read P4ROOT, P4JOURNAL, P4PORT, P4USER from. Default `process.env`. */
  env?: NodeJS.ProcessEnv
  /** Overrides P4ROOT. */
  root?: string
  prefix?: string
  /** Replace an existing file. */
  force?: boolean
}

/**
 * Characters a JSON string may hold raw that must not reach the generated
 * module raw: U+2028 and U+2029 end a `//` comment (they are JavaScript
 * line terminators), and controls, bidi and other invisible format
 * characters hide what the file says from the admin who reads it.
 */
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu

/**
 * A value as a JavaScript (and JSON) string literal with every unsafe
 * character escaped as `\uXXXX`: safe as code and inside a `//` comment.
 * Every value `init` writes goes through here.
 */
export function literal(s: string): string {
  return JSON.stringify(s).replace(UNSAFE, (c) => [...Array(c.length).keys()].map((i) => `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''))
}

const js = literal

/** Text of our own for a `//` comment: anything that could end the line becomes a space. */
function commentText(s: string): string {
  return s.replace(UNSAFE, ' ')
}

/**
 * Where to start without a state file: journal N after the newest
 * checkpoint N found (`checkpoint.N`, `PREFIX.ckp.N`, with or without
 * `.gz`), else the oldest journal on disk, else the live journal.
 */
export async function guessStart(layout: {
  root: string
  journal?: string
  prefix?: string
}): Promise<{ from: number | 'end'; reason: string; warning?: string }> {
  const dirs = new Map<string, RegExp>([[layout.root, /^checkpoint\.(\d+)(?:\.gz)?$/]])
  if (layout.prefix) {
    const p = resolve(layout.root, layout.prefix)
    const base = basename(p).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    dirs.set(dirname(p), new RegExp(`^${base}\\.ckp\\.(\\d+)(?:\\.gz)?$|^checkpoint\\.(\\d+)(?:\\.gz)?$`))
  }
  let newest = -1
  for (const [dir, re] of dirs) {
    let names: string[] = []
    try {
      names = await readdir(dir)
    } catch (err) {
      if (!isErrnoException(err) || err.code !== 'ENOENT') throw err
    }
    for (const name of names) {
      const m = re.exec(name)
      const n = Number(m?.[1] ?? m?.[2])
      if (m && Number.isSafeInteger(n)) newest = Math.max(newest, n)
    }
  }
  if (newest >= 0) return startable(layout, newest, `the newest checkpoint found is ${newest}: its journal ${newest} is the first one after it`)
  const chain = await describeJournalChain(layout)
  if (chain.oldest !== null) return startable(layout, chain.oldest, `no checkpoint found; the oldest journal on disk is ${chain.oldest}`)
  // The live journal's own counter record (p4d writes it as a journal starts) says its number; a fresh server's says nothing.
  const live = await liveJournalNumber(layout)
  if (live !== null) return { from: live.journal, reason: `no checkpoint or archived journal found; the live journal is number ${live.journal}: ${live.why}` }
  return { from: chain.live.journal, reason: `no checkpoint or archived journal found; the live journal is number ${chain.live.journal}` }
}

/**
 * `from` if `run` can start there (every journal from it to the live one is
 * on disk); otherwise the first journal after the last gap, with a warning
 * that says what is skipped: `init` never writes a start that `run` refuses.
 */
async function startable(
  layout: { root: string; journal?: string; prefix?: string },
  from: number,
  reason: string,
): Promise<{ from: number; reason: string; warning?: string }> {
  const chain = await describeJournalChain(layout, { from })
  if (chain.gaps.length === 0) return { from, reason }
  const missing = chain.gaps
  const next = missing[missing.length - 1]! + 1
  const list = missing.length > 5 ? `${missing.slice(0, 5).join(', ')}, …` : missing.join(', ')
  const warning =
    `${reason}, but journal${missing.length > 1 ? 's' : ''} ${list} ${missing.length > 1 ? 'are' : 'is'} missing, so run could not start from ${from}. ` +
    `Wrote from: ${next} instead: the records before journal ${next} will not be read. ` +
    `If the replica was restored from checkpoint ${from}, restore the missing journal${missing.length > 1 ? 's' : ''} or restore the replica from checkpoint ${next} or later`
  return { from: next, reason: `${reason}, but journal ${list} is missing: starting at ${next}, the first journal run can start from`, warning }
}

/** The commented starting configuration, a JS module (JSON has no comments). */
export function renderInitConfig(info: InitInfo): string {
  const server = [`    root: ${js(info.root)},`]
  server.push(
    info.journal
      ? `    journal: ${js(info.journal)},`
      : `    // journal: ${js(join(info.root, 'journal'))}, // P4JOURNAL, the live journal (this is the default)`,
  )
  server.push(info.prefix ? `    prefix: ${js(info.prefix)},` : `    // prefix: 'jnl/main', // journalPrefix: archives named PREFIX.jnl.N (relative to root)`)
  const p4 = [info.port ? `P4PORT ${js(info.port)}` : '', info.user ? `P4USER ${js(info.user)}` : ''].filter(Boolean).join(', ')
  return `// logdaemon configuration, written by 'logdaemon init'${p4 ? ` for ${p4}` : ''}.
// Check it with 'logdaemon check', run it with 'logdaemon run'.
// Relative paths are taken from this file's directory. Unknown keys are errors.
// The full reference is in docs/daemon.md ("Configuration reference").

/** @type {import('logdaemon/daemon').ConfigInput} */
export default {
  // Where the server keeps its journals.
  server: {
${server.join('\n')}
  },

  // Where to start when there is no state file yet: journal N from its start, or 'end' for
  // only what is written from now on (the mirror listener needs whole journals: use a number).
  // ${commentText(info.fromReason)}.
  from: ${typeof info.from === 'number' ? info.from : js(info.from)},

  // The committed position: written atomically, read at every start. Keep it with the mirror.
  state: 'logdaemon.state.json',

  // After this many ms without new records listeners get noData() and pending work is committed.
  quietMs: 5000,

  // How a failing listener is retried before the daemon stops (p-retry backoff).
  retry: { retries: 8, minTimeout: 1000, maxTimeout: 60000 },

  listeners: [
    // The exact bytes of every journal, to mirror/journal.N, exactly once across crashes.
    { type: 'mirror', options: { dir: 'mirror' } },

    // Every record as NDJSON (or raw) to stdout or a file, with logdaemon-cat's filters.
    // { type: 'print', options: { format: 'json', output: 'records.ndjson', table: ['db.change*'] } },

    // Complete transactions to a standby over SSH (BatchMode, strict host keys).
    // { type: 'hot-backup', options: { host: 'standby.example.com', user: 'perforce', remoteDir: '/p4/standby/journals' } },

    // Change review mail and/or a signed webhook for each submitted change.
    // { type: 'notify', options: {
    //   smtp: { host: 'localhost', from: ${js(`Perforce <${info.user ?? 'p4admin'}@example.com>`)}, to: ['reviews@example.com'] },
    //   webhook: { url: 'https://ci.example.com/p4-change', secret: 'at least 16 characters' },
    // } },

    // Your own listener: a module whose default export is (options, { name }) => listener.
    // { type: 'module', module: './my-listener.mjs', name: 'mine', options: {} },
  ],

  // The status page, /status.json and /metrics. Any address but 127.0.0.1 needs a token.
  status: { host: '127.0.0.1', port: ${DEFAULT_STATUS_PORT} },
  // status: false, // no status server

  // pino logs, to stderr unless a file is given.
  log: { level: 'info' },
}
`
}

/**
 * `logdaemon init`: writes the starting configuration. Never replaces an
 * existing file unless `force` (ERR_FILE_EXISTS), and then atomically,
 * replacing a symlink rather than writing through it (never a directory:
 * ERR_FILE_EXISTS); a write that fails is ERR_CONFIG_WRITE. Needs P4ROOT
 * or `root` (ERR_USAGE).
 */
export async function initConfig(options: InitOptions = {}): Promise<{ file: string; info: InitInfo; text: string }> {
  const opts = { ...options }
  const env = opts.env ?? process.env
  const file = resolve(opts.file ?? DEFAULT_CONFIG_FILE)
  const rootText = opts.root ?? env.P4ROOT
  if (!rootText) {
    throw new LogdaemonError(ErrorCodes.USAGE, 'P4ROOT is not set: set it to the server root, or pass --root DIR')
  }
  const root = resolve(rootText)
  // p4d takes a relative P4JOURNAL from P4ROOT.
  const journal = env.P4JOURNAL ? resolve(root, env.P4JOURNAL) : undefined
  const prefix = opts.prefix ?? undefined
  const start = await guessStart({ root, ...(journal ? { journal } : {}), ...(prefix ? { prefix } : {}) })
  const info: InitInfo = {
    root,
    ...(journal ? { journal } : {}),
    ...(prefix ? { prefix } : {}),
    ...(env.P4PORT ? { port: env.P4PORT } : {}),
    ...(env.P4USER ? { user: env.P4USER } : {}),
    from: start.from,
    fromReason: start.reason,
    ...(start.warning ? { warning: start.warning } : {}),
  }
  const text = renderInitConfig(info)
  await writeConfigFile(file, text, opts.force ?? false)
  return { file, info, text }
}

function fileExists(file: string): LogdaemonError {
  return new LogdaemonError(ErrorCodes.FILE_EXISTS, `${file} exists: it was left as it is. Pass --force to replace it`, { file })
}

/**
 * Writes the configuration at `file`. Without `force` it is created
 * exclusively (O_EXCL: a file, directory or symlink there, dangling or
 * not, is ERR_FILE_EXISTS, and a symlink is never followed). With `force`
 * it replaces the path atomically (writeFileAtomic: temporary file, rename):
 * a symlink there is replaced by the file, never written through, and a
 * file replaced keeps its permission bits; a directory there is refused
 * (ERR_FILE_EXISTS). Any other failure is ERR_CONFIG_WRITE.
 */
async function writeConfigFile(file: string, text: string, force: boolean): Promise<void> {
  let existing: Stats | null = null
  try {
    existing = await lstat(file)
  } catch (err) {
    if (!isErrnoException(err) || err.code !== 'ENOENT') throw cannotWrite(file, err)
  }
  if (existing && !force) throw fileExists(file)
  if (existing?.isDirectory()) {
    throw new LogdaemonError(
      ErrorCodes.FILE_EXISTS,
      `${file} is a directory: it was left as it is (--force replaces a file, never a directory). Name the file to write with -c FILE`,
      { file },
    )
  }
  // Read by the daemon's user, edited by the admin: as writeFile would create it, or as the file it replaces was.
  const mode = existing?.isFile() ? existing.mode & 0o777 : 0o666
  try {
    if (force) await writeFileAtomic(file, text, { mode })
    else await writeFile(file, text, { flag: 'wx', mode })
  } catch (err) {
    if (isErrnoException(err) && err.code === 'EEXIST' && !force) throw fileExists(file)
    throw cannotWrite(file, err)
  }
}

function cannotWrite(file: string, err: unknown): LogdaemonError {
  const code = isErrnoException(err) ? err.code : undefined
  const why =
    code === 'ENOENT'
      ? `its directory ${dirname(file)} does not exist`
      : code === 'ENOTDIR'
        ? `a part of ${dirname(file)} is not a directory`
        : code === 'EACCES' || code === 'EPERM'
          ? `permission denied (${code})`
          : code === 'EISDIR'
            ? 'it is a directory'
            : toError(err).message
  return new LogdaemonError(ErrorCodes.CONFIG_WRITE, `cannot write the configuration ${file}: ${why}`, { file, cause: err })
}

/** The `--config` option of init, check and run. */
export const CONFIG_OPTION = {
  type: 'string',
  short: 'c',
  arg: 'FILE',
  help: 'the configuration (.mjs, .js or .json)',
  default: DEFAULT_CONFIG_FILE,
} as const

/** `logdaemon init`. */
export const initCommand: Command = {
  brief: 'write a commented starting configuration from P4ROOT, P4JOURNAL, P4PORT, P4USER',
  usage: 'logdaemon init [-c FILE] [--root DIR] [--prefix PREFIX] [--force]',
  summary:
    'Writes a commented starting configuration for the server whose root is $P4ROOT (or --root):\n' +
    'where its journals are, where to start (the last checkpoint), and a mirror listener.',
  options: {
    config: { ...CONFIG_OPTION, help: 'the configuration to write' },
    root: { type: 'string', arg: 'DIR', help: 'the server root, instead of $P4ROOT' },
    prefix: { type: 'string', arg: 'PREFIX', help: "the server's journal prefix (journalPrefix), if it has one" },
    force: { type: 'boolean', help: 'replace an existing configuration (a symlink is replaced, not followed)' },
  },
  examples: [
    ['P4ROOT=/p4/root logdaemon init', `write ./${DEFAULT_CONFIG_FILE} for the server in /p4/root`],
    ['logdaemon init --root /p4/root -c /etc/logdaemon.mjs --force', 'write (or replace) another file'],
  ],
  async run(values, io, say) {
    const configFile = String(values.config)
    const { file, info } = await initConfig({
      file: configFile,
      env: io.env ?? process.env,
      force: values.force === true,
      ...(typeof values.root === 'string' ? { root: values.root } : {}),
      ...(typeof values.prefix === 'string' ? { prefix: values.prefix } : {}),
    })
    if (info.warning) say(`warning: ${info.warning}`)
    io.stdout.write(`wrote ${file} for the server root ${info.root} (from: ${info.from}).\nEdit it, then: logdaemon check -c ${configFile}\n`)
    return 0
  },
}
