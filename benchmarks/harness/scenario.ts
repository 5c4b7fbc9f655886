/**
 * The child side of a benchmark: every file in benchmarks/scenarios/ is a
 * script that calls {@link runScenario} once. The runner starts it in a
 * fresh `node` process; it times the body (not Node's startup or module
 * loading, except where the scenario spawns a program and so measures it
 * end to end), then prints one JSON line, a {@link ScenarioResult}, as the
 * last line of stdout.
 *
 *   node dist/benchmarks/scenarios/framing.js FILE [--option value ...]
 */
import { Writable } from 'node:stream'

/** What is counted: journal records, physical lines (the baselines), or only bytes (inflate alone). */
export type CountUnit = 'records' | 'lines' | 'bytes'

/** What a scenario's body reports. */
export interface ScenarioOutput {
  /** Uncompressed bytes processed. */
  bytes: number
  /** Records or lines seen; null when the scenario cannot count them (the runner fills in the input's count). */
  records: number | null
  unit: CountUnit
  /** Wall time in ms, when the body measured it itself (spawned programs); else the harness times the body. */
  ms?: number
  /** CPU time (user + system) in ms, when measured by the body (spawned programs). */
  cpuMs?: number
  /** Peak RSS in KiB, when measured by the body (spawned programs). */
  maxRssKiB?: number
  /** Scenario-specific numbers (latencies, idle CPU). */
  extra?: Record<string, number>
  /** Why the scenario could not run here (an optional dependency missing); the other numbers are then 0. */
  skipped?: string
}

/** The JSON line a scenario prints. */
export interface ScenarioResult extends Required<Omit<ScenarioOutput, 'extra' | 'skipped'>> {
  scenario: string
  extra: Record<string, number>
  skipped: string | null
  /** Node version of the child, to catch a runner that spawns another node. */
  node: string
}

/** The positional input file and the `--name value` options the runner passed. */
export interface ScenarioArgs {
  input: string
  options: Readonly<Record<string, string>>
}

/** The output of a scenario that cannot run on this machine. */
export function skipped(unit: CountUnit, why: string): ScenarioOutput {
  return { bytes: 0, records: 0, unit, skipped: why }
}

/** A numeric option, or `fallback`. */
export function numberOption(args: ScenarioArgs, name: string, fallback: number): number {
  const text = args.options[name]
  if (text === undefined) return fallback
  const n = Number(text)
  if (!Number.isFinite(n)) throw new RangeError(`--${name} must be a number, got ${JSON.stringify(text)}`)
  return n
}

/** `INPUT --name value --flag --name=value`: a flag without a value is `'true'`. */
function parse(argv: readonly string[]): ScenarioArgs {
  const options: Record<string, string> = {}
  const positionals: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string
    if (!arg.startsWith('--')) {
      positionals.push(arg)
      continue
    }
    const eq = arg.indexOf('=')
    if (eq > 0) {
      options[arg.slice(2, eq)] = arg.slice(eq + 1)
      continue
    }
    const next = argv[i + 1]
    if (next !== undefined && !next.startsWith('--')) {
      options[arg.slice(2)] = next
      i++
    } else {
      options[arg.slice(2)] = 'true'
    }
  }
  const input = positionals[0]
  if (input === undefined || positionals.length > 1) throw new RangeError('usage: node SCENARIO.js INPUT [--option value ...]')
  return { input, options }
}

/**
 * Runs `body` once and prints its result. Peak RSS is the process's
 * `resourceUsage().maxRSS` (the kernel's high-water mark, VmHWM), so it
 * includes Node itself, as a user would see it.
 */
export function runScenario(scenario: string, body: (args: ScenarioArgs) => Promise<ScenarioOutput>): void {
  const run = async (): Promise<void> => {
    const args = parse(process.argv.slice(2))
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    const out = await body(args)
    const ms = performance.now() - t0
    const cpu = process.cpuUsage(cpu0)
    const result: ScenarioResult = {
      scenario,
      bytes: out.bytes,
      records: out.records,
      unit: out.unit,
      ms: out.ms ?? ms,
      cpuMs: out.cpuMs ?? (cpu.user + cpu.system) / 1000,
      maxRssKiB: out.maxRssKiB ?? process.resourceUsage().maxRSS,
      extra: out.extra ?? {},
      skipped: out.skipped ?? null,
      node: process.version,
    }
    process.stdout.write(JSON.stringify(result) + '\n')
  }
  run().catch((err: unknown) => {
    process.stderr.write(`${scenario}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exitCode = 1
  })
}

/**
 * An object-mode Writable that calls `see` for each item and asks for the
 * next at once: the cheapest consumer a user would write, the same one for
 * every scenario, so the consumer's cost is the same on both sides of a ratio.
 */
export function counter<T>(see: (item: T) => void): Writable {
  return new Writable({
    objectMode: true,
    write(item: T, _encoding, callback) {
      see(item)
      callback()
    },
  })
}

/** A byte sink that counts what it is written. */
export function byteCounter(): Writable & { readonly bytes: number } {
  let bytes = 0
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      bytes += chunk.length
      callback()
    },
  })
  return Object.defineProperty(sink, 'bytes', { get: () => bytes }) as Writable & { readonly bytes: number }
}
