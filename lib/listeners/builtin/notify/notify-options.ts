import { z } from 'zod'
import { msSchema } from '../../../timer-ms.js'
import { pathSchema } from '../../../path-schema.js'
import { DEFAULT_SUBJECT } from './change-message.js'

/**
 * How long one message's SMTP session may take in all by default (or
 * `timeoutMs`, when that is longer): `timeoutMs` bounds each wait, but a
 * server that trickles a reply a line at a time (a tarpit) never lets the
 * socket fall idle.
 */
export const DEFAULT_DEADLINE_MS = 300_000

const smtpSchema = z
  .strictObject({
    host: z.string().min(1).default('localhost').describe('SMTP server (relay) host name or address.'),
    port: z.number().int().min(1).max(65_535).default(25).describe('SMTP port: 25 or 587 for STARTTLS/plain, 465 with secure: true.'),
    secure: z
      .boolean()
      .default(false)
      .describe('TLS from the first byte (SMTPS, usually port 465). false: a plain connection, upgraded with STARTTLS when the server offers it.'),
    requireTLS: z.boolean().default(false).describe('With secure: false, fail unless the server upgrades the connection with STARTTLS.'),
    auth: z
      .strictObject({
        user: z.string().min(1).describe('SMTP user name.'),
        pass: z.string().describe('SMTP password.'),
      })
      .optional()
      .describe('SMTP authentication. Absent: send without logging in (a relay that trusts this host).'),
    from: z.string().min(1).describe('Sender address, e.g. "Perforce <p4@example.com>"; its domain also names the Message-ID.'),
    to: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('Recipient addresses (a review list, a team alias). Not needed with `reviews`, which mails each reviewer.'),
    subjectTemplate: z
      .string()
      .min(1)
      .default(DEFAULT_SUBJECT)
      .describe('Subject line; {change}, {user}, {client}, {summary} (first description line), {date} and {files} (file count) are filled in.'),
    timeoutMs: msSchema().positive().default(30_000).describe('Connection, greeting and socket timeout, in milliseconds.'),
    deadlineMs: msSchema()
      .positive()
      .optional()
      .describe(
        `The longest one message may take, from connecting to the answer to its data, in milliseconds; then the connection is closed and the mail retried (a server that trickles its replies never lets timeoutMs fire). Default ${DEFAULT_DEADLINE_MS}, or timeoutMs when that is longer; at least timeoutMs.`,
      ),
  })
  // A deadline inside one wait would cut off a server that answers within timeoutMs (RFC 5321 lets the reply to the
  // data take 10 minutes): a message it took and answered late would be sent again.
  .refine((o) => o.deadlineMs === undefined || o.deadlineMs >= o.timeoutMs, { error: 'deadlineMs must be at least timeoutMs', path: ['deadlineMs'] })
  .describe('Mail each submitted change over SMTP (nodemailer), laid out like `p4 describe -s`.')

const webhookSchema = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
      .refine((u) => !/^[a-z]+:\/\/[^/?#]*@/i.test(u), 'must not hold user:password@ (fetch refuses it); put a token in the query or rely on the signature')
      .describe('Where to POST the change as JSON (http or https). Errors and logs show it without its query.'),
    secret: z
      .string()
      .min(16)
      .describe('Shared secret of the HMAC-SHA256 signature in X-Logdaemon-Signature; at least 16 characters (e.g. `openssl rand -hex 32`).'),
    timeoutMs: msSchema().positive().default(10_000).describe('How long to wait for the answer, in milliseconds; then the attempt fails and is retried.'),
  })
  .describe('POST each submitted change as signed JSON.')

const filtersSchema = z
  .strictObject({
    paths: z
      .array(z.string().min(1))
      .default([])
      .describe('Depot path patterns (`//depot/main/...`, `*` within one directory): notify only changes with a file matching one. Empty: all.'),
    users: z.array(z.string().min(1)).default([]).describe('Perforce users: notify only their changes. Empty: all.'),
  })
  .describe('Which submitted changes to notify; both filters must pass.')

const reviewsSchema = z
  .strictObject({
    state: pathSchema()
      .optional()
      .describe(
        "The review state file (users, addresses, Reviews lines, how far it is applied and mailed), relative to the configuration file. Default: beside the daemon's state file, named after it and the listener (STATE-without-.json.NAME-reviews.json).",
      ),
    checkpoint: pathSchema()
      .optional()
      .describe(
        'The checkpoint to build the state from when there is no state file yet. Default: the checkpoint of the journal the daemon starts from (checkpoint.N or PREFIX.ckp.N, plain or .gz, in the server root).',
      ),
    case: z
      .enum(['auto', 'sensitive', 'insensitive'])
      .default('auto')
      .describe("How the server compares paths and user names; auto: from the checkpoint header's mode flags."),
    includeAuthor: z.boolean().default(false).describe('Mail authors the changes they submit when their own Reviews lines match.'),
    groupIdentical: z
      .boolean()
      .default(false)
      .describe('One mail per change to all reviewers whose matched files are the same (Bcc), instead of one mail per reviewer.'),
    link: z.string().min(1).optional().describe('A link to the change in each mail, {change} filled in, e.g. https://swarm.example.com/changes/{change}.'),
    cc: z.array(z.string().min(1)).default([]).describe('Addresses copied on every review mail (an archive).'),
  })
  .describe('Review mail per user, as the Perforce review daemon sends it: subscriptions from db.review, addresses from db.user.')

/** The `notify` listener's options. */
export const optionsSchema = z
  .strictObject({
    smtp: smtpSchema.optional(),
    webhook: webhookSchema.optional(),
    reviews: z
      .union([z.literal(true), reviewsSchema])
      .optional()
      .describe('true or options: mail each reviewer whose Reviews lines match a submitted change (needs smtp).'),
    deliveryState: pathSchema()
      .optional()
      .describe(
        "Without reviews: the file that keeps what was delivered (changes, who has each mail of a change part delivered, whether the journal has transaction markers), so a restart sends nothing twice; relative to the configuration file. Default: beside the daemon's state file, named after it and the listener (STATE-without-.json.NAME-delivery.json). A listener created by library code without a daemon state path keeps it in memory unless this is set. With reviews, the review state file keeps it (reviews.state).",
      ),
    filters: filtersSchema.prefault({}),
    skipChanges: z
      .array(z.number().int().positive())
      .max(10_000)
      .default([])
      .describe(
        'Changes never to send, by number: the way past a change the mail server or the webhook refuses in a way that will never pass (the daemon stops at it, and its error names it). Each is logged as skipped.',
      ),
    encoding: z
      .enum(['utf8', 'windows-1252', 'latin1'])
      .default('utf8')
      .describe("Encoding of text in the journal: utf8 for Unicode-mode servers, else the server's code page."),
    maxFiles: z
      .number()
      .int()
      .positive()
      .default(1000)
      .describe('Files listed per change; more are counted ("and N more"). Bounds memory and mail size for huge submits.'),
    unmarked: z
      .enum(['when-quiet', 'never'])
      .default('when-quiet')
      .describe(
        'Records no @ex@ marker followed (journals written by import tools): "when-quiet" treats them as one transaction once the journal has been quiet (only in a journal where no marker was seen: with markers, they are a transaction p4d is still writing); "never" ignores them.',
      ),
  })
  .refine((o) => o.smtp !== undefined || o.webhook !== undefined, {
    message: 'notify needs "smtp", "webhook" or both',
    path: ['smtp'],
  })
  .refine((o) => o.reviews === undefined || o.smtp !== undefined, { message: 'reviews needs "smtp"', path: ['smtp'] })
  .refine((o) => o.reviews === undefined || o.deliveryState === undefined, {
    message: 'with "reviews" the review state file keeps the deliveries: set reviews.state, not deliveryState',
    path: ['deliveryState'],
  })
  .refine((o) => o.reviews !== undefined || o.smtp === undefined || (o.smtp.to?.length ?? 0) > 0, {
    message: 'smtp needs "to" (or turn on "reviews")',
    path: ['smtp', 'to'],
  })
  .describe('notify: change review notifications by e-mail and/or signed webhook when a changelist is submitted.')

/** The review mode's options after validation. */
export type ReviewsOptions = z.infer<typeof reviewsSchema>

/** The review mode's options with defaults (`reviews: true` is all defaults), or null when it is off. */
export function reviewsOptionsOf(options: { reviews?: true | ReviewsOptions | undefined }): ReviewsOptions | null {
  if (options.reviews === undefined) return null
  return options.reviews === true ? reviewsSchema.parse({}) : options.reviews
}

/** The options after validation, defaults filled in. */
export type NotifyOptions = z.infer<typeof optionsSchema>
/** The options as written in the configuration. */
export type NotifyInput = z.input<typeof optionsSchema>
