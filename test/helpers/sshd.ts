/**
 * A real OpenSSH sshd as a test fixture: 127.0.0.1 on a free port, its own
 * host key, a client key in authorized_keys, a known_hosts for the client
 * and a config that lets the current user (root here and in CI) in with
 * that key only. Everything lives in the test's directory; `stop()` ends the
 * daemon and every session it forked.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { userInfo } from 'node:os'
import { join } from 'node:path'

export const SSHD = '/usr/sbin/sshd'
export const SSH_KEYGEN = 'ssh-keygen'

/** The sshd privilege separation directory Debian's sshd insists on (its systemd unit creates it). */
const PRIVSEP_DIR = '/run/sshd'

/** Skip message for tests that need sshd, or false when it is there. */
export const sshdSkip: string | false = existsSync(SSHD)
  ? false
  : `${SSHD} not found: install Debian's openssh-server and openssh-client to run the hot-backup tests`

export interface Sshd {
  readonly host: '127.0.0.1'
  readonly port: number
  readonly user: string
  /** Private key the server accepts. */
  readonly identityFile: string
  /** known_hosts holding the server's real host key. */
  readonly knownHosts: string
  /** known_hosts holding a different key for the same host and port. */
  readonly wrongKnownHosts: string
  /** The server's log (sshd -e) so far. */
  log(): string
  /** SIGKILLs every session process (per-connection sshd and the remote command); returns how many. */
  killSessions(): number
  stop(): Promise<void>
}

function keygen(file: string): string {
  execFileSync(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', '', '-C', 'logdaemon-test', '-f', file])
  return readFileSync(file + '.pub', 'utf8').trim()
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

/** Parent pid of each process, from /proc. */
function parents(): Map<number, number> {
  const out = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'latin1')
      // pid (comm) state ppid …; comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      out.set(Number(name), ppid)
    } catch {
      // The process ended while we looked.
    }
  }
  return out
}

function descendants(root: number): number[] {
  const ppids = parents()
  const found: number[] = []
  const queue = [root]
  while (queue.length > 0) {
    const p = queue.shift() as number
    for (const [pid, ppid] of ppids) {
      if (ppid === p) {
        found.push(pid)
        queue.push(pid)
      }
    }
  }
  return found
}

function waitListening(child: ChildProcess, log: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onData = (): void => {
      if (/Server listening on 127\.0\.0\.1 port/.test(log())) done(null)
    }
    const onExit = (code: number | null): void => done(new Error(`sshd exited with ${code} before listening:\n${log()}`))
    const done = (err: Error | null): void => {
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
      if (err) reject(err)
      else resolve()
    }
    child.stderr?.on('data', onData)
    child.once('exit', onExit)
  })
}

/** Starts sshd in `dir` (a t.testdir()). */
export async function startSshd(dir: string): Promise<Sshd> {
  if (!existsSync(PRIVSEP_DIR)) mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 })
  const hostKey = join(dir, 'ssh_host_ed25519_key')
  const hostPub = keygen(hostKey)
  const otherPub = keygen(join(dir, 'other_host_key'))
  const identityFile = join(dir, 'id_ed25519')
  writeFileSync(join(dir, 'authorized_keys'), keygen(identityFile) + '\n')
  const user = userInfo().username

  // A port picked by the kernel can be taken again before sshd binds it: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const config = join(dir, 'sshd_config')
    writeFileSync(
      config,
      [
        `Port ${port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, 'sshd.pid')}`,
        `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
        `AllowUsers ${user}`,
        'StrictModes no',
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        'PrintMotd no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    )
    let text = ''
    const child = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (s: string) => (text += s))
    const log = (): string => text
    try {
      await waitListening(child, log)
    } catch (err) {
      if (attempt < 5 && /Bind to port|Address already in use/.test(text)) continue
      throw err
    }
    const knownHosts = join(dir, 'known_hosts')
    writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostPub}\n`)
    const wrongKnownHosts = join(dir, 'wrong_known_hosts')
    writeFileSync(wrongKnownHosts, `[127.0.0.1]:${port} ${otherPub}\n`)
    const exited = new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve()
      else child.once('exit', () => resolve())
    })
    const pid = child.pid as number
    const killSessions = (): number => {
      const pids = descendants(pid)
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL')
        } catch {
          // Already gone.
        }
      }
      return pids.length
    }
    return {
      host: '127.0.0.1',
      port,
      user,
      identityFile,
      knownHosts,
      wrongKnownHosts,
      log,
      killSessions,
      async stop() {
        killSessions()
        child.kill('SIGTERM')
        await exited
      },
    }
  }
}
