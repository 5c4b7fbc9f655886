/** One recipient the SMTP server did not take, with its reply. */
export interface RecipientRefusal {
  readonly address: string
  /** The reply code (`452`, `550`), or null when there was none. */
  readonly code: number | null
  /** The server's reply line, or nodemailer's message when the server gave none. */
  readonly reply: string
  /** The command the server refused: `RCPT TO` (the recipient) or `DATA` (the message). */
  readonly command: string
}

/**
 * What one message did per recipient. A recipient is in exactly one list:
 * `accepted` (the server took it), `refused` (refused for good: a 5xx to its
 * RCPT TO, or a 5xx to the message's DATA, which no retry of the same
 * message changes) or `deferred` (a 4xx to its RCPT TO: try again later).
 */
export interface MailOutcome {
  readonly accepted: readonly string[]
  readonly refused: readonly RecipientRefusal[]
  readonly deferred: readonly RecipientRefusal[]
}

/** The fields nodemailer puts on its errors and results that say who was refused and how. */
interface SmtpReplyError {
  readonly message?: unknown
  readonly code?: unknown
  readonly command?: unknown
  readonly responseCode?: unknown
  readonly response?: unknown
  readonly recipient?: unknown
  readonly rejected?: unknown
  readonly rejectedErrors?: unknown
}

const isObject = (value: unknown): value is SmtpReplyError => typeof value === 'object' && value !== null

const permanent = (code: number | null): boolean => code !== null && code >= 500 && code < 600

function refusalOf(err: SmtpReplyError, address: string): RecipientRefusal {
  const code = typeof err.responseCode === 'number' ? err.responseCode : null
  const reply = typeof err.response === 'string' ? err.response : String(err.message ?? 'refused')
  return { address, code, reply, command: typeof err.command === 'string' ? err.command : 'RCPT TO' }
}

/** Splits refused recipients (nodemailer's `rejectedErrors`) into refused for good (5xx) and deferred (anything else). */
function splitRefusals(errors: unknown, rejected: unknown): { refused: RecipientRefusal[]; deferred: RecipientRefusal[] } {
  const refused: RecipientRefusal[] = []
  const deferred: RecipientRefusal[] = []
  const seen = new Set<string>()
  for (const e of Array.isArray(errors) ? errors : []) {
    if (!isObject(e) || typeof e.recipient !== 'string') continue
    const r = refusalOf(e, e.recipient)
    seen.add(r.address)
    ;(permanent(r.code) ? refused : deferred).push(r)
  }
  // A rejected address without its error (not seen from nodemailer, but its types allow it): no code, so retried.
  for (const address of Array.isArray(rejected) ? rejected : []) {
    if (typeof address === 'string' && !seen.has(address)) deferred.push({ address, code: null, reply: 'refused', command: 'RCPT TO' })
  }
  return { refused, deferred }
}

/** The outcome of a message nodemailer reports as sent: some recipients may still have been refused at RCPT TO. */
export function outcomeOfInfo(info: unknown, recipients: readonly string[]): MailOutcome {
  const i = isObject(info) ? info : {}
  const { refused, deferred } = splitRefusals(i.rejectedErrors, i.rejected)
  const notTaken = new Set([...refused, ...deferred].map((r) => r.address))
  return { accepted: recipients.filter((a) => !notTaken.has(a)), refused, deferred }
}

/**
 * The outcome of a message nodemailer failed, or null when the failure is
 * the session's (retry it all):
 *
 * - every recipient refused at RCPT TO (`EENVELOPE`, command `RCPT TO`):
 *   each by its own reply, 5xx for good, 4xx deferred;
 * - the message refused at DATA with a 5xx (`552` too big, `554` content
 *   rejected), or larger than the SIZE the server announced: for good, for
 *   every recipient; the same message would be refused again.
 *
 * Everything else is the session's, whatever the code: the greeting,
 * EHLO/HELO, STARTTLS, AUTH and MAIL FROM come before any recipient (a 530
 * to MAIL FROM is a configuration to fix, not a mail to drop), and a 4xx at
 * DATA, a timeout or a lost connection may pass.
 */
export function outcomeOfError(err: unknown, recipients: readonly string[]): MailOutcome | null {
  if (!isObject(err)) return null
  if (err.code === 'EENVELOPE' && err.command === 'RCPT TO' && Array.isArray(err.rejectedErrors)) {
    const { refused, deferred } = splitRefusals(err.rejectedErrors, err.rejected)
    const notTaken = new Set([...refused, ...deferred].map((r) => r.address))
    // Recipients the error does not name were not refused: none, when every one was.
    const unnamed = recipients.filter((a) => !notTaken.has(a)).map((address) => refusalOf(err, address))
    return { accepted: [], refused, deferred: [...deferred, ...unnamed] }
  }
  const code = typeof err.responseCode === 'number' ? err.responseCode : null
  // nodemailer's own check against the size the server announced (SIZE): the message, not the session, is too big.
  const tooBig = err.code === 'EMESSAGE' && err.command === 'MAIL FROM' && code === null
  if ((err.command === 'DATA' && permanent(code)) || tooBig) {
    return { accepted: [], refused: recipients.map((address) => refusalOf(err, address)), deferred: [] }
  }
  return null
}
