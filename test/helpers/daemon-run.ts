/**
 * The built `logdaemon` bin as a child process, for the tests that kill it
 * (kill -9 storms) and start it again: one place for how it is started,
 * how its exit is awaited and what it printed.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The compiled bin (tests run it as users do: `npm run build` first). */
export const BIN = fileURLToPath(new URL('../../dist/bin/logdaemon.js', import.meta.url))

/** Skip message for tests that spawn the bin, or false when it is built. */
export const binSkip: string | false = existsSync(BIN) ? false : `built bin missing at ${BIN}: run npm run build`

/** The seed of a randomised run: LOGDAEMON_TEST_SEED repeats one (kill points, journal content). */
export const testSeed = Number(process.env.LOGDAEMON_TEST_SEED ?? Date.now() % 1_000_000)

/** How a daemon run ended. */
export interface DaemonExit {
  readonly code: number | null
  readonly signal: string | null
}

/** One `logdaemon run`: the process, its exit, and what it wrote to stderr so far. */
export interface DaemonRun {
  readonly child: ChildProcess
  readonly exited: Promise<DaemonExit>
  readonly stderr: () => string
}

/** Starts `logdaemon run -c CONFIG` in `dir` (stdout ignored, stderr kept). */
export function startDaemon(config: string, dir: string): DaemonRun {
  const child = spawn(process.execPath, [BIN, 'run', '-c', config], { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
  let err = ''
  child.stderr?.on('data', (c: Buffer) => (err += c.toString()))
  const exited = new Promise<DaemonExit>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return { child, exited, stderr: () => err }
}

/** SIGKILLs a run and waits for its exit. */
export async function killDaemon(run: DaemonRun): Promise<DaemonExit> {
  run.child.kill('SIGKILL')
  return run.exited
}

/**
 * Writes DIR/logdaemon.json for a daemon that reads DIR/root from journal 1,
 * commits often and logs to DIR/daemon.log, with these listeners; returns its path.
 */
export function writeDaemonConfig(dir: string, listeners: readonly unknown[], level = 'warn'): string {
  const config = join(dir, 'logdaemon.json')
  const settings = { server: { root: 'root' }, from: 1, quietMs: 200, commitIntervalMs: 50, status: false, log: { level, file: 'daemon.log' }, listeners }
  writeFileSync(config, JSON.stringify(settings))
  return config
}
