/**
 * A real PostgreSQL server for tests and benchmarks (test/helpers/postgres.ts
 * re-exports it; it lives here because benchmarks are built to dist/ and
 * tests are not): a private cluster made with
 * initdb in a temporary directory, listening on 127.0.0.1 on a free port,
 * stopped (and its directory removed) by `stop()`.
 *
 * The cluster lives under the system's temporary directory, not the test's
 * directory: initdb refuses to run as root, so as root (here and in CI) the
 * server runs as the `postgres` user, which must own its data directory and
 * reach it (a tap test directory under a root-owned checkout may not be
 * reachable). As another user it runs as that user.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'

/** Debian's PostgreSQL binaries: the newest /usr/lib/postgresql/N/bin, or LOGDAEMON_PG_BIN. */
function findBin(): string | null {
  if (process.env.LOGDAEMON_PG_BIN) return process.env.LOGDAEMON_PG_BIN
  const base = '/usr/lib/postgresql'
  if (!existsSync(base)) return null
  const versions = readdirSync(base)
    .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] ? join(base, versions[0], 'bin') : null
}

export const PG_BIN = findBin()

/** Skip message for tests that need PostgreSQL, or false when it is there. */
export const postgresSkip: string | false = PG_BIN
  ? false
  : "PostgreSQL's initdb not found under /usr/lib/postgresql/*/bin: install Debian's postgresql package to run the PostgreSQL tests"

export interface Postgres {
  readonly host: '127.0.0.1'
  readonly port: number
  readonly user: string
  /** `postgres://USER[:PASSWORD]@127.0.0.1:PORT/DATABASE` for a database of this server (default `postgres`). */
  url(database?: string, withPassword?: boolean): string
  /** Creates a database; resolves to its URL. */
  createDatabase(name: string): Promise<string>
  /** The server's log so far. */
  log(): string
  stop(): Promise<void>
}

export interface StartPostgresOptions {
  /** Require this password (scram-sha-256) on TCP connections instead of trusting them. */
  password?: string
}

function freePort(): Promise<number> {
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

export async function startPostgres(options: StartPostgresOptions = {}): Promise<Postgres> {
  if (!PG_BIN) throw new Error(postgresSkip || 'no PostgreSQL')
  const bin = PG_BIN
  const asRoot = process.getuid?.() === 0
  const dir = mkdtempSync(join(tmpdir(), 'logdaemon-pg-'))
  chmodSync(dir, 0o700)
  let owner = { uid: userInfo().uid, gid: userInfo().gid }
  if (asRoot) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim())
    owner = { uid: id('-u'), gid: id('-g') }
    chownSync(dir, owner.uid, owner.gid)
  }
  const run = (cmd: string, args: string[]) => {
    const [file, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, cmd), ...args]] : [join(bin, cmd), args]
    const r = spawnSync(file as string, argv as string[], { encoding: 'utf8', cwd: dir })
    if (r.status !== 0) throw new Error(`${cmd} failed (${r.status}): ${r.stderr || r.stdout}`)
  }
  const user = 'logdaemon'
  const data = join(dir, 'data')
  const logFile = join(dir, 'server.log')
  const initArgs = ['-D', data, '-U', user, '-E', 'UTF8', '--locale=C', '--auth-local=trust']
  if (options.password !== undefined) {
    const pwfile = join(dir, 'pw')
    writeFileSync(pwfile, options.password + '\n', { mode: 0o600 })
    if (asRoot) chownSync(pwfile, owner.uid, owner.gid)
    initArgs.push('--auth-host=scram-sha-256', `--pwfile=${pwfile}`)
  } else {
    initArgs.push('--auth-host=trust')
  }
  try {
    run('initdb', initArgs)
    const port = await freePort()
    // fsync off: the tests kill logdaemon, never this server; durability of the server itself is not under test.
    const serverOpts = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${dir} -c fsync=off -c full_page_writes=off`
    run('pg_ctl', ['-D', data, '-l', logFile, '-o', serverOpts, '-w', '-t', '60', 'start'])
    const pass = options.password
    const url = (database = 'postgres', withPassword = true) =>
      `postgres://${user}${pass !== undefined && withPassword ? `:${encodeURIComponent(pass)}` : ''}@127.0.0.1:${port}/${database}`
    let stopped = false
    return {
      host: '127.0.0.1',
      port,
      user,
      url,
      async createDatabase(name) {
        const { default: pg } = await import('pg')
        const client = new pg.Client({ connectionString: url('postgres') })
        await client.connect()
        try {
          await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`)
        } finally {
          await client.end()
        }
        return url(name)
      },
      log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
      async stop() {
        if (stopped) return
        stopped = true
        try {
          run('pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop'])
        } finally {
          rmSync(dir, { recursive: true, force: true })
        }
      },
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
}
