import { parseArgs } from 'node:util'
import { ErrorCodes, LogdaemonError } from '../errors.js'

/** One command-line option: how it parses and how `--help` shows it. */
export interface OptionSpec {
  type: 'string' | 'boolean'
  short?: string
  multiple?: boolean
  /** Placeholder shown in help, e.g. `N|end`. */
  arg?: string
  /** One-line description for help. */
  help: string
  /** Allowed values for a string option. */
  choices?: readonly string[]
  default?: string | boolean
}

export type OptionTable = Readonly<Record<string, OptionSpec>>

export type ParsedValues = Record<string, string | boolean | string[] | undefined>

/**
 * Parses argv with node:util's parseArgs from the one table that also
 * renders `--help`. Throws ERR_USAGE for unknown options, missing values and
 * values outside `choices`.
 */
export function parseOptions(argv: readonly string[], table: OptionTable): { values: ParsedValues; positionals: string[] } {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {}
  for (const [name, spec] of Object.entries(table)) {
    options[name] = { type: spec.type, ...(spec.short ? { short: spec.short } : {}), ...(spec.multiple ? { multiple: true } : {}) }
  }
  let parsed
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true })
  } catch (err) {
    throw new LogdaemonError(ErrorCodes.USAGE, (err as Error).message.replace(/\. To specify a positional.*$/s, ''))
  }
  const values = parsed.values as ParsedValues
  for (const [name, spec] of Object.entries(table)) {
    const v = values[name]
    if (v === undefined && spec.default !== undefined) values[name] = spec.default
    if (spec.choices && v !== undefined) {
      for (const one of Array.isArray(v) ? v : [v]) {
        if (typeof one === 'string' && !spec.choices.includes(one)) {
          throw new LogdaemonError(ErrorCodes.USAGE, `--${name} must be one of ${spec.choices.join(', ')} (got ${JSON.stringify(one)})`)
        }
      }
    }
  }
  return { values, positionals: parsed.positionals }
}

/** Renders `--help` from the option table. */
export function renderHelp(usage: string, summary: string, table: OptionTable): string {
  const rows = Object.entries(table).map(([name, spec]) => {
    const flag = `${spec.short ? `-${spec.short}, ` : '    '}--${name}${spec.type === 'string' ? ` ${spec.arg ?? 'VALUE'}` : ''}`
    const extra = [
      spec.choices ? `one of ${spec.choices.join('|')}` : '',
      spec.default !== undefined && spec.default !== false ? `default ${String(spec.default)}` : '',
      spec.multiple ? 'repeatable' : '',
    ]
      .filter(Boolean)
      .join('; ')
    return [flag, extra ? `${spec.help} (${extra})` : spec.help] as const
  })
  const width = Math.max(...rows.map(([f]) => f.length)) + 2
  const lines = rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`)
  return `Usage: ${usage}\n\n${summary}\n\nOptions:\n${lines.join('\n')}\n`
}
