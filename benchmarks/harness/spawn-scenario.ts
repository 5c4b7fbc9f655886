/**
 * Runs one scenario script once, in a fresh `node` process, and reads the
 * {@link ScenarioResult} it prints as its last stdout line.
 */
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import type { ScenarioSpec } from './catalog.js'
import type { ScenarioResult } from './scenario.js'

/** dist/benchmarks/, where the scenario scripts are. */
const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url))

/** A run that takes longer than this is stuck: 1 GiB at a few MB/s still fits. */
const RUN_TIMEOUT_MS = 30 * 60 * 1000

export interface SpawnOptions {
  /** Extra node flags (--cpu-prof …), passed on to what the scenario spawns too. */
  nodeArgs?: readonly string[]
  /** `--name value` options for the scenario. */
  options?: Readonly<Record<string, string | number | boolean>>
  timeoutMs?: number
}

export function scenarioPath(spec: ScenarioSpec): string {
  return BENCH_DIR + spec.script
}

export async function spawnScenario(spec: ScenarioSpec, input: string, opts: SpawnOptions = {}): Promise<ScenarioResult> {
  const args = [...(opts.nodeArgs ?? []), scenarioPath(spec), input]
  for (const [k, v] of Object.entries(opts.options ?? {})) {
    if (v === false) continue
    args.push(`--${k}`)
    if (v !== true) args.push(String(v))
  }
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s))
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s))
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? RUN_TIMEOUT_MS)
  try {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null]
    if (code !== 0) throw new Error(`${spec.name} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || stdout.trim()}`)
  } finally {
    clearTimeout(timer)
  }
  const last = stdout.trim().split('\n').at(-1) ?? ''
  let result: ScenarioResult
  try {
    result = JSON.parse(last) as ScenarioResult
  } catch {
    throw new Error(`${spec.name} printed no result line: ${JSON.stringify(stdout.slice(-500))} ${stderr.trim()}`)
  }
  if (typeof result.ms !== 'number' || typeof result.bytes !== 'number') throw new Error(`${spec.name}: malformed result ${last}`)
  return result
}
