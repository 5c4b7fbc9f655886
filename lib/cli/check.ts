import { isLogdaemonError, toError } from '../errors.js'
import { describeJournalChain, journalGapError, type JournalChain } from '../files/journal-set.js'
import { liveJournalPath } from '../files/journal-name.js'
import { readState, type SavedState } from '../files/state-file.js'
import { formatPosition } from '../position.js'
import { checkListenerModule } from '../listeners/load-listener.js'
import { loadConfig, type DaemonConfig } from '../daemon/config.js'
import type { Command } from './command.js'
import { CONFIG_OPTION, DEFAULT_CONFIG_FILE } from './init.js'

/** What `logdaemon check` found: the configuration, where reading would start, the chain, and the problems. */
export interface CheckReport {
  config: DaemonConfig
  /** The saved state, or null when there is none yet. */
  state: SavedState | null
  /** The first journal that would be read, or null when unknown. */
  startJournal: number | null
  /** How the start was chosen, in words. */
  start: string
  chain: JournalChain | null
  /** What would stop the daemon: gaps, no start point, listener modules that do not load. Empty when fine. */
  problems: string[]
  /** The report as printed. */
  text: string
}

function pad(label: string): string {
  return label.padEnd(15)
}

function table(rows: string[][]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows.map((r) => `  ${r.map((c, i) => (i === r.length - 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')}`)
}

/**
 * `logdaemon check`: validates the configuration (throws
 * ERR_CONFIG_INVALID / ERR_CONFIG_NOT_FOUND as `loadConfig` does) and
 * describes what `run` would read (numbers, files, compressed or not,
 * gaps) without reading any journal. Custom listener modules are imported
 * to see that they export a listener, but not created.
 */
export async function checkConfig(file: string): Promise<CheckReport> {
  const config = await loadConfig(file)
  const problems: string[] = []
  const layout = config.server
  let state: SavedState | null = null
  try {
    state = await readState(config.state)
  } catch (err) {
    problems.push(toError(err).message)
  }
  let startJournal: number | null = null
  let start: string
  if (state) {
    startJournal = state.journal
    start = `${formatPosition(state)} (line ${state.line}) from the state file ${config.state}, saved ${state.savedAt}`
  } else if (typeof config.from === 'number') {
    startJournal = config.from
    start = `journal ${config.from} from its start (from: ${config.from}; no state file at ${config.state} yet)`
  } else if (config.from === 'end') {
    start = `the end of the live journal (from: "end"; no state file at ${config.state} yet)`
  } else {
    start = `unknown: no state file at ${config.state} and no "from"`
    problems.push('no state file and no "from": set "from" to the journal to start at (the last checkpoint\'s number), or "end"')
  }
  let chain: JournalChain | null = null
  try {
    chain = await describeJournalChain(layout, startJournal === null ? {} : { from: startJournal })
    if (startJournal === null && config.from === 'end') {
      // Only the live journal is read: older gaps do not matter.
      startJournal = chain.live.journal
      chain = await describeJournalChain(layout, { from: startJournal })
    }
    if (chain.gaps.length) problems.push(journalGapError(chain.gaps, startJournal ?? chain.oldest ?? 0, chain.live.journal).message)
  } catch (err) {
    problems.push(`cannot list the journals: ${toError(err).message}`)
  }
  for (const l of config.listeners) {
    if (l.type !== 'module' || typeof l.module !== 'string') continue
    try {
      await checkListenerModule(l.module, config.baseDir)
    } catch (err) {
      problems.push(isLogdaemonError(err) ? err.message : toError(err).message)
    }
  }
  const text = render(config, start, chain, startJournal, problems)
  return { config, state, startJournal, start, chain, problems, text }
}

function render(config: DaemonConfig, start: string, chain: JournalChain | null, startJournal: number | null, problems: string[]): string {
  const lines: string[] = [`configuration ${config.file ?? '(inline)'} is valid.`, '']
  lines.push(`${pad('server root')}${config.server.root}`)
  const live = chain?.live
  const livePath = liveJournalPath(config.server)
  lines.push(`${pad('live journal')}${livePath}${live ? `: journal ${live.journal}, ${live.size === null ? 'missing' : `${live.size} bytes`}` : ''}`)
  if (config.server.prefix) lines.push(`${pad('journal prefix')}${config.server.prefix}`)
  lines.push(`${pad('start')}${start}`)
  lines.push('')
  if (chain) {
    const rows: string[][] = [['journal', 'file', 'form', 'bytes']]
    for (const a of chain.archives) {
      if (startJournal !== null && a.journal < startJournal) continue
      const both = a.files.length > 1
      for (const f of a.files) {
        const form = f.compressed ? 'gzip' : 'plain'
        rows.push([String(a.journal), f.path, both ? `${form} (both: gzip running?)` : form, String(f.size)])
      }
    }
    rows.push([String(chain.live.journal), chain.live.path, 'live', chain.live.size === null ? 'missing' : String(chain.live.size)])
    lines.push('journals it would read, in order:')
    lines.push(...table(rows))
    lines.push('')
    lines.push(`${pad('gaps')}${chain.gaps.length ? chain.gaps.join(', ') : 'none'}`)
  }
  const ls = config.listeners.map((l) => `${l.name} (${l.type === 'module' ? `module ${typeof l.module === 'string' ? l.module : 'inline'}` : l.type})`)
  lines.push(`${pad('listeners')}${ls.join(', ')}`)
  lines.push(`${pad('state file')}${config.state}`)
  lines.push(`${pad('status page')}${config.status === false ? 'off' : `http://${config.status.host}:${config.status.port}/${config.status.token ? ' (token required)' : ''}`}`)
  lines.push(`${pad('log')}${config.log.level}, to ${config.log.file ?? 'standard error'}`)
  if (problems.length) {
    lines.push('', 'problems that would stop the daemon:')
    for (const p of problems) lines.push(`  - ${p}`)
  }
  return lines.join('\n') + '\n'
}

/** `logdaemon check`. */
export const checkCommand: Command = {
  brief: 'validate the configuration and print the journal chain it would read, without reading it',
  usage: 'logdaemon check [-c FILE]',
  summary:
    'Validates the configuration, loads its listener modules, and prints where the daemon would\n' +
    'start and which journals it would read. Exit code 1 when it finds a problem.',
  options: { config: { ...CONFIG_OPTION, help: 'the configuration to check' } },
  examples: [
    ['logdaemon check', `check ./${DEFAULT_CONFIG_FILE}`],
    ['logdaemon check -c /etc/logdaemon.mjs', 'check another file'],
  ],
  async run(values, io) {
    const report = await checkConfig(String(values.config))
    io.stdout.write(report.text)
    return report.problems.length ? 1 : 0
  },
}
