import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { ErrorCodes, LogdaemonError, toError } from '../../../errors.js'
import { HELLO_NAME, PROTOCOL_VERSION } from './hot-backup-remote.js'
import type { ListenerLogger } from '../../listener.js'

/** Where and how to reach the standby. */
export interface SshTarget {
  /** The ssh client program. */
  readonly ssh: string
  readonly host: string
  readonly user: string | null
  readonly port: number | null
  readonly identityFile: string | null
  /** `UserKnownHostsFile`; null keeps ssh's default (~/.ssh/known_hosts). */
  readonly knownHostsFile: string | null
  /** `ssh -F`; `none` ignores every ssh_config. Null keeps ssh's default. */
  readonly configFile: string | null
  /** Seconds for the TCP connect and, doubled, for the remote's first line. */
  readonly connectTimeout: number
  /** Seconds the remote may take to answer a request before the channel fails (0: no limit). Default: none. */
  readonly answerTimeout?: number
  /** Extra `-o KEY=VALUE`. */
  readonly options: Readonly<Record<string, string>>
}

/** How much of ssh's stderr an error message quotes. */
const STDERR_KEEP = 4096

/** Options hot-backup always sets: non-interactive, strict host key checking. */
export const FIXED_SSH_OPTIONS: Readonly<Record<string, string>> = {
  BatchMode: 'yes',
  StrictHostKeyChecking: 'yes',
}

/** ssh options that hot-backup sets from its own options (lower case), with the option to use instead. */
export const OWN_SSH_OPTIONS: Readonly<Record<string, string>> = {
  userknownhostsfile: 'knownHostsFile',
  identityfile: 'identityFile',
  identitiesonly: 'identityFile',
  connecttimeout: 'connectTimeout',
  port: 'port',
  user: 'user',
}

/** A plain ssh_config keyword: ssh trims blanks and splits at `=`, so anything else could smuggle another option. */
export const SSH_OPTION_NAME = /^[A-Za-z][A-Za-z0-9]*$/

/** A value ssh reads as one option on one line. */
export const SSH_OPTION_VALUE = /^[^\x00-\x1f\x7f]*$/

/**
 * The ssh argument vector: options, `--`, the host, the remote command (never journal bytes).
 *
 * ssh keeps the first value it sees of an option, so the fixed options go
 * first, then those set from hot-backup's own options, then the extra
 * `options`, then defaults the extra options did not set. Names are
 * compared case-insensitively (as ssh does); an extra option that is not a
 * plain name, holds a control character or names an option already set is
 * dropped here too (the schema refuses it first).
 */
export function sshArgs(target: SshTarget, command: string): string[] {
  const args = ['-T', '-x', '-a']
  if (target.configFile !== null) args.push('-F', target.configFile)
  const options = new Map<string, string>()
  const set = (key: string, value: string): void => void options.set(key.toLowerCase(), `${key}=${value}`)
  for (const [k, v] of Object.entries(FIXED_SSH_OPTIONS)) set(k, v)
  if (target.knownHostsFile !== null) set('UserKnownHostsFile', target.knownHostsFile)
  if (target.identityFile !== null) {
    args.push('-i', target.identityFile)
    set('IdentitiesOnly', 'yes')
  }
  set('ConnectTimeout', String(target.connectTimeout))
  for (const [k, v] of Object.entries(target.options)) {
    const key = k.toLowerCase()
    if (!SSH_OPTION_NAME.test(k) || !SSH_OPTION_VALUE.test(v) || options.has(key) || Object.hasOwn(OWN_SSH_OPTIONS, key)) continue
    set(k, v)
  }
  // A dead standby or network shows as a failed connection within ~45 s.
  const defaults: Record<string, string> = { ServerAliveInterval: '15', ServerAliveCountMax: '3' }
  for (const [k, v] of Object.entries(defaults)) if (!options.has(k.toLowerCase())) set(k, v)
  for (const option of options.values()) args.push('-o', option)
  if (target.port !== null) args.push('-p', String(target.port))
  if (target.user !== null) args.push('-l', target.user)
  args.push('--', target.host, command)
  return args
}

/** Turns ssh's exit and stderr into an error with a stable code. */
export function sshError(target: SshTarget, stderr: string, exit: string, remote: string | null): LogdaemonError {
  const where = `${target.user === null ? '' : target.user + '@'}${target.host}${target.port === null ? '' : ':' + target.port}`
  const text = stderr.trim()
  const details = { host: target.host, port: target.port, stderr: text, exit }
  if (/Host key verification failed|HOST IDENTIFICATION HAS CHANGED|host key is known|Host key for .* has changed/i.test(text)) {
    return new LogdaemonError(
      ErrorCodes.SSH_HOST_KEY,
      `ssh to ${where} refused the host key (${exit}): add the standby's key to ` +
        `${target.knownHostsFile ?? '~/.ssh/known_hosts'} (ssh-keyscan, checked by hand), then restart. ssh said: ${text}`,
      { details, retryable: false },
    )
  }
  if (/Permission denied \(|Too many authentication failures|no such identity/i.test(text)) {
    return new LogdaemonError(
      ErrorCodes.SSH_AUTH,
      `ssh to ${where} could not log in without a password (${exit}): check user, identityFile and the ` + `standby's authorized_keys. ssh said: ${text}`,
      { details, retryable: false },
    )
  }
  if (remote?.startsWith('mismatch:')) {
    return new LogdaemonError(
      ErrorCodes.REMOTE_MISMATCH,
      `the standby ${where} holds other bytes than the journal's: ${remote.slice('mismatch:'.length).trim()}. ` +
        "It is not a copy of this server's journal (another server's, or one from before a restore): move it away, or restore the standby from a checkpoint",
      { details: { ...details, remote }, retryable: false },
    )
  }
  // The standby's own error line says what failed, its commands' errors why ("No space left on device",
  // "Read-only file system"): a probe saw only "short write", the reason in info-level log lines.
  const why = text.split('\n').slice(-3).join(' | ')
  const said = remote !== null ? `the standby said: ${remote}${why ? ` (its errors: ${why})` : ''}` : text ? `ssh said: ${text}` : 'no message'
  return new LogdaemonError(ErrorCodes.REMOTE_FAILED, `hot-backup connection to ${where} failed (${exit}); ${said}`, {
    details: { ...details, remote },
  })
}

interface Waiter {
  readonly kind: 'S' | 'A'
  readonly journal: number
  resolve(size: number): void
  reject(err: Error): void
}

/**
 * One ssh process running the remote script: requests go down its stdin,
 * answers come up its stdout in order. Any failure (exit, broken pipe, a
 * line out of protocol, `E …` from the standby) fails every pending request
 * and the channel for good; the owner opens a new one.
 */
export class SshChannel {
  readonly #child: ChildProcessWithoutNullStreams
  readonly #target: SshTarget
  readonly #logger: ListenerLogger
  readonly #waiters: Waiter[] = []
  #stdout = ''
  #stderr = ''
  #remoteError: string | null = null
  #hello = false
  #onHello: ((err: Error | null) => void) | null = null
  #error: Error | null = null
  #failed: Promise<Error>
  #fail!: (err: Error) => void
  #exited: Promise<void>
  /** Armed while requests wait: no answer within `answerTimeout` fails the channel (a hung remote). */
  #answerTimer: NodeJS.Timeout | null = null

  private constructor(target: SshTarget, command: string, logger: ListenerLogger) {
    this.#target = target
    this.#logger = logger
    this.#failed = new Promise((resolve) => (this.#fail = resolve))
    const child = spawn(target.ssh, sshArgs(target, command), { stdio: ['pipe', 'pipe', 'pipe'] })
    this.#child = child
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()))
    child.stdout.setEncoding('latin1')
    child.stderr.setEncoding('utf8')
    child.stdout.on('data', (s: string) => this.#onStdout(s))
    child.stderr.on('data', (s: string) => {
      this.#stderr = (this.#stderr + s).slice(-STDERR_KEEP)
      for (const line of s.split('\n')) if (line.trim()) this.#logger.info({ host: target.host, ssh: line.trim() }, 'ssh stderr')
    })
    // A write after the remote went away: the exit handler reports it with ssh's words.
    child.stdin.on('error', () => {})
    child.once('error', (err) => this.#failWith(new LogdaemonError(ErrorCodes.REMOTE_FAILED, `cannot run ${target.ssh}: ${err.message}`, { cause: err })))
    child.once('close', (code, signal) => {
      const exit = signal !== null ? `killed by ${signal}` : `exit code ${code}`
      this.#failWith(sshError(target, this.#stderr, exit, this.#remoteError))
    })
  }

  /** Starts ssh and resolves once the remote script has said hello. */
  static open(target: SshTarget, command: string, logger: ListenerLogger): Promise<SshChannel> {
    const ch = new SshChannel(target, command, logger)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        ch.#failWith(new LogdaemonError(ErrorCodes.REMOTE_FAILED, `no answer from the standby ${target.host} within ${target.connectTimeout * 2} s`))
      }, target.connectTimeout * 2000)
      ch.#onHello = (err) => {
        clearTimeout(timer)
        ch.#onHello = null
        if (err) reject(err)
        else resolve(ch)
      }
    })
  }

  /** Resolves with the failure that ended this channel. */
  get failed(): Promise<Error> {
    return this.#failed
  }

  get isFailed(): boolean {
    return this.#error !== null
  }

  /** How many bytes of journal `journal` the standby holds (or has replayed). */
  query(journal: number): Promise<number> {
    return this.#request('S', journal, [Buffer.from(`P ${journal}\n`, 'latin1')])
  }

  /**
   * Sends `data`, the bytes of journal `journal` from `offset`; resolves
   * with the standby's new size once it has them durably. The bytes are
   * queued on ssh's stdin at once: the caller bounds what it sends.
   */
  write(journal: number, offset: number, data: Buffer): Promise<number> {
    return this.#request('A', journal, [Buffer.from(`W ${journal} ${offset} ${data.length}\n`, 'latin1'), data])
  }

  /** Ends the request stream (the script exits) and waits for ssh to exit; kills it after `timeoutMs`. */
  async close(timeoutMs = 10_000): Promise<void> {
    if (this.#error === null) this.#child.stdin.end()
    const timer = setTimeout(() => this.destroy(), timeoutMs)
    await this.#exited
    clearTimeout(timer)
  }

  /** Kills ssh; pending requests fail. */
  destroy(err?: Error): void {
    this.#failWith(err ?? new LogdaemonError(ErrorCodes.REMOTE_FAILED, 'hot-backup connection closed'))
  }

  #request(kind: 'S' | 'A', journal: number, parts: Buffer[]): Promise<number> {
    if (this.#error !== null) return Promise.reject(this.#error)
    return new Promise((resolve, reject) => {
      this.#waiters.push({ kind, journal, resolve, reject })
      if (this.#waiters.length === 1) this.#armAnswerTimer()
      for (const p of parts) this.#child.stdin.write(p)
    })
  }

  /** (Re)starts the wait for the oldest request's answer. */
  #armAnswerTimer(): void {
    const s = this.#target.answerTimeout ?? 0
    if (s <= 0) return
    if (this.#answerTimer !== null) {
      this.#answerTimer.refresh()
      return
    }
    this.#answerTimer = setTimeout(() => {
      this.#failWith(
        new LogdaemonError(
          ErrorCodes.REMOTE_FAILED,
          `no answer from the standby ${this.#target.host} within ${s} s (answerTimeout): its disk, its replay or its shell hangs; the connection is dropped`,
          { details: { host: this.#target.host, answerTimeout: s } },
        ),
      )
    }, s * 1000)
    this.#answerTimer.unref()
  }

  #clearAnswerTimer(): void {
    if (this.#answerTimer === null) return
    clearTimeout(this.#answerTimer)
    this.#answerTimer = null
  }

  #onStdout(s: string): void {
    this.#stdout += s
    let nl: number
    while ((nl = this.#stdout.indexOf('\n')) >= 0) {
      const line = this.#stdout.slice(0, nl)
      this.#stdout = this.#stdout.slice(nl + 1)
      this.#onLine(line)
    }
    if (this.#stdout.length > STDERR_KEEP) this.#protocolError(`an overlong line: ${this.#stdout.slice(0, 80)}…`)
  }

  #onLine(line: string): void {
    if (!this.#hello) {
      const m = /^H (\S+) (\d+)$/.exec(line)
      if (m === null || m[1] !== HELLO_NAME) {
        // Login scripts on the standby sometimes print; the protocol starts at the hello.
        this.#logger.warn({ host: this.#target.host, line }, 'hot-backup: ignoring remote output before the hello')
        return
      }
      if (Number(m[2]) !== PROTOCOL_VERSION) {
        this.#protocolError(`protocol version ${m[2]}, this side speaks ${PROTOCOL_VERSION}`)
        return
      }
      this.#hello = true
      this.#onHello?.(null)
      return
    }
    if (line.startsWith('E ')) {
      this.#remoteError = line.slice(2)
      return // ssh exits next; the close handler reports it.
    }
    const m = /^([SA]) (\d+) (\d+)$/.exec(line)
    const w = this.#waiters[0]
    if (m === null || w === undefined || m[1] !== w.kind || Number(m[2]) !== w.journal) {
      this.#protocolError(`an unexpected answer ${JSON.stringify(line)}`)
      return
    }
    this.#waiters.shift()
    if (this.#waiters.length > 0) this.#armAnswerTimer()
    else this.#clearAnswerTimer()
    w.resolve(Number(m[3]))
  }

  #protocolError(what: string): void {
    this.#failWith(
      new LogdaemonError(
        ErrorCodes.REMOTE_FAILED,
        `the remote command on ${this.#target.host} sent ${what}: it must be hot-backup's remote script (protocol ${PROTOCOL_VERSION})`,
      ),
    )
  }

  #failWith(err: Error): void {
    if (this.#error !== null) return
    this.#error = err
    this.#clearAnswerTimer()
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL')
    for (const w of this.#waiters.splice(0)) w.reject(err)
    this.#onHello?.(toError(err))
    this.#fail(err)
  }
}
