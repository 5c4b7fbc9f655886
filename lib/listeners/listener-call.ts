import pRetry from 'p-retry'
import { ErrorCodes, LogdaemonError, formatWhere, isLogdaemonError, toError } from '../errors.js'
import type { JournalEntry } from '../journal/entry.js'
import { isRetryable, type RetryOptions } from '../retry.js'

/**
 * The ERR_LISTENER_FAILED error for a listener call that failed for good:
 * names the listener, the operation, the entry's position and the attempts,
 * and tells the operator what happens next. `stopping` says the call ended
 * because the daemon is stopping (its retries were cancelled, or the stream
 * destroyed): the error's `details.stopping` is then true (see
 * {@link isStopping}), and `last`, when given, is the last error an attempt
 * failed with before the stop (named in the message).
 */
export function listenerFailed(
  name: string,
  cause: Error,
  entry: JournalEntry | null,
  what: string,
  attempts: number,
  stopping: boolean,
  last: Error | null = null,
): LogdaemonError {
  if (stopping) {
    const base = what === 'open' ? `listener "${name}" never opened: the daemon is stopping` : `listener "${name}" stopped in ${what}: the daemon is stopping`
    const failed = last ? `; ${what} failed ${attempts === 1 ? 'once' : `${attempts} times`} (the last: ${last.message}) and is not retried` : ''
    const message = base + failed
    return new LogdaemonError(ErrorCodes.LISTENER_FAILED, message, {
      cause: last ?? cause,
      journal: entry?.position.journal ?? null,
      offset: entry?.position.offset ?? null,
      line: entry?.position.line ?? null,
      details: { listener: name, operation: what, stopping: true },
    })
  }
  const where = entry ? ` on the entry at ${formatWhere(entry.position)}` : ''
  const tries = attempts > 1 ? ` after ${attempts} attempts` : ''
  // The cause's own code (ERR_SQL_GAP, ERR_NOTIFY_DELIVERY, …) is what its documentation names: said, not only nested.
  const code = isLogdaemonError(cause) && cause.code !== ErrorCodes.LISTENER_FAILED ? ` [${cause.code}]` : ''
  return new LogdaemonError(
    ErrorCodes.LISTENER_FAILED,
    `listener "${name}" failed in ${what}${where}${tries}: ${cause.message}${code}. ` +
      'Nothing past the last fully handled entry was committed: fix the cause and restart, the daemon resumes from the last committed position',
    {
      cause,
      journal: entry?.position.journal ?? null,
      offset: entry?.position.offset ?? null,
      line: entry?.position.line ?? null,
      details: { listener: name, operation: what },
    },
  )
}

export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

/** A retry's settings and reports (the ListenerWritable's). */
export interface RetryContext {
  retry: Required<RetryOptions>
  signal: AbortSignal
  /** Told before each retry: the error, retries left, the call (`listen`, `sync`, …) and where (the entry's position, or the call). */
  onRetry(err: Error, retriesLeft: number, what: string, at: string): void
}

/**
 * Whether an error is a listener's call ended by the daemon's stop (see
 * {@link listenerFailed}): not a failure of the listener, nor of the stop.
 */
export function isStopping(err: unknown): err is LogdaemonError {
  return err instanceof LogdaemonError && err.code === ErrorCodes.LISTENER_FAILED && err.details.stopping === true
}

/**
 * Retries a listener call whose first attempt (made inline by the caller)
 * failed with `first`, with p-retry's backoff. Resolves once an attempt
 * succeeds; rejects with `{ cause, attempts }` when retries run out, the
 * error is not retryable (`retryable: false`, a TypeError) or `signal` aborts
 * (at once, even in the middle of a backoff delay; an attempt that fails
 * once `signal` has aborted is not retried and not reported as retried).
 */
export async function retryCall(first: Error, fn: () => unknown, entry: JournalEntry | null, what: string, ctx: RetryContext): Promise<void> {
  let attempts = 0
  // Attempts that failed before an abort, and the last one's error: one that fails after it may fail because of it.
  let failed = 0
  let last: Error | null = null
  const failedWith = (err: unknown): void => {
    if (ctx.signal.aborted) return
    failed++
    last = toError(err)
  }
  try {
    await pRetry(
      async () => {
        attempts++
        if (attempts === 1) {
          failedWith(first)
          throw first
        }
        try {
          await fn()
        } catch (err) {
          failedWith(err)
          throw err
        }
      },
      {
        ...ctx.retry,
        signal: ctx.signal,
        shouldRetry: ({ error, retriesLeft }) => {
          if (!isRetryable(error) || ctx.signal.aborted) return false
          ctx.onRetry(error, retriesLeft, what, entry ? formatWhere(entry.position) : what)
          return true
        },
      },
    )
  } catch (err) {
    const e = toError(err)
    // Ended by the abort (during a delay, or an attempt failed once it came): the abort reason is what ended it.
    const aborted = ctx.signal.aborted && isRetryable(e) && !(e instanceof TypeError)
    throw new RetryFailure(aborted ? toError(ctx.signal.reason) : e, attempts, last, failed)
  }
}

/** How a retried call ended for good. */
export class RetryFailure extends Error {
  constructor(
    /** What ended it: the last attempt's error, or the abort reason. */
    readonly failure: Error,
    /** Attempts made, the first (the caller's) included. */
    readonly attempts: number,
    /** The error of the last attempt that failed before an abort, or null. */
    readonly last: Error | null = failure,
    /** Attempts that failed before an abort. */
    readonly failed: number = attempts,
  ) {
    super(failure.message)
  }
}
