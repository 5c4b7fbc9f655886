import pRetry from 'p-retry'
import { ErrorCodes, LogdaemonError, formatWhere, toError } from '../errors.js'
import type { JournalEntry } from '../journal/entry.js'
import { isRetryable, type RetryOptions } from '../retry.js'

/**
 * The ERR_LISTENER_FAILED error for a listener call that failed for good:
 * names the listener, the operation, the entry's position and the attempts,
 * and tells the operator what happens next. `stopping` says the call ended
 * because the daemon is stopping (the abort reason was the cause).
 */
export function listenerFailed(name: string, cause: Error, entry: JournalEntry | null, what: string, attempts: number, stopping: boolean): LogdaemonError {
  if (stopping) {
    return new LogdaemonError(ErrorCodes.LISTENER_FAILED, `listener "${name}" stopped in ${what}: the daemon is stopping`, {
      cause,
      details: { listener: name },
    })
  }
  const where = entry ? ` on the entry at ${formatWhere(entry.position)}` : ''
  const tries = attempts > 1 ? ` after ${attempts} attempts` : ''
  return new LogdaemonError(
    ErrorCodes.LISTENER_FAILED,
    `listener "${name}" failed in ${what}${where}${tries}: ${cause.message}. ` +
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
 * Retries a listener call whose first attempt (made inline by the caller)
 * failed with `first`, with p-retry's backoff. Resolves once an attempt
 * succeeds; rejects with `{ cause, attempts }` when retries run out, the
 * error is not retryable (`retryable: false`, a TypeError) or `signal` aborts.
 */
export async function retryCall(first: Error, fn: () => unknown, entry: JournalEntry | null, what: string, ctx: RetryContext): Promise<void> {
  let attempts = 0
  try {
    await pRetry(
      async () => {
        attempts++
        if (attempts === 1) throw first
        await fn()
      },
      {
        ...ctx.retry,
        signal: ctx.signal,
        shouldRetry: ({ error, retriesLeft }) => {
          if (!isRetryable(error)) return false
          ctx.onRetry(error, retriesLeft, what, entry ? formatWhere(entry.position) : what)
          return true
        },
      },
    )
  } catch (err) {
    throw new RetryFailure(toError(err), attempts)
  }
}

/** How a retried call ended for good. */
export class RetryFailure extends Error {
  constructor(
    readonly failure: Error,
    readonly attempts: number,
  ) {
    super(failure.message)
  }
}
