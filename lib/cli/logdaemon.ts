import { inflaterName } from '../files/gunzip.js'
import { VERSION } from '../version.js'
import { checkCommand } from './check.js'
import { exitCodeOf, messageOf, type CliIO, type Command } from './command.js'
import { demoCommand } from './demo.js'
import { initCommand } from './init.js'
import { parseOptions, renderHelp, suggest, type OptionTable } from './options.js'
import { reviewsCommand } from './reviews.js'
import { runCommand } from './run.js'
import { schemaCommand } from './schema.js'
import { verifyCommand } from './verify.js'
import { sqlCommand } from './sql.js'

const NAME = 'logdaemon'

export const COMMANDS: Readonly<Record<string, Command>> = {
  init: initCommand,
  check: checkCommand,
  run: runCommand,
  verify: verifyCommand,
  demo: demoCommand,
  schema: schemaCommand,
  sql: sqlCommand,
  reviews: reviewsCommand,
}

const HELP_OPTION = { type: 'boolean', short: 'h', help: 'show this help' } as const

/** Options that go before the command. */
const GLOBAL_OPTIONS: OptionTable = {
  version: { type: 'boolean', short: 'V', help: 'print the version' },
  help: HELP_OPTION,
}

/** The width of the command column in the list of commands: the longest name and two spaces. */
const COMMAND_COLUMN = Math.max(...Object.keys(COMMANDS).map((c) => c.length)) + 2

const SUMMARY = `Streams a Perforce server's journal to listeners.\n\nCommands:\n${Object.entries(COMMANDS)
  .map(([c, cmd]) => `  ${c.padEnd(COMMAND_COLUMN)}${cmd.brief}`)
  .join('\n')}\n\n'${NAME} COMMAND --help' shows the options of a command.`

/** Runs `logdaemon` and returns its exit code: 0 ok, 1 runtime, data or configuration error, 2 usage. */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const say = (msg: string): void => void io.stderr.write(`${NAME}: ${msg}\n`)
  const at = commandIndex(argv)
  const name = at === -1 ? undefined : argv[at]
  const command = name !== undefined && Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined
  const helpHint = command ? `${NAME} ${name} --help` : `${NAME} --help`
  const usage = (msg: string): number => {
    say(`${msg}\nTry '${helpHint}'.`)
    return 2
  }
  // Only the daemon takes over the signals that came while it loaded; any other command ends by them, as it would have.
  if (command !== runCommand && io.early?.reraise()) return 1
  // Until its guard listens nothing is started: a stop ends it at once, also while a JS configuration loads.
  if (command === runCommand)
    io.early?.stopWith((signal) => {
      say(`${signal} while starting: exiting with code 0 (nothing was started)`)
      io.exit?.(0)
    })
  try {
    if (!command) {
      // No command (or an unknown one): only the global options can be here.
      const { values } = parseOptions(at === -1 ? argv : argv.slice(0, at), GLOBAL_OPTIONS)
      if (values.help) {
        io.stdout.write(renderHelp({ usage: `${NAME} <${Object.keys(COMMANDS).join('|')}> [options]`, summary: SUMMARY }, GLOBAL_OPTIONS))
        return 0
      }
      if (values.version) {
        io.stdout.write(`${NAME} ${VERSION} (gzip inflater: ${inflaterName()})\n`)
        return 0
      }
      if (name === undefined) return usage('a command is required')
      const hint = suggest(name, Object.keys(COMMANDS))
      return usage(`unknown command ${JSON.stringify(name)}${hint ? ` (did you mean ${hint}?)` : ''}`)
    }
    const table: OptionTable = { ...command.options, help: HELP_OPTION }
    const { values, positionals } = parseOptions([...argv.slice(0, at), ...argv.slice(at + 1)], table)
    if (values.help) {
      io.stdout.write(renderHelp(command, table))
      return 0
    }
    if (positionals.length > (command.maxArgs ?? 0)) return usage(`unexpected argument ${JSON.stringify(positionals[command.maxArgs ?? 0])}`)
    return await command.run(values, io, say, positionals)
  } catch (err) {
    const code = exitCodeOf(err)
    if (code === 2) return usage(messageOf(err))
    say(messageOf(err))
    return code
  } finally {
    io.early?.release()
  }
}

/** Options of any command that take a value: the token after them is that value, not the command. */
const VALUE_OPTIONS = new Set(
  Object.values(COMMANDS).flatMap((c) =>
    Object.entries(c.options)
      .filter(([, spec]) => spec.type === 'string')
      .flatMap(([name, spec]) => [`--${name}`, ...(spec.short ? [`-${spec.short}`] : [])]),
  ),
)

/** Where the command is in argv (options may come before it: `logdaemon -c FILE run`), or -1. */
function commandIndex(argv: readonly string[]): number {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--') return i + 1 < argv.length ? i + 1 : -1
    if (!a.startsWith('-')) return i
    if (VALUE_OPTIONS.has(a)) i++
  }
  return -1
}
