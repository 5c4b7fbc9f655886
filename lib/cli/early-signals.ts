/**
 * Signals that come while `logdaemon` loads its modules (0.2 to 0.4 s here)
 * and, for `run`, its configuration. Node's defaults would end the process
 * (SIGTERM, SIGINT, SIGHUP, SIGUSR2: 143, 130, 129, 140) or open its
 * inspector (SIGUSR1) before `run` could say anything: a supervisor that
 * stops a daemon it has just started (systemd's restart, a deploy), or
 * logrotate's SIGHUP at the wrong moment, saw an unclean exit.
 *
 * The bin holds them from its first line. Every command but `run` gets
 * them back as soon as it is known (`reraise`: they end it as they would
 * have). `run` stops at once on a SIGTERM or SIGINT until its process
 * guard listens (`stopWith`: nothing is started yet, so it exits 0, however
 * long a JS configuration takes to load), and the guard takes the others
 * as if they came then (SIGHUP reopens the log file, SIGUSR1 and SIGUSR2
 * are ignored). Once released, SIGUSR1 stays ignored: removing the last
 * listener leaves its default to the system, which ends the process, and
 * Node's inspector is never wanted here.
 *
 * Uncaught exceptions and unhandled rejections get a report that shows no
 * source line ({@link crashReport}) until `run`'s guard takes them over.
 *
 * `logdaemon-cat` holds them the same way: a plain cat gets them back as
 * soon as its options are read, a follower (`--follow`) stops on a SIGTERM
 * or SIGINT held meanwhile (exit 0, nothing saved yet) and gets the others
 * back.
 *
 * This module imports nothing: the bin loads it before anything else.
 */
const HELD: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']

const isStop = (signal: NodeJS.Signals): boolean => signal === 'SIGTERM' || signal === 'SIGINT'

/** This package's code (its root from dist/lib/cli/ or lib/cli/): errors thrown from there are logdaemon's own. */
const ROOT = `${import.meta.url.slice(0, import.meta.url.lastIndexOf('/lib/cli/')).replace(/\/dist$/, '')}/`
const OURS = ['dist/', 'lib/', 'bin/', 'node_modules/'].map((dir) => ROOT + dir)

/**
 * What an uncaught exception or unhandled rejection says before `run`'s
 * guard takes over (and for good in other commands): Node's own report
 * prints the source line it came from, and in a JS configuration that line
 * may hold a secret (`const password = "..."` next to a stray promise).
 * The kind and the stack's places are shown; the message only when every
 * place is logdaemon's own code (a user module's message may quote it too).
 */
export function crashReport(err: unknown, origin: string): string {
  const what = origin === 'unhandledRejection' ? 'an unhandled rejection' : 'an uncaught exception'
  if (!(err instanceof Error)) return `${what} (a ${typeof err}, not an Error: its value is not shown)`
  const frames = (err.stack ?? '').split('\n').filter((line) => /^\s+at /.test(line))
  const ours = frames.every((frame) => !frame.includes('file://') || OURS.some((dir) => frame.includes(dir)))
  const kind = /^[A-Z]\w*$/.test(err.name) ? err.name : 'Error'
  const head = ours ? `${kind}: ${err.message}` : `${kind} (its message is not shown: it came from a module of yours, and may quote it)`
  return `${what}: ${head}${frames.length ? `\n${frames.join('\n')}` : ''}`
}

export class EarlySignals {
  readonly #proc: NodeJS.Process
  #held: NodeJS.Signals[] = []
  #holding = true
  #stop: ((signal: NodeJS.Signals) => void) | null = null
  readonly #hold = (signal: NodeJS.Signals): void => {
    if (this.#stop && isStop(signal)) this.#stop(signal)
    else this.#held.push(signal)
  }
  readonly #ignore = (): void => {}
  readonly #crash = (err: unknown, origin: string): void => {
    this.#proc.stderr.write(`logdaemon: ${crashReport(err, origin)}\nlogdaemon: exiting with code 1\n`)
    this.#proc.exit(1)
  }

  /** `crashes: false`: no crash report of its own (a program with no configuration of the user's to keep out of it). */
  constructor(proc: NodeJS.Process = process, options: { crashes?: boolean } = {}) {
    this.#proc = proc
    for (const signal of HELD) proc.on(signal, this.#hold)
    if (options.crashes !== false) proc.on('uncaughtException', this.#crash)
  }

  /** `run`'s guard listens for uncaught exceptions now (and logs them): this one's report stops. */
  handOverCrashes(): void {
    this.#proc.off('uncaughtException', this.#crash)
  }

  /** From now on, while holding, a SIGTERM or SIGINT calls `stop` at once (one held already too) instead of being held. */
  stopWith(stop: (signal: NodeJS.Signals) => void): void {
    if (!this.#holding) return
    this.#stop = stop
    const first = this.#held.find(isStop)
    if (first === undefined) return
    this.#held = this.#held.filter((signal) => !isStop(signal))
    stop(first)
  }

  /** Stops holding (idempotent): the signals held so far, in order; later ones take their default course (SIGUSR1: ignored). */
  release(): NodeJS.Signals[] {
    if (this.#holding) {
      this.#holding = false
      this.#proc.on('SIGUSR1', this.#ignore)
      for (const signal of HELD) this.#proc.off(signal, this.#hold)
    }
    return [...this.#held]
  }

  /** Releases, and sends the process the first signal held that ends a process, if any (its default: the process ends by it). Returns it. */
  reraise(): NodeJS.Signals | undefined {
    const first = this.release().find((signal) => signal !== 'SIGUSR1')
    if (first !== undefined) this.#proc.kill(this.#proc.pid, first)
    return first
  }
}
