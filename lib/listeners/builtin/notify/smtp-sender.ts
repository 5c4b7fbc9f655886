import nodemailer, { type Transporter } from 'nodemailer'
import addressparser from 'nodemailer/lib/addressparser'
import { ErrorCodes, LogdaemonError, toError } from '../../../errors.js'
import type { SubmittedChange } from './change-collector.js'
import { deliveryIdOf, renderSubject, renderText } from './change-message.js'
import { normalizeAddress } from './mail-address.js'
import { DEFAULT_DEADLINE_MS } from './notify-options.js'
import { outcomeOfError, outcomeOfInfo, type MailOutcome } from './smtp-outcome.js'

export type { MailOutcome, RecipientRefusal } from './smtp-outcome.js'

export interface SmtpOptions {
  host: string
  port: number
  secure: boolean
  requireTLS: boolean
  auth?: { user: string; pass: string } | undefined
  from: string
  to?: readonly string[] | undefined
  subjectTemplate: string
  timeoutMs: number
  /** The longest one message's session may take; default DEFAULT_DEADLINE_MS, or timeoutMs when that is longer. */
  deadlineMs?: number | undefined
}

/**
 * Mails changes through one SMTP server with nodemailer (a connection per
 * message, no pool: changes are rare and a pooled idle connection would be
 * dropped by most servers anyway). A message's outcome is told per
 * recipient (MailOutcome): nodemailer resolves when at least one recipient
 * took it, so a refused recipient is never taken for a delivered one.
 * A failed session (no connection, a timeout, AUTH or MAIL FROM refused)
 * rejects with ERR_NOTIFY_DELIVERY.
 *
 * The Message-ID is derived from the change number and the sender's domain,
 * so a change sent again after a crash carries the same Message-ID and mail
 * clients that deduplicate by it show it once.
 */
/** A message prepared by the caller (review mode). */
export interface OutgoingMail {
  readonly to: readonly string[]
  readonly cc: readonly string[]
  readonly bcc: readonly string[]
  readonly subject: string
  readonly text: string
  readonly messageId: string
  readonly headers: Readonly<Record<string, string>>
}

export class SmtpSender {
  readonly #options: SmtpOptions
  readonly #transport: Transporter

  constructor(options: SmtpOptions) {
    this.#options = { ...options, to: [...(options.to ?? [])] }
    const o = this.#options
    this.#transport = nodemailer.createTransport({
      host: o.host,
      port: o.port,
      secure: o.secure,
      requireTLS: o.requireTLS,
      ...(o.auth ? { auth: { user: o.auth.user, pass: o.auth.pass } } : {}),
      connectionTimeout: o.timeoutMs,
      greetingTimeout: o.timeoutMs,
      socketTimeout: o.timeoutMs,
    })
  }

  /** Whether the fixed recipient list is set (review mode mails reviewers instead). */
  get hasRecipients(): boolean {
    return (this.#options.to?.length ?? 0) > 0
  }

  /** The domain Message-IDs are made in: the sender's. */
  get domain(): string {
    return domainOf(this.#options.from)
  }

  /** The team-list message of a change: the fixed recipients, laid out like `p4 describe -s`, a Message-ID per change. */
  teamMail(change: SubmittedChange, listener: string): OutgoingMail {
    const o = this.#options
    return {
      to: [...(o.to ?? [])],
      cc: [],
      bcc: [],
      subject: renderSubject(o.subjectTemplate, change),
      text: renderText(change),
      messageId: `<logdaemon.${deliveryIdOf(change)}@${domainOf(o.from)}>`,
      headers: {
        'X-Logdaemon-Change': String(change.change),
        'X-Logdaemon-Delivery': deliveryIdOf(change),
        'X-Logdaemon-Listener': listener,
      },
    }
  }

  /**
   * The plain addresses a message goes to (To, Cc, Bcc; `Name <a@x>` gives
   * `a@x`), each once, as the envelope carries them (`normalizeAddress`:
   * `Bob@Example.COM` is `Bob@example.com`).
   */
  recipientsOf(message: OutgoingMail): string[] {
    const out = new Set<string>()
    for (const entry of [...message.to, ...message.cc, ...message.bcc]) {
      for (const a of addressparser(entry, { flatten: true })) if (a.address) out.add(normalizeAddress(a.address))
    }
    return [...out]
  }

  /** Mails a change to the team list (`smtp.to`): `deliver` of `teamMail`. */
  async send(change: SubmittedChange, listener: string): Promise<MailOutcome> {
    const message = this.teamMail(change, listener)
    return await this.deliver(message, change.change, this.recipientsOf(message))
  }

  /**
   * Sends one message to `recipients` (the SMTP envelope; by default all of
   * the message's own). The headers stay those of the message, so a retry to
   * the recipients that were refused is the same mail, Message-ID included,
   * and those that took it do not get it again.
   *
   * Resolves with who took it, who refused it for good and who deferred it
   * (see MailOutcome). Rejects with ERR_NOTIFY_DELIVERY (retried) when the
   * session failed: no connection, a timeout, the greeting, EHLO, STARTTLS,
   * AUTH or MAIL FROM refused (whatever the code: nothing was said about a
   * recipient, so nothing may be dropped), every recipient refused by a
   * policy (relay access denied), or a 4xx or policy reply to the message.
   */
  async deliver(message: OutgoingMail, change: number, recipients: readonly string[] = this.recipientsOf(message)): Promise<MailOutcome> {
    const o = this.#options
    const deadlineMs = o.deadlineMs ?? Math.max(DEFAULT_DEADLINE_MS, o.timeoutMs)
    // In the envelope's own form, so that nodemailer's report names them as they are asked for.
    recipients = [...new Set(recipients.map(normalizeAddress))]
    if (recipients.length === 0) return { accepted: [], refused: [], deferred: [] }
    let info: unknown
    try {
      info = await this.#transport.sendMail({
        signal: AbortSignal.timeout(deadlineMs),
        from: o.from,
        ...(message.to.length > 0 ? { to: [...message.to] } : {}),
        ...(message.cc.length > 0 ? { cc: [...message.cc] } : {}),
        ...(message.bcc.length > 0 ? { bcc: [...message.bcc] } : {}),
        envelope: { from: o.from, to: [...recipients] },
        subject: message.subject,
        text: message.text,
        messageId: message.messageId,
        headers: { ...message.headers },
      })
    } catch (err) {
      const outcome = outcomeOfError(err, recipients)
      if (outcome !== null) return outcome
      const e = toError(err)
      const command = (err as { command?: unknown }).command
      const aborted = (err as { code?: unknown }).code === 'EABORT'
      const why = aborted ? `did not finish within deadlineMs (${deadlineMs} ms); the connection was closed` : e.message
      throw new LogdaemonError(
        ErrorCodes.NOTIFY_DELIVERY,
        `mail for change ${change} via ${o.host}:${o.port} failed${typeof command === 'string' && command !== 'API' ? ` at ${command}` : ''}: ${why}. ` +
          "Check the SMTP settings and that the server accepts mail from this host; the daemon retries with backoff (a change that can never pass: add it to the listener's skipChanges)",
        { cause: e, details: { channel: 'smtp', change, host: o.host, port: o.port } },
      )
    }
    return outcomeOfInfo(info, recipients)
  }

  close(): void {
    this.#transport.close()
  }
}

/** The domain of an address such as `P4 <p4@example.com>`, or `localhost`. */
function domainOf(address: string): string {
  const m = /@([^\s>]+)>?\s*$/.exec(address)
  return m?.[1] ?? 'localhost'
}
