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
 * This module imports nothing: the bin loads it before anything else.
 */
const HELD: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']

const isStop = (signal: NodeJS.Signals): boolean => signal === 'SIGTERM' || signal === 'SIGINT'

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

  constructor(proc: NodeJS.Process = process) {
    this.#proc = proc
    for (const signal of HELD) proc.on(signal, this.#hold)
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
