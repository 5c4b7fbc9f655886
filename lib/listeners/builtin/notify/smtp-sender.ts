import nodemailer, { type Transporter } from 'nodemailer'
import { ErrorCodes, LogdaemonError, toError } from '../../../errors.js'
import type { SubmittedChange } from './change-collector.js'
import { deliveryIdOf, renderSubject, renderText } from './change-message.js'

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
}

/**
 * Mails changes through one SMTP server with nodemailer (a connection per
 * message, no pool: changes are rare and a pooled idle connection would be
 * dropped by most servers anyway). A refused connection, a timeout or a
 * rejected recipient list rejects with ERR_NOTIFY_DELIVERY.
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

  async send(change: SubmittedChange, listener: string): Promise<void> {
    const o = this.#options
    if (!this.hasRecipients) return
    try {
      await this.#transport.sendMail({
        from: o.from,
        to: [...(o.to ?? [])],
        subject: renderSubject(o.subjectTemplate, change),
        text: renderText(change),
        messageId: `<logdaemon.${deliveryIdOf(change)}@${domainOf(o.from)}>`,
        headers: {
          'X-Logdaemon-Change': String(change.change),
          'X-Logdaemon-Delivery': deliveryIdOf(change),
          'X-Logdaemon-Listener': listener,
        },
      })
    } catch (err) {
      const e = toError(err)
      throw new LogdaemonError(
        ErrorCodes.NOTIFY_DELIVERY,
        `mail for change ${change.change} via ${o.host}:${o.port} failed: ${e.message}. ` +
          'Check the SMTP settings and that the server accepts mail from this host; the daemon retries with backoff',
        { cause: e, details: { channel: 'smtp', change: change.change, host: o.host, port: o.port } },
      )
    }
  }

  /**
   * Sends one prepared message (review mode): its own recipients, subject,
   * body and Message-ID. Rejects with ERR_NOTIFY_DELIVERY as `send` does.
   */
  async sendMessage(message: OutgoingMail, change: number): Promise<void> {
    const o = this.#options
    try {
      await this.#transport.sendMail({
        from: o.from,
        ...(message.to.length > 0 ? { to: [...message.to] } : {}),
        ...(message.cc.length > 0 ? { cc: [...message.cc] } : {}),
        ...(message.bcc.length > 0 ? { bcc: [...message.bcc] } : {}),
        subject: message.subject,
        text: message.text,
        messageId: message.messageId,
        headers: { ...message.headers },
      })
    } catch (err) {
      const e = toError(err)
      // A 5xx reply (unknown mailbox, bad address) will not change on a retry; a 4xx or a lost connection may.
      const code = (err as { responseCode?: unknown }).responseCode
      const permanent = typeof code === 'number' && code >= 500 && code < 600
      throw new LogdaemonError(
        ErrorCodes.NOTIFY_DELIVERY,
        `review mail for change ${change} to ${[...message.to, ...message.bcc].join(', ')} via ${o.host}:${o.port} failed: ${e.message}` +
          (permanent
            ? ' (a permanent refusal: not retried)'
            : '. Check the SMTP settings and that the server accepts mail from this host; the daemon retries with backoff'),
        { cause: e, retryable: !permanent, details: { channel: 'smtp', change, host: o.host, port: o.port } },
      )
    }
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
