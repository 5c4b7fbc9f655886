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

/** What `--help` shows besides the options. */
export interface HelpText {
  usage: string
  summary: string
  /** Command lines with a comment each: `['logdaemon run -c /etc/logdaemon.mjs', 'run with this configuration']`. */
  examples?: readonly (readonly [string, string])[]
}

/**
 * Parses argv with node:util's parseArgs from the one table that also
 * renders `--help`. Throws ERR_USAGE for unknown options (suggesting the
 * nearest known one), missing values and values outside `choices`.
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
    const message = (err as Error).message.replace(/\. To specify a positional.*$/s, '')
    const unknown = /^Unknown option '--([^'=]+)'/.exec(message)?.[1]
    const hint = unknown !== undefined ? suggest(unknown, Object.keys(table)) : null
    throw new LogdaemonError(ErrorCodes.USAGE, hint ? `${message} (did you mean --${hint}?)` : message)
  }
  const values = parsed.values as ParsedValues
  for (const [name, spec] of Object.entries(table)) {
    const v = values[name]
    if (v === undefined && spec.default !== undefined) values[name] = spec.default
    if (spec.choices && v !== undefined) {
      for (const one of Array.isArray(v) ? v : [v]) {
        if (typeof one === 'string' && !spec.choices.includes(one)) {
          const hint = suggest(one, spec.choices)
          throw new LogdaemonError(
            ErrorCodes.USAGE,
            `--${name} must be one of ${spec.choices.join(', ')} (got ${JSON.stringify(one)}${hint ? `; did you mean ${hint}?` : ''})`,
          )
        }
      }
    }
  }
  return { values, positionals: parsed.positionals }
}

/** Renders `--help` from the option table. */
export function renderHelp(text: HelpText, table: OptionTable): string {
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
  const examples = text.examples?.length ? `\n\nExamples:\n${text.examples.map(([cmd, what]) => `  # ${what}\n  ${cmd}`).join('\n')}` : ''
  return `Usage: ${text.usage}\n\n${text.summary}\n\nOptions:\n${lines.join('\n')}${examples}\n`
}

/**
 * The candidate nearest to `word`, if it is near enough to be a typo: at
 * most a third of the word's length (at least 1) in edits, or a prefix.
 */
export function suggest(word: string, candidates: readonly string[]): string | null {
  let best: string | null = null
  let bestDistance = Infinity
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 2 ? 0.5 : editDistance(word, c)
    if (d < bestDistance) {
      best = c
      bestDistance = d
    }
  }
  return bestDistance <= Math.max(1, Math.floor(word.length / 3)) ? best : null
}

/** Levenshtein distance (insertions, deletions, substitutions; an adjacent swap counts 1). */
export function editDistance(a: string, b: string): number {
  // Two rows of the dynamic-programming table, plus the one before for swaps.
  let before: number[] = []
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let d = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1)
      row.push(d)
    }
    before = prev
    prev = row
  }
  return prev[b.length]!
}
