/**
 * SIGTERM and SIGINT that come while `logdaemon` loads its modules (0.2 to
 * 0.4 s here) and its configuration. Node's default would end the process
 * with 143 or 130 before `run` could say anything; a supervisor that stops
 * a daemon it has just started (systemd's restart, a deploy) then sees an
 * unclean exit. The bin holds them from its first line; `run` hands them to
 * its process guard once that listens (so a stop that came early stops the
 * daemon gracefully, before it reads anything: exit 0), and every other
 * command gets them back at once (`release`, then `reraise`: they end as
 * they would have).
 *
 * This module imports nothing: the bin loads it before anything else.
 */
export class EarlySignals {
  readonly #proc: NodeJS.Process
  readonly #held: NodeJS.Signals[] = []
  #holding = true
  readonly #hold = (signal: NodeJS.Signals): void => {
    this.#held.push(signal)
  }

  constructor(proc: NodeJS.Process = process) {
    this.#proc = proc
    proc.on('SIGTERM', this.#hold)
    proc.on('SIGINT', this.#hold)
  }

  /** Stops holding (idempotent): the signals held so far, in order; later ones take their default course. */
  release(): NodeJS.Signals[] {
    if (this.#holding) {
      this.#holding = false
      this.#proc.off('SIGTERM', this.#hold)
      this.#proc.off('SIGINT', this.#hold)
    }
    return [...this.#held]
  }

  /** Releases, and sends the process the first signal held, if any (its default: the process ends by it). Returns it. */
  reraise(): NodeJS.Signals | undefined {
    const first = this.release()[0]
    if (first !== undefined) this.#proc.kill(this.#proc.pid, first)
    return first
  }
}
