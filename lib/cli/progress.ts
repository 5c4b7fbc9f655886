import cliProgress from 'cli-progress'
import type { Writable } from 'node:stream'

/** A progress bar on stderr for inputs of known total size. */
export interface ProgressReporter {
  advance(bytes: number): void
  stop(): void
}

/** Redraws at most this often; a bar that redraws per chunk would cost more than the work. */
const REDRAW_MS = 200

export function createProgress(total: number, stream: Writable, label = 'logdaemon-cat'): ProgressReporter {
  const bar = new cliProgress.SingleBar(
    {
      stream: stream as unknown as NodeJS.WritableStream,
      format: `${label} [{bar}] {percentage}% | {value_mb}/{total_mb} MB | {speed} MB/s | ETA {eta_formatted}`,
      fps: 1000 / REDRAW_MS,
      hideCursor: false,
      clearOnComplete: true,
      noTTYOutput: true,
      notTTYSchedule: 2000,
    },
    cliProgress.Presets.shades_classic,
  )
  const started = Date.now()
  const mb = (n: number) => (n / 1e6).toFixed(1)
  let done = 0
  bar.start(total, 0, { value_mb: mb(0), total_mb: mb(total), speed: '0' })
  return {
    advance(bytes) {
      done += bytes
      const secs = (Date.now() - started) / 1000
      bar.update(done, { value_mb: mb(done), speed: secs > 0 ? (done / 1e6 / secs).toFixed(1) : '0' })
    },
    stop() {
      bar.stop()
    },
  }
}
