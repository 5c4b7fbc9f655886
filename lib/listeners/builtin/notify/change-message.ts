import { formatPosition } from '../../../position.js'
import type { SubmittedChange } from './change-collector.js'

/** The JSON a webhook receives (schema version 1). */
export interface ChangePayload {
  readonly event: 'change.submitted'
  readonly version: 1
  /** Stable for a change: the same on every retry and on replays after a crash. Dedupe on it. */
  readonly deliveryId: string
  /** When this attempt was sent (ISO 8601, UTC). */
  readonly sentAt: string
  /** The listener's name in the daemon configuration. */
  readonly listener: string
  readonly change: {
    readonly number: number
    readonly user: string
    readonly client: string
    /** ISO 8601, UTC. */
    readonly date: string
    readonly description: string
    readonly descriptionComplete: boolean
    readonly files: readonly { readonly depotFile: string; readonly revision: number; readonly action: string }[]
    readonly fileCount: number
    readonly filesComplete: boolean
  }
  /** Where the transaction ended in the journal, `N/offset` (null when the journal number is unknown). */
  readonly journalPosition: string | null
}

/** The delivery id of a change: `change-N`. */
export function deliveryIdOf(change: SubmittedChange): string {
  return `change-${change.change}`
}

export function changePayload(change: SubmittedChange, listener: string, now: Date): ChangePayload {
  const p = change.position
  return {
    event: 'change.submitted',
    version: 1,
    deliveryId: deliveryIdOf(change),
    sentAt: now.toISOString(),
    listener,
    change: {
      number: change.change,
      user: change.user,
      client: change.client,
      date: isoDate(change.date),
      description: change.description,
      descriptionComplete: change.descriptionComplete,
      files: change.files,
      fileCount: change.fileCount,
      filesComplete: change.filesComplete,
    },
    journalPosition: p.journal === null ? null : formatPosition({ journal: p.journal, offset: p.end }),
  }
}

function isoDate(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString()
}

/** `2014/09/19 10:53:03 UTC`, as `p4 describe` prints dates (in UTC here). */
function p4Date(epochSeconds: number): string {
  return isoDate(epochSeconds).replace(/^(\d+)-(\d+)-(\d+)T([\d:]+)\.\d+Z$/, '$1/$2/$3 $4 UTC')
}

/** The first non-empty line of the description, for subjects. */
export function summaryOf(description: string): string {
  const line = description.split(/\r?\n/).find((l) => l.trim() !== '') ?? ''
  return line.trim()
}

export const DEFAULT_SUBJECT = '[p4] Change {change} by {user}@{client}: {summary}'

/**
 * The longest subject, in UTF-16 code units with the ellipsis. RFC 5322
 * allows 998 characters on a header line (section 2.1.1) and a strict MTA
 * refuses a longer one, which would fail the mail for good; 200 is what a
 * mail client shows and leaves room for the `Subject: ` name and for the
 * RFC 2047 encoding of non-ASCII text, which the mailer folds.
 */
export const MAX_SUBJECT = 200

/**
 * Fills `{change}`, `{user}`, `{client}`, `{summary}`, `{date}` and
 * `{files}` (the file count). Unknown placeholders stay as written. Line
 * breaks are flattened: a subject is one header line. A longer subject than
 * MAX_SUBJECT is cut and ends with `…` (the body has the whole description).
 */
export function renderSubject(template: string, change: SubmittedChange): string {
  const values: Record<string, string> = {
    change: String(change.change),
    user: change.user,
    client: change.client,
    summary: summaryOf(change.description),
    date: p4Date(change.date),
    files: String(change.fileCount),
  }
  return capSubject(template.replace(/\{(\w+)\}/g, (all, name: string) => values[name] ?? all).replace(/[\r\n]+/g, ' '))
}

/** At most MAX_SUBJECT code units, cut between characters (never inside a surrogate pair), trailing spaces dropped. */
function capSubject(subject: string): string {
  if (subject.length <= MAX_SUBJECT) return subject
  let cut = MAX_SUBJECT - 1
  const last = subject.charCodeAt(cut - 1)
  if (last >= 0xd800 && last <= 0xdbff) cut -= 1
  return `${subject.slice(0, cut).trimEnd()}\u2026`
}

/** A plain-text body laid out like `p4 describe -s`. */
export function renderText(change: SubmittedChange): string {
  const lines = [`Change ${change.change} by ${change.user}@${change.client} on ${p4Date(change.date)}`, '']
  for (const l of change.description.replace(/\r?\n$/, '').split(/\r?\n/)) lines.push(`\t${l}`)
  if (!change.descriptionComplete) {
    lines.push(
      '',
      `(description as kept in db.change; the full text was not in the journal read, or too long to keep until the submit: p4 describe ${change.change} shows it)`,
    )
  }
  lines.push('', 'Affected files ...', '')
  for (const f of change.files) lines.push(`... ${f.depotFile}#${f.revision} ${f.action}`)
  if (change.files.length < change.fileCount) {
    lines.push(`... and ${change.fileCount - change.files.length} more file(s)`)
  } else if (!change.filesComplete) {
    lines.push('... (some file rows could not be read: see the daemon log)')
  }
  lines.push('')
  return lines.join('\n')
}
