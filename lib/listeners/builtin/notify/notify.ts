import { ErrorCodes, formatWhere, LogdaemonError, toError } from '../../../errors.js'
import type { JournalEntry } from '../../../journal/entry.js'
import type { Listener, ListenerContext, ListenerLogger } from '../../listener.js'
import { ChangeCollector, type CollectorSkip, type SubmittedChange } from './change-collector.js'
import { createChangeFilter } from './change-filter.js'
import { changePayload } from './change-message.js'
import { optionsSchema, reviewsOptionsOf, type NotifyInput, type NotifyOptions } from './notify-options.js'
import { SmtpSender, type OutgoingMail, type RecipientRefusal } from './smtp-sender.js'
import { textDecoder } from './text-decoder.js'
import { WebhookSender } from './webhook-sender.js'
import { ReviewMailer, type ReviewMail } from './reviews/review-mailer.js'
import { DeliveryMismatch, DeliveryState, type MailProgress } from './delivery-state.js'
import { deliveryStatePath, journalNumberMismatch, readDeliveryState, writeDeliveryState } from './delivery-store.js'
import type { JournalLayout } from '../../../files/journal-name.js'
import { formatPosition, type JournalPosition } from '../../../position.js'
import { StateLock } from '../../../files/state-lock.js'

export { optionsSchema, type NotifyInput, type NotifyOptions }
export type { SubmittedChange, ChangeFile } from './change-collector.js'
export type { ChangePayload } from './change-message.js'
export { signBody, verifySignature } from './webhook-sender.js'

/** A Set that keeps only its `limit` most recently added members: the oldest is forgotten first. */
export class RecentSet<T> {
  readonly #members = new Set<T>()
  readonly #limit: number

  constructor(limit: number) {
    this.#limit = limit
  }

  get size(): number {
    return this.#members.size
  }

  has(value: T): boolean {
    return this.#members.has(value)
  }

  /** Adds `value` as the newest member (moving it up if it was there). */
  add(value: T): void {
    this.#members.delete(value)
    this.#members.add(value)
    if (this.#members.size > this.#limit) {
      const [oldest] = this.#members
      this.#members.delete(oldest as T)
    }
  }
}

type Channel = 'smtp' | 'webhook' | 'reviews'

/** A change waiting for delivery, with the channels that have not taken it yet. */
interface Outgoing {
  readonly change: SubmittedChange
  readonly channels: Set<Channel>
  /** The change's review mails (review mode). */
  readonly reviews: readonly ReviewMail[]
  /** Per mail, the recipients done with it (took it, or refused it for good): a retry sends only to the others. */
  readonly done: MailProgress
  /** Whether the webhook took the change (saved with `done`, so a restart does not POST it again). */
  webhook: boolean
}

/**
 * Change numbers delivered in this process, remembered so that the same
 * change is not sent twice when the daemon re-reads entries (after a failed
 * commit, or a restart of the source). A bound; across restarts the
 * delivery state (its file, or the review state's) is what knows.
 */
const DELIVERED_MEMORY = 4096

const USER_AGENT = 'logdaemon-notify/1'

/**
 * Files of one change kept for matching Reviews lines (a mail still lists at
 * most `maxFiles`): far above ordinary changes, a bound for huge branch
 * submits, whose files past it are not matched (the change is logged).
 */
const REVIEW_MATCH_FILES = 100_000

const silentLogger: ListenerLogger = { debug() {}, info() {}, warn() {}, error() {} }

/**
 * Change review notifications: when a transaction submits a changelist,
 * the change (number, user, client, description, files) is mailed and/or
 * POSTed as signed JSON. See ChangeCollector for what counts as a submit.
 *
 * Delivery is in journal order and idempotent per channel and recipient:
 * a change completed by an entry goes to an outbox; `listen` resolves only
 * when every channel has taken every change in it. When a channel fails,
 * `listen` rejects with ERR_NOTIFY_DELIVERY and the daemon retries it with
 * the same entry: the entry is not collected twice, and channels and
 * recipients that have already taken the change are not asked again.
 *
 * What was delivered (changes, who has each mail of a half-delivered one,
 * whether its webhook took it, whether the journal has markers) is kept in
 * a DeliveryState, saved atomically and durably after every mail someone
 * took and every change delivered: in the review state file with
 * `reviews`, else in the delivery state file (`deliveryState`, default
 * beside the daemon's state file). A restart, which replays from the
 * daemon's last commit, skips all of it. A listener created without a
 * daemon state path and without `deliveryState` (library use) keeps it in
 * memory only. Receivers can still dedupe on the change number (webhook
 * `deliveryId` `change-N`, the mail's Message-ID and X-Logdaemon-Change
 * header): a mail the server took just before a kill -9, before its save,
 * is sent again.
 */
export class NotifyListener implements Listener {
  readonly name: string
  readonly #collector: ChangeCollector
  readonly #filter: ((change: SubmittedChange) => boolean) | null
  /** Changes the admin let through (`skipChanges`): never sent. */
  readonly #skipChanges: ReadonlySet<number>
  readonly #smtp: SmtpSender | null
  readonly #webhook: WebhookSender | null
  readonly #unmarked: NotifyOptions['unmarked']
  readonly #reviews: ReviewMailer | null
  readonly #encoding: NotifyOptions['encoding']
  readonly #maxFiles: number
  readonly #baseDir: string
  readonly #server: JournalLayout | null
  readonly #outbox: Outgoing[] = []
  /** Changes a quiet completed (a journal without markers) not yet in the outbox: see #deliverQuiet. */
  readonly #quietChanges: SubmittedChange[] = []
  readonly #delivered = new RecentSet<number>(DELIVERED_MEMORY)
  /** Reported (table, version) pairs, so an unknown layout is logged once, not once per row. */
  readonly #reported = new Set<string>()
  #logger: ListenerLogger = silentLogger
  #signal: AbortSignal | undefined
  /** The last entry collected: a retried `listen` of the same entry only retries delivery. */
  #lastEntry: JournalEntry | null = null
  #refusedRecipients = 0
  /** The last state save: saves run one after the other (the channels of a change deliver concurrently). */
  #saving: Promise<void> = Promise.resolve()
  /** Without `reviews`: what was delivered (with `reviews` the review state holds it). */
  #ownDelivery = new DeliveryState()
  /** Without `reviews`: the delivery state file, or null (kept in memory only). */
  readonly #deliveryPath: string | null
  /** The lock of the state file in use (the review state's or the delivery state's) while open. */
  #lock: StateLock | null = null
  /** The server root the delivery state file belongs to, when known. */
  #deliveryServer: string | null = null

  /** Takes the options as written (defaults are filled in here) or as the daemon validated them. */
  constructor(options: NotifyInput, name = 'notify', context: { baseDir?: string; server?: JournalLayout | null; statePath?: string | null } = {}) {
    const opts = optionsSchema.parse(options)
    this.name = name
    this.#encoding = opts.encoding
    this.#maxFiles = opts.maxFiles
    this.#baseDir = context.baseDir ?? process.cwd()
    this.#server = context.server ?? null
    this.#collector = new ChangeCollector({
      decode: textDecoder(opts.encoding),
      // Reviewers are matched against every file of a change, not only the ones a mail lists.
      maxFiles: opts.reviews ? Math.max(opts.maxFiles, REVIEW_MATCH_FILES) : opts.maxFiles,
      onSkip: (skip) => this.#skipped(skip),
    })
    this.#filter = createChangeFilter(opts.filters)
    this.#skipChanges = new Set(opts.skipChanges ?? [])
    this.#smtp = opts.smtp ? new SmtpSender(opts.smtp) : null
    this.#webhook = opts.webhook ? new WebhookSender(opts.webhook, USER_AGENT) : null
    this.#unmarked = opts.unmarked
    const reviews = reviewsOptionsOf(opts)
    this.#reviews =
      reviews && this.#smtp
        ? new ReviewMailer(
            reviews,
            this.#smtp,
            opts.smtp?.subjectTemplate ?? '',
            { baseDir: this.#baseDir, daemonState: context.statePath ?? null, name },
            opts.maxFiles,
          )
        : null
    this.#deliveryPath = this.#reviews ? null : deliveryStatePath(opts.deliveryState, { baseDir: this.#baseDir, daemonState: context.statePath ?? null, name })
  }

  /** Whether what was delivered is kept in a file (the review state's or the delivery state's): else memory only, as the in-process guards. */
  get #keeps(): boolean {
    return this.#reviews !== null || this.#deliveryPath !== null
  }

  /** What was delivered: the review state's part with `reviews`, else the listener's own. */
  get delivery(): DeliveryState {
    return this.#reviews?.state.delivery ?? this.#ownDelivery
  }

  /** The delivery state file (without `reviews`), or null when it is kept in memory only (or in the review state). */
  get deliveryStatePath(): string | null {
    return this.#deliveryPath
  }

  /** The review mode's state and mailer, or null without `reviews`. */
  get reviews(): ReviewMailer | null {
    return this.#reviews
  }

  /** Changes collected and not yet taken by every channel. */
  get pending(): number {
    return this.#outbox.length + this.#quietChanges.length
  }

  /** Recipients that refused a mail for good (a 5xx to RCPT TO or to the message) since the listener started. */
  get refusedRecipients(): number {
    return this.#refusedRecipients
  }

  async open(context: ListenerContext): Promise<void> {
    this.#logger = context.logger
    this.#signal = context.signal
    // One writer per state file, as the daemon's own and the mirror's: two daemons (of two configurations) given the
    // same reviews.state or deliveryState both mailed every change, and each save replaced the other's.
    const path = this.#reviews?.statePath ?? this.#deliveryPath
    if (path !== null) this.#lock ??= await StateLock.acquire(path)
    try {
      await this.#reviews?.open({
        baseDir: this.#baseDir,
        server: this.#server,
        start: context.start,
        encoding: this.#encoding,
        logger: context.logger,
      })
      await this.#openDelivery(context.logger)
      await this.#checkJournalNumbers()
    } catch (err) {
      await this.#releaseLock()
      throw err
    }
    // A delivery state made after the daemon's (a listener added later, a file moved away) knows of no marker yet.
    if (context.startsAfterMarker) this.delivery.sawMarkers()
    // Known from an earlier process: records a restart note cuts are a dead process's, not an import's.
    if (this.delivery.markers) this.#collector.assumeMarkers()
  }

  /**
   * A state that says changes were delivered through journal N, on a server
   * whose live journal is now an earlier one: its journals were reset, or
   * the server restored from an older checkpoint (journal numbers never go
   * back on one server). Its changes would be taken for delivered until the
   * new journals passed the old position, for weeks of checkpoints maybe,
   * and never sent; the first change past it then stopped the listener
   * (DeliveryMismatch). Refused at once, as the daemon refuses its own
   * state. A server whose files do not say their number (no archive, no
   * journal counter record yet) is not checked.
   */
  async #checkJournalNumbers(): Promise<void> {
    if (this.#server === null) return
    const path = this.#reviews?.statePath ?? this.#deliveryPath ?? 'the delivery state'
    const err = await journalNumberMismatch(this.#server, this.delivery.mailedThrough, path)
    if (err) throw err
  }

  /** Loads the delivery state file, or creates it (so that a path it cannot write fails at start, not at the first mail). */
  async #openDelivery(logger: ListenerLogger): Promise<void> {
    const path = this.#deliveryPath
    if (path === null) return
    const root = this.#server?.root ?? null
    const saved = await readDeliveryState(path)
    if (saved === null) {
      this.#deliveryServer = root
      await writeDeliveryState(path, this.#ownDelivery, root, this.name)
      logger.info({ listener: this.name, statePath: path }, 'notify: delivery state created')
      return
    }
    if (saved.server !== null && root !== null && saved.server !== root) {
      throw new LogdaemonError(
        ErrorCodes.STATE_MISMATCH,
        `notify: the delivery state file ${path} belongs to the server at ${saved.server}, not ${root}: give this listener its own deliveryState`,
        { file: path },
      )
    }
    if (saved.listener !== null && saved.listener !== this.name) {
      throw new LogdaemonError(
        ErrorCodes.STATE_MISMATCH,
        `notify: the delivery state file ${path} belongs to the listener "${saved.listener}", not "${this.name}": give each listener its own deliveryState`,
        { file: path },
      )
    }
    this.#ownDelivery = saved.state
    this.#deliveryServer = saved.server ?? root
    const m = saved.state.mailedThrough
    logger.info(
      { listener: this.name, statePath: path, mailedThrough: m === null ? null : formatPosition(m), markers: saved.state.markers },
      'notify: delivery state loaded',
    )
  }

  isHandled(entry: JournalEntry): boolean {
    return ChangeCollector.wants(entry) || (this.#reviews?.wants(entry) ?? false)
  }

  async listen(entry: JournalEntry): Promise<void> {
    // A quiet whose delivery failed part way goes on first: its changes come before this entry.
    if (this.#quietChanges.length > 0) await this.#deliverQuiet()
    if (entry !== this.#lastEntry) {
      this.#lastEntry = entry
      // Review state first: a transaction's own Reviews edits count from the next change on either way. They are
      // applied when their transaction commits (or, without markers, when the journal goes quiet).
      this.#reviews?.see(entry, this.#collector.sawMarkers || this.delivery.markers)
      if (ChangeCollector.wants(entry)) {
        const changes = this.#collector.add(entry)
        // Kept in the delivery state, so that a restart in the middle of a transaction still waits for its marker.
        if (this.#collector.sawMarkers) this.delivery.sawMarkers()
        this.#enqueue(changes)
      }
    }
    await this.#flush()
  }

  async noData(hadData: boolean): Promise<void> {
    // A quiet pause inside a transaction p4d is still writing (a journal with markers) is not an unmarked import.
    // Known from the delivery state too: restarted at a consistency point, this process has read no marker yet.
    const markers = this.#collector.sawMarkers || this.delivery.markers
    const unmarked = hadData && this.#unmarked === 'when-quiet' && !markers
    if (unmarked && this.#collector.hasUnmarked) {
      this.#logger.debug({ listener: this.name }, 'journal quiet: records without a closing @ex@ handled as one transaction')
      for (const change of this.#collector.flushUnmarked()) this.#quietChanges.push(change)
    }
    await this.#deliverQuiet()
    // The edits after the last change, once its mails are out: a save while they go out must not hold them (a
    // replay after a kill -9 would count them for that change).
    if (unmarked) this.#reviews?.flushUnmarked()
  }

  /**
   * The changes a quiet completed in a journal without markers, one at a
   * time, in journal order (each at its db.change row): each is mailed by
   * the Reviews lines written before it, not by edits after it in the same
   * quiet, and its mails go out before those edits are applied, so that no
   * save while they go out holds them (a replay after a kill -9, reading
   * more at once, would otherwise count them for it).
   */
  async #deliverQuiet(): Promise<void> {
    await this.#flush()
    for (;;) {
      const change = this.#quietChanges.shift()
      if (change === undefined) return
      this.#reviews?.flushUnmarked(change.position)
      this.#enqueue([change])
      await this.#flush()
    }
  }

  /** The daemon commits a position only after this resolves: nothing undelivered may lie before it. */
  async sync(position?: JournalPosition): Promise<void> {
    await this.#deliverQuiet()
    // The Reviews edits applied since the last change was delivered, and that the journal has markers.
    await this.#save()
    // How far the review state has seen the journal: a daemon that resumes past it ran without this listener.
    if (position && this.#reviews) await this.#reviews.readThrough(position)
  }

  async close(): Promise<void> {
    if (this.pending > 0) {
      this.#logger.warn(
        { listener: this.name, changes: [...this.#outbox.map((o) => o.change.change), ...this.#quietChanges.map((c) => c.change)] },
        'closing with undelivered changes: they are sent again when the daemon replays from its last commit',
      )
    }
    this.#smtp?.close()
    await this.#releaseLock()
  }

  async #releaseLock(): Promise<void> {
    const lock = this.#lock
    this.#lock = null
    await lock?.release()
  }

  /** Whether the delivery state has the change (a replay); ERR_STATE_MISMATCH, not retried, when the replay contradicts it. */
  #seen(delivery: DeliveryState, change: SubmittedChange): boolean {
    try {
      return delivery.seen(change)
    } catch (err) {
      if (!(err instanceof DeliveryMismatch)) throw err
      const path = this.#reviews?.statePath ?? this.#deliveryPath ?? 'the delivery state'
      const { last, found } = err
      const at = found.position.journal === null ? null : { journal: found.position.journal, offset: found.position.end }
      throw new LogdaemonError(
        ErrorCodes.STATE_MISMATCH,
        `notify: ${path} says the change delivered last was change ${last.change} by ${last.user}, completed at ${formatPosition(last.at)}, ` +
          `but ${err.message}: change ${found.change}${found.user === undefined ? '' : ` by ${found.user}`} completed at ${at ? formatPosition(at) : 'an unknown position'}. ` +
          'The journals are not the ones this state was saved from (a server reset or restored, its journals numbered again): ' +
          `its changes would be taken for delivered and never sent. Move ${path} away and restart (the changes the daemon reads are then sent), ` +
          'or give the daemon the journals the state was saved from',
        { file: path, ...(at ? { journal: at.journal, offset: at.offset } : {}), retryable: false },
      )
    }
  }

  #enqueue(changes: readonly SubmittedChange[]): void {
    for (const change of changes) {
      if (this.#delivered.has(change.change)) {
        this.#logger.debug({ listener: this.name, change: change.change }, 'change already delivered by this process: not sent again')
        continue
      }
      const delivery = this.delivery
      if (this.#seen(delivery, change)) {
        this.#logger.debug({ listener: this.name, change: change.change }, 'change delivered before the restart (delivery state): not sent again')
        continue
      }
      if (this.#skipChanges.has(change.change)) {
        this.#logger.warn({ listener: this.name, change: change.change }, `change ${change.change} is in skipChanges: not sent`)
        continue
      }
      if (this.#filter && !this.#filter(change)) {
        this.#logger.debug({ listener: this.name, change: change.change }, 'change filtered out')
        continue
      }
      const channels = new Set<Channel>()
      if (this.#smtp?.hasRecipients) channels.add('smtp')
      // A webhook that took the change before a restart (its mails were still under way) is not POSTed again.
      const webhook = delivery.webhookDone(change)
      if (this.#webhook && !webhook) channels.add('webhook')
      if (this.#reviews && change.files.length < change.fileCount) {
        // Past REVIEW_MATCH_FILES the files are counted, not kept: a reviewer whose lines match only those is not mailed.
        this.#logger.warn(
          { listener: this.name, change: change.change, files: change.fileCount, matched: change.files.length },
          `change ${change.change} has ${change.fileCount} files: Reviews lines were matched against its first ${change.files.length} only, ` +
            'so a reviewer whose lines match only the others is not mailed (p4 reviews -c shows them all)',
        )
      }
      const reviews = this.#reviews?.mailsFor(change, this.name) ?? []
      if (reviews.length > 0) channels.add('reviews')
      if (channels.size > 0) this.#outbox.push({ change, channels, reviews, done: delivery.progressOf(change), webhook })
    }
  }

  /**
   * Delivers the outbox in order. The channels of one change are tried
   * together, so a mail server that is down does not hold back that
   * change's webhook; a channel that took the change is not asked again.
   * Stops at the first change a channel failed (later ones wait for the retry).
   */
  async #flush(): Promise<void> {
    while (this.#outbox.length > 0) {
      const out = this.#outbox[0] as Outgoing
      const channels = [...out.channels]
      const results = await Promise.allSettled(channels.map((c) => this.#deliver(c, out.change, out)))
      const failures: Error[] = []
      results.forEach((r, i) => {
        if (r.status === 'fulfilled') out.channels.delete(channels[i] as Channel)
        else failures.push(toError(r.reason))
      })
      if (failures.length > 0) {
        // Who has the mail already, saved: a restart (after the daemon gave up retrying) sends only to the others.
        await this.#saveProgress(out, false)
        // The first failure goes to the daemon (and its retry); the others are logged here.
        for (const err of failures.slice(1)) this.#logger.warn({ listener: this.name, err }, err.message)
        throw failures[0]
      }
      // Saved after each change, not only when the daemon commits: a journal without markers has no point to commit at.
      if (this.#keeps) this.delivery.mailedChange(out.change)
      await this.#save()
      this.#outbox.shift()
      this.#delivered.add(out.change.change)
      this.#logger.info({ listener: this.name, change: out.change.change, user: out.change.user, files: out.change.fileCount }, 'change notified')
    }
  }

  async #deliver(channel: Channel, change: SubmittedChange, out: Outgoing): Promise<void> {
    if (channel === 'reviews') {
      // Every mail of the change is tried: one reviewer's full mailbox does not hold back the others' mail of it.
      const deferred: RecipientRefusal[] = []
      // A reviewer's address done with another review mail of the change (its Message-ID changed across a restart) is done.
      const left = (this.#reviews as ReviewMailer).recipientsLeft(out.reviews, out.done)
      for (const [i, mail] of out.reviews.entries()) deferred.push(...(await this.#mail(out, mail.mail, left[i] ?? [], mail.users)))
      if (deferred.length > 0) throw this.#deferred('reviews', change, deferred)
      return
    }
    // The team list and the webhook list at most maxFiles, as before review matching needed them all.
    const listed = change.files.length > this.#maxFiles ? { ...change, files: change.files.slice(0, this.#maxFiles), filesComplete: false } : change
    if (channel === 'smtp') {
      const smtp = this.#smtp as SmtpSender
      const message = smtp.teamMail(listed, this.name)
      const deferred = await this.#mail(out, message, smtp.recipientsOf(message), null)
      if (deferred.length > 0) throw this.#deferred('smtp', change, deferred)
      return
    }
    await (this.#webhook as WebhookSender).send(changePayload(listed, this.name, new Date()), this.#signal)
    out.webhook = true
    // Saved when mails of the change are under way too (else the change's own save follows at once).
    if (out.channels.size > 1) await this.#saveProgress(out)
  }

  /**
   * Sends one message of a change to its recipients that are not done with
   * it yet; returns those that deferred it (4xx). A recipient refused for
   * good (5xx to RCPT TO or to the message) is logged as an error and
   * counted, and never tried again: one bad address must not hold back
   * everyone else's mail. A failed session rejects (retried).
   */
  async #mail(out: Outgoing, message: OutgoingMail, recipients: readonly string[], reviewers: readonly string[] | null): Promise<RecipientRefusal[]> {
    const change = out.change.change
    let done = out.done.get(message.messageId)
    if (done === undefined) out.done.set(message.messageId, (done = new Set()))
    const todo = recipients.filter((a) => !(done as Set<string>).has(a))
    if (todo.length === 0) return []
    const outcome = await (this.#smtp as SmtpSender).deliver(message, change, todo)
    for (const a of outcome.accepted) done.add(a)
    for (const r of outcome.refused) done.add(r.address)
    // Saved as soon as anyone has the mail, before the next one goes out: a kill -9 now re-sends none of it.
    if (outcome.accepted.length > 0 || outcome.refused.length > 0) await this.#saveProgress(out)
    if (outcome.accepted.length > 0) {
      this.#logger.info(
        { listener: this.name, change, recipients: outcome.accepted, ...(reviewers ? { reviewers } : {}) },
        reviewers ? 'review mail sent' : 'mail sent',
      )
    }
    for (const r of outcome.refused) {
      this.#refusedRecipients++
      this.#logger.error(
        { listener: this.name, change, recipient: r.address, command: r.command, reply: r.reply, ...(reviewers ? { reviewers } : {}) },
        `mail for change ${change} to ${r.address} refused for good at ${r.command}: ${r.reply}; not retried (fix or remove the address)`,
      )
    }
    return [...outcome.deferred]
  }

  /** The error of a change some recipients deferred (4xx): retried with backoff, for them only. */
  #deferred(channel: Channel, change: SubmittedChange, deferred: readonly RecipientRefusal[]): LogdaemonError {
    const who = deferred.map((r) => `${r.address} (${r.reply})`).join(', ')
    return new LogdaemonError(
      ErrorCodes.NOTIFY_DELIVERY,
      `mail for change ${change.change} was not taken for ${who}; the others have it. The daemon retries these recipients with backoff; ` +
        'when a mailbox stays unavailable (full, over quota), fix or remove the address, and when the reply is a policy (5.7.x: relay, ' +
        `authentication), fix the SMTP settings or the server: later changes wait for this one (if it can never pass, add ${change.change} to the listener's skipChanges)`,
      { details: { channel, change: change.change, recipients: deferred.map((r) => r.address) } },
    )
  }

  /**
   * Saves the state that holds the deliveries when it changed, after any
   * save under way (atomically and durably: writeReviewState, writeDeliveryState).
   */
  #save(): Promise<void> {
    const reviews = this.#reviews
    const path = this.#deliveryPath
    let save: () => Promise<void>
    if (reviews !== null) save = () => reviews.save()
    else if (path !== null)
      save = () => (this.#ownDelivery.dirty ? writeDeliveryState(path, this.#ownDelivery, this.#deliveryServer, this.name) : Promise.resolve())
    else return Promise.resolve()
    const next = this.#saving.then(save, save)
    this.#saving = next.catch(() => {})
    return next
  }

  /**
   * Saves which recipients have each mail of a change so far, and whether
   * its webhook took it. Between two mails (`between`) a failed save stops
   * the change (ERR_STATE_WRITE, retried by the daemon): the next mail
   * must not go out while a restart would send the last one again. After
   * a delivery failure it is only logged: that failure is the one to report.
   */
  async #saveProgress(out: Outgoing, between = true): Promise<void> {
    if (!this.#keeps) return
    this.delivery.recordProgress(out.change, out.done, out.webhook)
    try {
      await this.#save()
    } catch (err) {
      const cause = toError(err)
      if (between) {
        throw new LogdaemonError(
          ErrorCodes.STATE_WRITE,
          `could not save who has the mail of change ${out.change.change} (${cause.message}): no more of its mail goes out until it is saved, ` +
            'since a restart would send again what went out (the daemon retries; who has it is kept in memory meanwhile)',
          { cause, details: { change: out.change.change } },
        )
      }
      this.#logger.warn({ listener: this.name, change: out.change.change, err: cause.message }, 'could not save the mail progress')
    }
  }

  #skipped(skip: CollectorSkip): void {
    const where = skip.position ? formatWhere(skip.position) : undefined
    if (skip.reason === 'unknown-version') {
      // Once per table version: a journal of an unknown schema has thousands of such rows.
      const key = `${skip.table}:${String(skip.version)}`
      if (this.#reported.has(key)) return
      this.#reported.add(key)
      this.#logger.warn(
        { listener: this.name, table: skip.table, version: skip.version, at: where },
        `${skip.detail}: its rows are skipped (logged once per table version); notifications may lack files or changes`,
      )
      return
    }
    this.#logger.warn({ listener: this.name, reason: skip.reason, table: skip.table, at: where }, skip.detail)
  }
}

/** The daemon's factory for the built-in `notify` listener. */
export function create(
  options: NotifyOptions,
  context: { name: string; baseDir?: string; server?: JournalLayout | null; statePath?: string | null },
): Listener {
  return new NotifyListener(options, context.name, context)
}
