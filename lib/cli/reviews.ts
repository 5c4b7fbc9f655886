import { ErrorCodes, LogdaemonError } from '../errors.js'
import { describeJournalChain } from '../files/journal-set.js'
import type { JournalEntry } from '../journal/entry.js'
import { createJournalReader } from '../journal/read-journal.js'
import { loadConfig, type DaemonConfig } from '../daemon/config.js'
import { readState } from '../files/state-file.js'
import { ChangeCollector, type ChangeFile, type SubmittedChange } from '../listeners/builtin/notify/change-collector.js'
import { optionsSchema, reviewsOptionsOf, type ReviewsOptions } from '../listeners/builtin/notify/notify-options.js'
import { textDecoder, type TextEncodingName } from '../listeners/builtin/notify/text-decoder.js'
import type { ReviewExplanation, ReviewState } from '../listeners/builtin/notify/reviews/review-state.js'
import { findCheckpoint, readReviewState, seedReviewState } from '../listeners/builtin/notify/reviews/review-store.js'
import { reviewStatePath } from '../listeners/builtin/notify/reviews/review-mailer.js'
import { resolve } from 'node:path'
import { usageError, type Command } from './command.js'
import { CONFIG_OPTION } from './init.js'

/** One line of `logdaemon reviews --format json`. */
export interface ReviewReportJson {
  readonly user: string
  readonly email: string
  /** The files that matched, `//depot/path#rev`. */
  readonly files: readonly string[]
  /** For each file, the Reviews line that decided it. */
  readonly lines: readonly string[]
  /** Why the user gets no mail although files matched, or null. */
  readonly excluded: string | null
}

/** The review state a configuration's notify listener uses: its state file, else built from the checkpoint (not saved). */
export async function loadReviewStateOf(
  config: DaemonConfig,
): Promise<{ state: ReviewState; source: string; options: ReviewsOptions; encoding: TextEncodingName }> {
  const listener = config.listeners.find((l) => l.type === 'notify' && (l.options as { reviews?: unknown }).reviews !== undefined)
  if (!listener) {
    throw new LogdaemonError(ErrorCodes.CONFIG_INVALID, `${config.file ?? 'the configuration'} has no notify listener with reviews: nothing to explain`)
  }
  const parsed = optionsSchema.parse(listener.options)
  const options = reviewsOptionsOf(parsed) as ReviewsOptions
  const encoding = parsed.encoding
  const statePath = reviewStatePath(options, { baseDir: config.baseDir, daemonState: config.state, name: listener.name })
  const saved = await readReviewState(statePath)
  if (saved) return { state: Object.assign(saved, { textEncoding: encoding }), source: `the state file ${statePath}`, options, encoding }
  let checkpoint = options.checkpoint === undefined ? null : resolve(config.baseDir, options.checkpoint)
  let start = null
  if (checkpoint === null) {
    const daemonState = await readState(config.state).catch(() => null)
    const n = daemonState?.journal ?? (typeof config.from === 'number' ? config.from : null)
    if (n !== null && config.server) checkpoint = await findCheckpoint(config.server, n)
    if (daemonState) start = { journal: daemonState.journal, offset: daemonState.offset }
  }
  if (checkpoint === null) {
    throw new LogdaemonError(ErrorCodes.CONFIG_INVALID, `no review state file at ${statePath} and no checkpoint to build one from: set reviews.checkpoint`)
  }
  const state = await seedReviewState({ checkpoint, upTo: start, layout: config.server ?? null }, { caseHandling: options.case, encoding })
  return { state, source: `the checkpoint ${checkpoint} (no state file yet)`, options, encoding }
}

/** Finds change N's submit in the server's journals (archives from the oldest, then the live one). */
export async function findSubmittedChange(config: DaemonConfig, change: number, encoding: TextEncodingName = 'utf8'): Promise<SubmittedChange | null> {
  if (!config.server)
    throw new LogdaemonError(ErrorCodes.CONFIG_INVALID, "--change needs the server's journal files: this configuration reads a jetstream source (use --file)")
  const chain = await describeJournalChain(config.server)
  const files = [...chain.archives.map((a) => ({ journal: a.journal, path: a.files[0]!.path })), { journal: chain.live.journal, path: chain.live.path }]
  for (const f of files) {
    const collector = new ChangeCollector({ decode: textDecoder(encoding), maxFiles: 100_000 })
    const reader = createJournalReader(f.path, { journal: f.journal, allowIncomplete: true })
    try {
      for await (const entry of reader as AsyncIterable<JournalEntry>) {
        if (!ChangeCollector.wants(entry)) continue
        const found = collector.add(entry).find((c) => c.change === change)
        if (found) return found
      }
      const last = collector.flushUnmarked().find((c) => c.change === change)
      if (last) return last
    } catch (err) {
      if ((err as { code?: string }).code === 'ENOENT') continue
      throw err
    } finally {
      reader.destroy()
    }
  }
  return null
}

function fileText(f: ChangeFile): string {
  return `${f.depotFile}#${f.revision}`
}

export const reviewsCommand: Command = {
  brief: 'who would be mailed for a change, and which Reviews line matched (no server connection)',
  usage: 'logdaemon reviews [-c FILE] (--change N | --file PATH…) [--user U] [--format text|json]',
  summary:
    "Explains the notify listener's review mode from its own state (the review state file, or the\n" +
    "checkpoint it starts from): for change N (found in the server's journals) or for depot files you\n" +
    'name, who would get a mail, which of their Reviews lines matched each file, and who would not and why.',
  options: {
    config: CONFIG_OPTION,
    change: { type: 'string', arg: 'N', help: 'the submitted change to explain' },
    file: { type: 'string', multiple: true, arg: 'PATH', help: 'a depot file to explain instead of a change' },
    user: { type: 'string', arg: 'USER', help: 'only this user: their Reviews lines and what matched' },
    author: { type: 'string', arg: 'USER', help: 'with --file: the author, who is not mailed their own change' },
    format: { type: 'string', arg: 'FORMAT', help: 'text (default) or json', choices: ['text', 'json'], default: 'text' },
  },
  examples: [
    ['logdaemon reviews --change 1234', 'who gets change 1234, and why'],
    ['logdaemon reviews --change 1234 --format json', 'the same as JSON'],
    ['logdaemon reviews --file //depot/main/src/a.c --user bob', "whether bob's Reviews cover a file"],
  ],
  async run(values, io) {
    const config = await loadConfig(String(values.config))
    const { state, source, encoding } = await loadReviewStateOf(config)
    const fileArgs = (values.file as string[] | undefined) ?? []
    let change: Pick<SubmittedChange, 'user' | 'files'> & { change?: number; client?: string }
    if (values.change !== undefined) {
      const n = /^[0-9]+$/.test(String(values.change)) ? Number(values.change) : Number.NaN
      if (!Number.isSafeInteger(n) || n <= 0) throw usageError(`--change must be a change number (got ${JSON.stringify(values.change)})`)
      const found = await findSubmittedChange(config, n, encoding)
      if (!found) {
        throw new LogdaemonError(
          ErrorCodes.CONFIG_INVALID,
          `change ${n} was not submitted in the journals on disk (${config.server?.root ?? ''}): is it older than the oldest journal kept?`,
        )
      }
      change = found
    } else if (fileArgs.length > 0) {
      change = {
        user: String(values.author ?? ''),
        files: fileArgs.map((f) => ({ depotFile: f.replace(/#\d+$/, ''), revision: Number(/#(\d+)$/.exec(f)?.[1] ?? 0), action: '' })),
      }
    } else {
      throw usageError('--change N or --file PATH is required')
    }
    let explained: ReviewExplanation[] = state.explain(change)
    const only = values.user === undefined ? null : String(values.user)
    if (only !== null) explained = explained.filter((e) => (state.caseInsensitive ? e.user.toLowerCase() === only.toLowerCase() : e.user === only))
    if (values.format === 'json') {
      const out: ReviewReportJson[] = explained.map((e) => ({
        user: e.user,
        email: e.email,
        files: e.files.map(fileText),
        lines: e.lines,
        excluded: e.excluded,
      }))
      io.stdout.write(`${JSON.stringify(out, null, 2)}\n`)
      return 0
    }
    const lines: string[] = []
    const title =
      change.change !== undefined
        ? `change ${change.change} by ${change.user}@${change.client ?? ''}, ${change.files.length} file(s)`
        : `${change.files.length} file(s)`
    lines.push(`${title}; subscriptions from ${source}${state.caseInsensitive ? ' (case-insensitive server)' : ''}`)
    const mailed = explained.filter((e) => e.excluded === null)
    lines.push(mailed.length === 0 ? 'nobody would be mailed' : `${mailed.length} reviewer(s) would be mailed:`)
    for (const e of explained) {
      lines.push('', `${e.user} <${e.email || 'no address'}>${e.excluded ? `: NOT mailed (${e.excluded})` : ''}`)
      for (const [i, f] of e.files.entries()) lines.push(`  ${fileText(f)}${f.action ? ` ${f.action}` : ''}  <- ${e.lines[i]}`)
    }
    if (only !== null) {
      const view = state.view(only)
      lines.push('', `Reviews of ${only}:`, ...(view.lines.length ? view.lines.map((l) => `  ${l.text}`) : ['  (none)']))
    }
    // Names and addresses are the users' own text: no terminal escapes reach the admin's screen.
    io.stdout.write(`${lines.join('\n').replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '?')}\n`)
    return 0
  },
}
