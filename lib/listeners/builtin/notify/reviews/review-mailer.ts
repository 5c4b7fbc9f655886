import { createHash } from 'node:crypto'
import { unlink } from 'node:fs/promises'
import { isAbsolute, resolve } from 'node:path'
import { ErrorCodes, formatWhere, LogdaemonError } from '../../../../errors.js'
import type { JournalLayout } from '../../../../files/journal-name.js'
import type { JournalEntry } from '../../../../journal/entry.js'
import { comparePositions, formatPosition, parsePosition, type JournalPosition } from '../../../../position.js'
import { removeStaleTemps, writeFileAtomic } from '../../../../files/atomic-write.js'
import { STALE_TEMP_MS } from '../../../../files/state-lock.js'
import { readTextIfExists } from '../../../../files/if-exists.js'
import type { ListenerLogger } from '../../../listener.js'
import type { ChangeFile, SubmittedChange } from '../change-collector.js'
import { normalizeAddress } from '../mail-address.js'
import { renderSubject, renderText } from '../change-message.js'
import type { ReviewsOptions } from '../notify-options.js'
import type { MailProgress } from '../delivery-state.js'
import type { OutgoingMail, SmtpSender } from '../smtp-sender.js'
import type { TextEncodingName } from '../text-decoder.js'
import { ReviewState, type ReviewRecipient } from './review-state.js'
import { ReviewTransactions } from './review-transactions.js'
import { findCheckpoint, readReviewState, seedReviews, writeReviewState } from './review-store.js'

/** Where the review mode finds its first state. */
export interface ReviewContext {
  /** The configuration file's directory: relative paths in the options are taken from it. */
  readonly baseDir: string
  /** The server the daemon reads (for the default checkpoint), when known. */
  readonly server?: JournalLayout | null
  /** Where the daemon resumes, when known. */
  readonly start: JournalPosition | null
  /** The listener's `encoding`: db.user and db.review text is decoded with it, as the changes' is. */
  readonly encoding: TextEncodingName
  readonly logger: ListenerLogger
}

/**
 * The review state file: `reviews.state` (relative to the configuration's
 * directory), else beside the daemon's state file and named after it and
 * the listener, so two daemons (two servers) never share one.
 */
export function reviewStatePath(options: ReviewsOptions, where: { baseDir: string; daemonState?: string | null; name: string }): string {
  if (options.state !== undefined) return isAbsolute(options.state) ? options.state : resolve(where.baseDir, options.state)
  if (where.daemonState) return `${where.daemonState.replace(/\.json$/, '')}.${where.name.replace(/[^\w.-]/g, '_')}-reviews.json`
  return resolve(where.baseDir, `${where.name.replace(/[^\w.-]/g, '_')}-reviews.state.json`)
}

/** One review mail waiting for delivery. */
export interface ReviewMail {
  readonly change: number
  readonly users: readonly string[]
  readonly mail: OutgoingMail
  /** The plain addresses it goes to: the reviewers' and `cc`. */
  readonly recipients: readonly string[]
}

/**
 * The review mode of `notify`: keeps the review state current from the
 * journal, and turns each submitted change into one mail per reviewer whose
 * Reviews lines match its files (or one per identical file set with
 * `groupIdentical`), never to the author unless `includeAuthor`.
 *
 * Message-IDs are stable per change and recipient (`<logdaemon.change-N.
 * review.USER@domain>`, `review.at-HASH` for an address several reviewers
 * share, or a hash of the recipient set when grouped), so a mail sent again
 * after a crash is recognisable. The state file records how
 * far the state was applied and which changes were delivered (saved after
 * each change), and, for a change whose delivery failed part way, which
 * recipients are done with each of its mails; a replay applies the records
 * after the daemon's last commit again (to the same rows: see
 * ReviewState.applyEdit) and mails nobody a change they took before the
 * last save.
 */
export class ReviewMailer {
  readonly #options: ReviewsOptions
  readonly #statePath: string
  /** The listener's name, recorded in its state file. */
  readonly #name: string
  readonly #smtp: SmtpSender
  readonly #subjectTemplate: string
  #state: ReviewState | null = null
  /** Holds each Reviews edit until the server commits its transaction. */
  #transactions: ReviewTransactions | null = null
  #logger: ListenerLogger | null = null

  readonly #maxFiles: number
  /** The `cc` addresses as the envelope carries them. */
  readonly #cc: ReadonlySet<string>

  constructor(
    options: ReviewsOptions,
    smtp: SmtpSender,
    subjectTemplate: string,
    where: { baseDir: string; daemonState?: string | null; name: string },
    maxFiles = 1000,
  ) {
    this.#maxFiles = maxFiles
    this.#options = options
    this.#smtp = smtp
    this.#subjectTemplate = subjectTemplate
    this.#statePath = reviewStatePath(options, where)
    this.#cc = new Set(smtp.recipientsOf({ to: [], cc: options.cc, bcc: [], subject: '', text: '', messageId: '', headers: {} }))
    this.#name = where.name
  }

  get state(): ReviewState {
    if (this.#state === null) throw new Error('review state used before open()')
    return this.#state
  }

  get statePath(): string {
    return this.#statePath
  }

  /** Uses a state built elsewhere (tests, tools) instead of opening one. */
  adopt(state: ReviewState): void {
    this.#use(state)
  }

  #use(state: ReviewState, transactions = new ReviewTransactions(state)): void {
    this.#state = state
    this.#transactions = transactions
  }

  /** Loads the state file, or builds the state from the checkpoint and saves it. */
  async open(context: ReviewContext): Promise<void> {
    this.#logger = context.logger
    // The listener holds the state's lock (notify.ts), which cleans the state's own temporary files: those a process
    // killed while writing STATE.read left beside it go too (older ones only).
    await removeStaleTemps(this.readPath, STALE_TEMP_MS)
    const saved = await readReviewState(this.#statePath)
    if (saved !== null) {
      const root = context.server?.root ?? null
      if (saved.server !== null && root !== null && saved.server !== root) {
        throw new LogdaemonError(
          ErrorCodes.STATE_MISMATCH,
          `reviews: the state file ${this.#statePath} belongs to the server at ${saved.server}, not ${root}: give this daemon its own reviews.state`,
          { file: this.#statePath },
        )
      }
      // Two listeners whose names write alike in a file name (`team a`, `team_a`) would share one default file.
      if (saved.listener !== null && saved.listener !== this.#name) {
        throw new LogdaemonError(
          ErrorCodes.STATE_MISMATCH,
          `reviews: the state file ${this.#statePath} belongs to the listener "${saved.listener}", not "${this.#name}": give each listener its own reviews.state`,
          { file: this.#statePath },
        )
      }
      // Names in the file are folded (or not) as it was built: a `case` set since then would be silently ignored.
      const wanted = this.#options.case
      if (wanted !== 'auto' && (wanted === 'insensitive') !== saved.caseInsensitive) {
        throw new LogdaemonError(
          ErrorCodes.STATE_MISMATCH,
          `reviews: the state file ${this.#statePath} was built comparing names ${saved.caseInsensitive ? 'ignoring case' : 'case-sensitively'}, ` +
            `but the listener has case: "${wanted}": move it away to rebuild it from the checkpoint with that setting ` +
            '(reviews.checkpoint, or the checkpoint of the journal the daemon resumes in), or set case back',
          { file: this.#statePath },
        )
      }
      // A file written before the listener was recorded takes this one's name, saved with the next change.
      if (saved.listener === null) {
        saved.listener = this.#name
        saved.markDirty()
      }
      await this.#refuseGap(context.start)
      saved.textEncoding = context.encoding
      this.#use(saved)
      context.logger.info(
        { statePath: this.#statePath, users: saved.userCount, reviewers: saved.reviewerCount, appliedThrough: saved.appliedThrough },
        'reviews: state loaded',
      )
      return
    }
    const checkpoint = await this.#checkpointPath(context)
    const seeded = await seedReviews(
      { checkpoint, upTo: context.start, layout: context.server ?? null },
      { caseHandling: this.#options.case, encoding: context.encoding },
    )
    // Transactions still open where the daemon starts go on in the live journal.
    this.#use(seeded.state, seeded.transactions)
    const s = this.state
    s.server = context.server?.root ?? null
    s.listener = this.#name
    if (s.userCount === 0) context.logger.warn({ checkpoint }, 'reviews: the checkpoint has no db.user rows: nobody can be mailed until users are created')
    await writeReviewState(this.#statePath, s)
    // Built up to where the daemon resumes: a file left by an earlier state says nothing of this one.
    if (context.start) await this.readThrough(context.start)
    else await unlink(this.readPath).catch(() => {})
    context.logger.info(
      {
        checkpoint,
        statePath: this.#statePath,
        users: s.userCount,
        reviewers: s.reviewerCount,
        caseInsensitive: s.caseInsensitive,
      },
      'reviews: state built from the checkpoint',
    )
  }

  async #checkpointPath(context: ReviewContext): Promise<string> {
    if (this.#options.checkpoint !== undefined) {
      return isAbsolute(this.#options.checkpoint) ? this.#options.checkpoint : resolve(context.baseDir, this.#options.checkpoint)
    }
    const n = context.start?.journal
    if (context.server && n !== undefined) {
      const found = await findCheckpoint(context.server, n)
      if (found !== null) return found
    }
    throw new LogdaemonError(
      ErrorCodes.CONFIG_INVALID,
      `reviews: no state file (${this.#statePath}) and no checkpoint to build it from` +
        (n !== undefined ? ` (looked for checkpoint ${n} in the server root)` : '') +
        ': set reviews.checkpoint to the checkpoint the replica starts from',
    )
  }

  /** Whether an entry changes the review state. */
  wants(entry: JournalEntry): boolean {
    return ReviewState.wants(entry)
  }

  /**
   * Takes the next journal entry: a db.user or db.review record is applied
   * when the server commits its transaction (ReviewTransactions).
   * `markers`: the journal is known to have them (the delivery state says
   * so, or the daemon resumes after one).
   */
  see(entry: JournalEntry, markers = false): void {
    const transactions = this.#transactions
    if (transactions === null) throw new Error('review state used before open()')
    if (markers) transactions.assumeMarkers()
    const step = transactions.see(entry)
    if (step.abandoned > 0) {
      this.#logger?.warn(
        { at: formatWhere(entry.position), records: step.abandoned },
        entry.op === 'nx'
          ? 'reviews: server restart note: db.user and db.review records of transactions the server never committed are not applied'
          : 'reviews: too many transactions open (their @ex@ never came): the records of the oldest are not applied',
      )
    }
    if (step.overflowed) {
      this.#logger?.warn(
        { at: formatWhere(entry.position), records: step.applied },
        'reviews: too many db.user and db.review records held for transactions not yet committed: applied now, in journal order',
      )
    }
  }

  /** A journal without markers went quiet: the records no marker followed are applied (with `before`, those written before that place). */
  flushUnmarked(before?: { readonly journal: number | null; readonly offset: number }): void {
    this.#transactions?.flushUnmarked(before)
  }

  /** The mails for a submitted change. */
  mailsFor(change: SubmittedChange, listener: string): ReviewMail[] {
    const state = this.state
    const recipients = byAddress(state.recipients(change, { includeAuthor: this.#options.includeAuthor }), change.files)
    const groups: Addressee[][] = []
    if (this.#options.groupIdentical) {
      const byFiles = new Map<string, Addressee[]>()
      for (const r of recipients) {
        const key = r.files.map((f) => `${f.depotFile}#${f.revision}`).join('\n')
        const group = byFiles.get(key)
        if (group) group.push(r)
        else byFiles.set(key, [r])
      }
      groups.push(...byFiles.values())
    } else {
      for (const r of recipients) groups.push([r])
    }
    return groups.map((group) => this.#mail(change, group, listener))
  }

  #mail(change: SubmittedChange, group: readonly Addressee[], listener: string): ReviewMail {
    const first = group[0] as Addressee
    const users = group.flatMap((r) => r.users)
    const addresses = group.map((r) => (r.fullName ? `${quoteName(r.fullName)} <${r.email}>` : r.email))
    const single = group.length === 1
    const tag = single ? `review.${addresseeId(first)}` : `review.${createHash('sha256').update(users.join('\n')).digest('hex').slice(0, 16)}`
    // The matched files, at most maxFiles listed (renderText says how many more).
    const reviewed = { ...change, files: first.files.slice(0, this.#maxFiles), fileCount: first.files.length, filesComplete: true }
    // A grouped mail goes to several reviewers in Bcc: it names none of them, nor anyone's Reviews lines.
    const lines = single ? [...new Set(first.lines)] : []
    const text = [
      renderText(reviewed).trimEnd(),
      '',
      ...(this.#options.link ? [`View the change: ${this.#options.link.replaceAll('{change}', String(change.change))}`, ''] : []),
      single
        ? `You are receiving change ${change.change} because your Reviews in Perforce include:`
        : `You are receiving change ${change.change} because your Reviews in Perforce match these files.`,
      ...lines.map((l) => `\t${l}`),
      change.fileCount > change.files.length
        ? `(${first.files.length} of the first ${change.files.length} of the change's ${change.fileCount} files matched; the others were not matched against Reviews.)`
        : change.files.length > first.files.length
          ? `(${first.files.length} of the change's ${change.fileCount} files matched.)`
          : '',
      '',
    ].join('\n')
    const mail: OutgoingMail = {
      to: single ? addresses : [],
      cc: this.#options.cc,
      bcc: single ? [] : addresses,
      subject: renderSubject(this.#subjectTemplate, reviewed),
      text,
      messageId: `<logdaemon.change-${change.change}.${tag}@${this.#smtp.domain}>`,
      headers: {
        'X-Logdaemon-Change': String(change.change),
        'X-Logdaemon-Delivery': `change-${change.change}.${tag}`,
        'X-Logdaemon-Listener': listener,
        ...(single ? { 'X-Logdaemon-Reviewers': first.users.join(', ') } : {}),
      },
    }
    return { change: change.change, users, mail, recipients: this.#smtp.recipientsOf(mail) }
  }

  /**
   * For each of a change's review mails, the recipients left to mail, by the
   * change's progress (`done`, per Message-ID). A reviewer's address is in
   * one review mail of a change, so an address done with (that took, or
   * refused for good) another review mail of the change has it, whatever
   * Message-ID its mail has now: a replay after users joined or left an
   * address, or after a release that mailed each user on their own. A mail
   * whose reviewers all have it so goes to nobody, `cc` included (the
   * archive has what they took); `cc`, in every review mail, is otherwise
   * left to the mail's own progress.
   */
  recipientsLeft(mails: readonly ReviewMail[], done: MailProgress): (readonly string[])[] {
    const doneIn = new Map<string, Set<string>>()
    for (const [id, addresses] of done) {
      if (!/^<logdaemon\.change-\d+\.review\./.test(id)) continue
      for (const a of addresses) {
        if (this.#cc.has(a)) continue
        const ids = doneIn.get(a)
        if (ids) ids.add(id)
        else doneIn.set(a, new Set([id]))
      }
    }
    if (doneIn.size === 0) return mails.map((m) => m.recipients)
    return mails.map((m) => {
      const elsewhere = (a: string): boolean => [...(doneIn.get(a) ?? [])].some((id) => id !== m.mail.messageId)
      const reviewers = m.recipients.filter((a) => !this.#cc.has(a))
      if (reviewers.length > 0 && reviewers.every(elsewhere)) return []
      return m.recipients.filter((a) => !elsewhere(a))
    })
  }

  /** Saves the state when it changed (atomically: temporary file, fsync, rename). */
  async save(): Promise<void> {
    if (this.state.dirty) await writeReviewState(this.#statePath, this.state)
  }

  /** The small file beside the state that says how far the journal was read: see {@link readThrough}. */
  get readPath(): string {
    return `${this.#statePath}.read`
  }

  /**
   * Records that the journal was read through `position` (the daemon
   * commits it only once this resolves): one line in its own file, not the
   * state, which may hold thousands of users and is written only when it
   * changes. See {@link #refuseGap}.
   */
  async readThrough(position: JournalPosition): Promise<void> {
    if (this.#readThrough !== null && comparePositions(position, this.#readThrough) <= 0) return
    await writeFileAtomic(this.readPath, `${JSON.stringify({ readThrough: formatPosition(position) })}\n`)
    this.#readThrough = position
  }

  #readThrough: JournalPosition | null = null

  /**
   * A daemon that resumes past where this state read the journal went on
   * without this listener (taken out of the configuration, then put back):
   * the users' and Reviews edits in between are not in the state, and
   * someone who stopped reviewing a path would still be mailed for it, at
   * an address that may have changed (a probe). ERR_STATE_MISMATCH, not
   * retried. The daemon commits a position only after every listener has
   * synced it, so after a crash it resumes at or before that point.
   */
  async #refuseGap(start: JournalPosition | null): Promise<void> {
    const text = await readTextIfExists(this.readPath)
    if (text === null) return
    let read: JournalPosition
    try {
      read = parsePosition(String((JSON.parse(text) as { readThrough?: unknown }).readThrough))
    } catch {
      throw new LogdaemonError(ErrorCodes.STATE_CORRUPT, `reviews: ${this.readPath} is not a position this listener wrote: restore it, or remove it`, {
        file: this.readPath,
        retryable: false,
      })
    }
    this.#readThrough = read
    if (start === null || comparePositions(start, read) <= 0) return
    throw new LogdaemonError(
      ErrorCodes.STATE_MISMATCH,
      `reviews: the state file ${this.#statePath} read the journal through ${formatPosition(read)}, but the daemon resumes at ${formatPosition(start)}: ` +
        'the daemon ran without this listener in between (taken out of the configuration?), so the users and Reviews edited meanwhile are not in it. ' +
        `Move ${this.#statePath} and ${this.readPath} away to build the state again from the checkpoint (reviews.checkpoint, or the checkpoint of the journal the daemon resumes in)`,
      { file: this.#statePath, journal: start.journal, offset: start.offset, retryable: false },
    )
  }
}

/** The reviewers who share one address (a team alias, one person's two accounts), as one recipient of one mail. */
interface Addressee {
  readonly users: readonly string[]
  readonly email: string
  /** Their full name, or '' when those who share the address differ in it. */
  readonly fullName: string
  /** The files any of them matched, in the change's order, and for each the line that matched it first. */
  readonly files: readonly ChangeFile[]
  readonly lines: readonly string[]
}

/**
 * Recipients merged by address (as SMTP compares them: the domain without
 * case), so that an address gets one mail per change, listing what any of
 * its users' Reviews matched; alone at its address, a reviewer is as before.
 */
function byAddress(recipients: readonly ReviewRecipient[], changeFiles: readonly ChangeFile[]): Addressee[] {
  const at = new Map<string, ReviewRecipient[]>()
  for (const r of recipients) {
    const key = normalizeAddress(r.email)
    const same = at.get(key)
    if (same) same.push(r)
    else at.set(key, [r])
  }
  return [...at.values()].map((same) => {
    const first = same[0] as ReviewRecipient
    if (same.length === 1) return { users: [first.user], email: first.email, fullName: first.fullName, files: first.files, lines: first.lines }
    const lineOf = new Map<ChangeFile, string>()
    for (const r of same) {
      r.files.forEach((f, i) => {
        if (!lineOf.has(f)) lineOf.set(f, r.lines[i] as string)
      })
    }
    const files = changeFiles.filter((f) => lineOf.has(f))
    return {
      users: same.map((r) => r.user),
      email: first.email,
      fullName: same.every((r) => r.fullName === first.fullName) ? first.fullName : '',
      files,
      lines: files.map((f) => lineOf.get(f) as string),
    }
  })
}

function quoteName(name: string): string {
  return /^[\w .'-]+$/.test(name) ? name : `"${name.replace(/["\\]/g, '\\$&')}"`
}

/**
 * The Message-ID part of one addressee's mail: the user's name when alone at
 * the address, else `at-` and a hash of the address, whoever shares it. Not
 * the names of all of them: with a few hundred accounts at one alias that
 * made a Message-ID line of thousands of characters (RFC 5322: 998 at most),
 * and a user who joined or left the address between a crash and the replay
 * changed the Message-ID under which the progress had recorded who took it.
 */
function addresseeId(a: Addressee): string {
  if (a.users.length === 1) return safeId(a.users[0] as string)
  return `at-${createHash('sha256').update(normalizeAddress(a.email)).digest('hex').slice(0, 16)}`
}

/**
 * A user name as a Message-ID part: RFC 5322 dot-atom text, one name to one
 * part. Every byte of its UTF-8 outside atext, and `=` itself, is `=` and two
 * hex digits; a name that would read as a shared address's part (`at-` and
 * 16 hex digits) or a group's (16 hex digits) has its first character
 * escaped. An earlier version left `=` as it was and wrote a code unit in as
 * few digits as it took, so `a.` and `a=2e`, or a tab and `=9`, shared one
 * Message-ID, and a replay took the mail of one for the other's.
 */
function safeId(user: string): string {
  const id = [...Buffer.from(user, 'utf8')]
    .map((b) => (ATEXT.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `=${b.toString(16).padStart(2, '0')}`))
    .join('')
  return /^(at-)?[0-9a-f]{16}$/.test(id) ? `=${id.charCodeAt(0).toString(16)}${id.slice(1)}` : id
}

/** One character of RFC 5322 atext but `=`, the escape (ASCII only: a byte ≥ 0x80 is never atext here). */
const ATEXT = /^[A-Za-z0-9!#$%&'*+/?^_`{|}~-]$/
