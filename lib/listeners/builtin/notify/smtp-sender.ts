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
  to: readonly string[]
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
export class SmtpSender {
  readonly #options: SmtpOptions
  readonly #transport: Transporter

  constructor(options: SmtpOptions) {
    this.#options = { ...options, to: [...options.to] }
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

  async send(change: SubmittedChange, listener: string): Promise<void> {
    const o = this.#options
    try {
      await this.#transport.sendMail({
        from: o.from,
        to: [...o.to],
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

  close(): void {
    this.#transport.close()
  }
}

/** The domain of an address such as `P4 <p4@example.com>`, or `localhost`. */
function domainOf(address: string): string {
  const m = /@([^\s>]+)>?\s*$/.exec(address)
  return m?.[1] ?? 'localhost'
}
