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
 * `accepted` (the server took it), `refused` (refused for good, see
 * `judgeReply`: its address or mailbox at RCPT TO, or the message at DATA,
 * which no retry of the same message changes) or `deferred` (try again
 * later: a 4xx, a policy refusal of it while others took the message, or
 * not reported as accepted).
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

/**
 * Who a refusal is about: `final` (this recipient, or this message, for
 * good: logged and skipped), `deferred` (try this recipient again later) or
 * `session` (this host, its sender or its login: a configuration to fix;
 * nothing was said about the recipient, so nothing may be dropped: retried,
 * then the daemon fails; a change that can never pass is let through with
 * the listener's `skipChanges`).
 *
 * Servers word the same refusal differently, so both the reply's enhanced
 * status code (RFC 3463, anywhere in the reply: qmail puts `(#5.7.1)` last)
 * and its words count, the addresses and host names it echoes left out
 * (`<relay@example.com>: user unknown` is about a mailbox):
 *
 * - a phrase that names the relay, the login or the sender (`Relay access
 *   denied`, `relay not permitted`, `rcpthosts`, `authentication required`,
 *   `Sender address rejected`, SPF, DMARC, `not authorized`), or the enhanced
 *   codes 5.1.7 / 5.1.8 (the sender's address): the session's, at any command;
 * - at RCPT TO: 5.1.x and 5.2.x (address, mailbox) final; a reply that
 *   names the recipient or its mailbox (`Recipient address rejected`, `user
 *   unknown`, `mailbox unavailable`: Exchange Online's 5.4.1, Postfix's
 *   per-recipient 5.7.1) final; another enhanced code (5.3, 5.4, 5.5, 5.6,
 *   5.7: routing, protocol, policy) the session's; without one, 550, 551
 *   and 553 final, 552 deferred (RFC 5321 4.5.3.1.10: too many recipients,
 *   taken as 452), any other (554, 530) the session's;
 * - at DATA: final only when the reply is about this message: 552 or 5.3.4
 *   (too big), 5.6.x (its content), or words of content (spam, virus,
 *   content, too big); any other 5xx (a bare 554, an IP or sending-policy
 *   5.7.x) the session's, as it may be the configuration's;
 * - a 4xx: deferred at RCPT TO, the session's at DATA.
 */
export type Verdict = 'final' | 'deferred' | 'session'

/** Phrases of a refusal about the sending host, its login or its sender, not about a recipient or a message. */
const SESSION_PHRASES =
  /relay(ing)? (access )?(denied|not permitted|prohibited)|not permitted to relay|unable to relay|rcpthosts|authenticat\w* (is )?required|auth(entication)? (is )?required|must (first )?authenticate|sender address rejected|sender (is )?not (authori[sz]ed|allowed)|not authori[sz]ed to send|\bspf\b|\bdmarc\b|not authori[sz]ed|not verified/i
/** Words of a refusal about the recipient's address or mailbox. */
const RECIPIENT_WORDS = /recipient|mailbox|user unknown|unknown user|no such user|does not exist|address rejected|invalid address/i
/** Words of a refusal about one message's content or size. */
const CONTENT_WORDS = /spam|virus|malware|content|too (big|large|long)|exceeds|size limit|message size/i
/** An enhanced status code of a permanent failure, anywhere in the reply: `5.1.1`, `(#5.7.1)`. */
const ENHANCED = /(?<![\d.])5\.(\d{1,3})\.(\d{1,3})(?![\d.])/

export function judgeReply(command: string, code: number | null, reply: string): Verdict {
  const data = command === 'DATA'
  if (code === null || code < 500 || code >= 600) return data ? 'session' : 'deferred'
  // The reply without its basic code (`550` itself is not read as words or digits), and without the addresses
  // and host names it echoes: `bob@relay.example.com: user unknown` is about a mailbox, whatever the names say.
  const text = reply
    .replace(/^\d{3}[ -]?/, '')
    .replace(/<[^<>]*>/g, '<>')
    .replace(/\S+@\S+/g, '@')
    .replace(/\[[^\]]*\]/g, '[]')
  if (SESSION_PHRASES.test(text)) return 'session'
  const enhanced = ENHANCED.exec(text)
  const subject = enhanced ? Number(enhanced[1]) : 0
  const detail = enhanced ? Number(enhanced[2]) : 0
  if (subject === 1 && (detail === 7 || detail === 8)) return 'session'
  if (data) {
    if (code === 552 || (subject === 3 && detail === 4) || subject === 6 || CONTENT_WORDS.test(text)) return 'final'
    return 'session'
  }
  if (subject === 1 || subject === 2) return 'final'
  if (subject === 0 && code === 552) return 'deferred'
  if (RECIPIENT_WORDS.test(text)) return 'final'
  if (subject !== 0) return 'session'
  return code === 550 || code === 551 || code === 553 ? 'final' : 'session'
}

function refusalOf(err: SmtpReplyError, address: string): RecipientRefusal {
  const code = typeof err.responseCode === 'number' ? err.responseCode : null
  const reply = typeof err.response === 'string' ? err.response : String(err.message ?? 'refused')
  return { address, code, reply, command: typeof err.command === 'string' ? err.command : 'RCPT TO' }
}

/** Splits refused recipients (nodemailer's `rejectedErrors`) by `judgeReply`. */
function splitRefusals(errors: unknown, rejected: unknown): { refused: RecipientRefusal[]; deferred: RecipientRefusal[]; session: RecipientRefusal[] } {
  const refused: RecipientRefusal[] = []
  const deferred: RecipientRefusal[] = []
  const session: RecipientRefusal[] = []
  const seen = new Set<string>()
  for (const e of Array.isArray(errors) ? errors : []) {
    if (!isObject(e) || typeof e.recipient !== 'string') continue
    const r = refusalOf(e, e.recipient)
    seen.add(r.address)
    const verdict = judgeReply(r.command, r.code, r.reply)
    ;(verdict === 'final' ? refused : verdict === 'deferred' ? deferred : session).push(r)
  }
  // A rejected address without its error (not seen from nodemailer, but its types allow it): no code, so retried.
  for (const address of Array.isArray(rejected) ? rejected : []) {
    if (typeof address === 'string' && !seen.has(address)) deferred.push({ address, code: null, reply: 'refused', command: 'RCPT TO' })
  }
  return { refused, deferred, session }
}

/**
 * The outcome of a message nodemailer reports as sent: some recipients may
 * still have been refused at RCPT TO. A recipient counts as having taken it
 * only when nodemailer lists it in `accepted`; one it does not mention at
 * all is deferred (retried), never assumed delivered. A refusal that is the
 * session's (a relay or policy reply) is deferred too: the others took the
 * message, so it cannot be retried as a whole.
 */
export function outcomeOfInfo(info: unknown, recipients: readonly string[]): MailOutcome {
  const i = isObject(info) ? info : {}
  const { refused, deferred, session } = splitRefusals(i.rejectedErrors, i.rejected)
  const accepted = new Set(Array.isArray((info as { accepted?: unknown } | null)?.accepted) ? ((info as { accepted: unknown[] }).accepted as unknown[]) : [])
  const notTaken = new Set([...refused, ...deferred, ...session].map((r) => r.address))
  const unreported = recipients
    .filter((a) => !notTaken.has(a) && !accepted.has(a))
    .map((address): RecipientRefusal => ({ address, code: null, reply: 'not reported as accepted by the mailer', command: 'RCPT TO' }))
  return { accepted: recipients.filter((a) => !notTaken.has(a) && accepted.has(a)), refused, deferred: [...deferred, ...session, ...unreported] }
}

/**
 * The outcome of a message nodemailer failed, or null when the failure is
 * the session's (retry it all):
 *
 * - every recipient refused at RCPT TO (`EENVELOPE`, command `RCPT TO`):
 *   each by its own reply (`judgeReply`), unless every refusal is the
 *   session's (a relay or authentication policy refuses them all: `554
 *   5.7.1 Relay access denied`), which is the session's failure;
 * - the message refused at DATA for good (`judgeReply`: `552` too big, `554`
 *   or `5.6.x` its content), or larger than the SIZE the server announced:
 *   for good, for every recipient; the same message would be refused again.
 *
 * Everything else is the session's, whatever the code: the greeting,
 * EHLO/HELO, STARTTLS, AUTH and MAIL FROM come before any recipient (a 530
 * to MAIL FROM is a configuration to fix, not a mail to drop), and a 4xx or
 * a policy reply at DATA, a timeout or a lost connection may pass.
 */
export function outcomeOfError(err: unknown, recipients: readonly string[]): MailOutcome | null {
  if (!isObject(err)) return null
  if (err.code === 'EENVELOPE' && err.command === 'RCPT TO' && Array.isArray(err.rejectedErrors)) {
    const { refused, deferred, session } = splitRefusals(err.rejectedErrors, err.rejected)
    if (session.length > 0 && refused.length === 0 && deferred.length === 0) return null
    const notTaken = new Set([...refused, ...deferred, ...session].map((r) => r.address))
    // Recipients the error does not name were not refused: none, when every one was.
    const unnamed = recipients.filter((a) => !notTaken.has(a)).map((address) => refusalOf(err, address))
    return { accepted: [], refused, deferred: [...deferred, ...session, ...unnamed] }
  }
  const code = typeof err.responseCode === 'number' ? err.responseCode : null
  // nodemailer's own check against the size the server announced (SIZE): the message, not the session, is too big.
  const tooBig = err.code === 'EMESSAGE' && err.command === 'MAIL FROM' && code === null
  const reply = typeof err.response === 'string' ? err.response : ''
  if ((err.command === 'DATA' && judgeReply('DATA', code, reply) === 'final') || tooBig) {
    return { accepted: [], refused: recipients.map((address) => refusalOf(err, address)), deferred: [] }
  }
  return null
}
