/**
 * Signals that come while `logdaemon` loads its modules (0.2 to 0.4 s here)
 * and its configuration. Node's defaults would end the process (SIGTERM,
 * SIGINT, SIGHUP, SIGUSR2: 143, 130, 129, 140) or open its inspector
 * (SIGUSR1) before `run` could say anything: a supervisor that stops a
 * daemon it has just started (systemd's restart, a deploy), or logrotate's
 * SIGHUP at the wrong moment, then saw an unclean exit. The bin holds them
 * from its first line; `run` hands them to its process guard once that
 * listens, which takes each as if it came then (a stop that came early
 * stops the daemon gracefully before it reads anything: exit 0), and
 * every other command gets them back at once (`reraise`: they end it as
 * they would have; SIGUSR1 is dropped, no command wants a debugger).
 *
 * This module imports nothing: the bin loads it before anything else.
 */
const HELD: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2']

export class EarlySignals {
  readonly #proc: NodeJS.Process
  readonly #held: NodeJS.Signals[] = []
  #holding = true
  readonly #hold = (signal: NodeJS.Signals): void => {
    this.#held.push(signal)
  }

  constructor(proc: NodeJS.Process = process) {
    this.#proc = proc
    for (const signal of HELD) proc.on(signal, this.#hold)
  }

  /** Stops holding (idempotent): the signals held so far, in order; later ones take their default course. */
  release(): NodeJS.Signals[] {
    if (this.#holding) {
      this.#holding = false
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
