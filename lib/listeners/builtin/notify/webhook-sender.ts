import { createHmac, timingSafeEqual } from 'node:crypto'
import { ErrorCodes, LogdaemonError, toError } from '../../../errors.js'
import { maskUrl } from '../../../mask-url.js'
import type { ChangePayload } from './change-message.js'

export interface WebhookOptions {
  url: string
  secret: string
  timeoutMs: number
}

/** Header with `sha256=` and the hex HMAC-SHA256 of the exact body bytes, keyed with the shared secret. */
export const SIGNATURE_HEADER = 'x-logdaemon-signature'
/** Header with the payload's `deliveryId` (`change-N`). */
export const DELIVERY_HEADER = 'x-logdaemon-delivery'
/** Header with the send time in epoch seconds (also in the signed body as `sentAt`). */
export const TIMESTAMP_HEADER = 'x-logdaemon-timestamp'
/** Header with the payload's `event`. */
export const EVENT_HEADER = 'x-logdaemon-event'

/** `sha256=<hex>` for `body`. */
export function signBody(secret: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`
}

/** What a receiver does: recompute the signature over the raw body and compare in constant time. */
export function verifySignature(secret: string, body: Buffer | string, header: string | null | undefined): boolean {
  if (typeof header !== 'string') return false
  const expected = Buffer.from(signBody(secret, body))
  const got = Buffer.from(header)
  return got.length === expected.length && timingSafeEqual(got, expected)
}

/** The URL without user info, query or fragment, and its path masked after the first segment (see maskUrl): safe to log. */
function safeUrl(url: string): string {
  const u = new URL(url)
  return maskUrl(`${u.origin}${u.pathname}`)
}

/** How much of an error response body goes into the error message. */
const ERROR_BODY_CHARS = 200
/** How much of an error response body is read for it (UTF-8 takes up to 4 bytes a character); the rest is never downloaded. */
const ERROR_BODY_BYTES = 4 * ERROR_BODY_CHARS + 4

/**
 * The start of a response body, as text: at most ERROR_BODY_BYTES are read,
 * then the body is cancelled, so an error page of any size (or one that
 * never ends) costs no memory; '' when it cannot be read.
 */
async function bodyStart(res: Response): Promise<string> {
  const reader = res.body?.getReader()
  if (reader === undefined) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    while (size < ERROR_BODY_BYTES) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
    }
  } catch {
    // A body cut or timed out: what arrived is enough.
  } finally {
    await reader.cancel().catch(() => {})
  }
  return Buffer.concat(chunks).subarray(0, ERROR_BODY_BYTES).toString('utf8')
}

/**
 * POSTs change payloads as JSON, signed. Any 2xx is success; anything else
 * (redirects included: they are not followed, a POST must not turn into a
 * GET), a network error or the timeout rejects with ERR_NOTIFY_DELIVERY.
 */
export class WebhookSender {
  readonly #options: WebhookOptions
  readonly #userAgent: string

  constructor(options: WebhookOptions, userAgent: string) {
    this.#options = { ...options }
    this.#userAgent = userAgent
  }

  async send(payload: ChangePayload, signal?: AbortSignal): Promise<void> {
    const { url, secret, timeoutMs } = this.#options
    const body = Buffer.from(JSON.stringify(payload), 'utf8')
    const timeout = AbortSignal.timeout(timeoutMs)
    let res: Response
    try {
      res = await fetch(url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        headers: {
          'content-type': 'application/json; charset=utf-8',
          'user-agent': this.#userAgent,
          [SIGNATURE_HEADER]: signBody(secret, body),
          [DELIVERY_HEADER]: payload.deliveryId,
          [TIMESTAMP_HEADER]: String(Math.floor(Date.parse(payload.sentAt) / 1000)),
          [EVENT_HEADER]: payload.event,
        },
      })
    } catch (err) {
      const e = toError(err)
      const why = timeout.aborted ? `no answer within ${timeoutMs} ms` : describeFetchError(e).split(url).join(safeUrl(url))
      throw this.#error(payload, why, null, e)
    }
    if (res.status >= 200 && res.status < 300) {
      await res.body?.cancel()
      return
    }
    const text = await bodyStart(res)
    const excerpt = text.length > ERROR_BODY_CHARS ? `${text.slice(0, ERROR_BODY_CHARS)}…` : text
    throw this.#error(payload, `HTTP ${res.status}${excerpt ? `: ${excerpt}` : ''}`, res.status)
  }

  #error(payload: ChangePayload, why: string, status: number | null, cause?: Error): LogdaemonError {
    const url = safeUrl(this.#options.url)
    return new LogdaemonError(
      ErrorCodes.NOTIFY_DELIVERY,
      `webhook POST of change ${payload.change.number} to ${url} failed: ${why}. ` +
        "Check that the receiver is up and answers 2xx; the daemon retries with backoff and sends the change again (a change the receiver will never take: add it to the listener's skipChanges)",
      { cause, details: { channel: 'webhook', change: payload.change.number, url, status } },
    )
  }
}

/** undici's `fetch failed` hides the reason in `cause`. */
function describeFetchError(err: Error): string {
  const cause = (err as { cause?: unknown }).cause
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code
    return code ? `${code} (${cause.message})` : cause.message
  }
  return err.message
}
