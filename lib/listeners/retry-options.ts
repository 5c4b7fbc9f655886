/**
 * How a failing listener call is retried (p-retry's options). The delay
 * before retry k (1-based) is `min(minTimeout * factor^(k-1), maxTimeout)`,
 * times a random 1–2 when `randomize`.
 */
export interface RetryOptions {
  /** Retries after the first failed attempt. Default 8 (with the other defaults, about 3 minutes in all). */
  retries?: number
  /** Delay before the first retry, in ms. Default 1000. */
  minTimeout?: number
  /** Longest delay between attempts, in ms. Default 60000. */
  maxTimeout?: number
  /** Growth of the delay per attempt. Default 2. */
  factor?: number
  /** Multiply each delay by a random 1–2 (spreads reconnect storms). Default true. */
  randomize?: boolean
}

export const DEFAULT_RETRY: Required<RetryOptions> = {
  retries: 8,
  minTimeout: 1000,
  maxTimeout: 60_000,
  factor: 2,
  randomize: true,
}

/** Errors that carry `retryable: false` fail at once (a mirror gap, a bad option). */
export function isRetryable(err: Error): boolean {
  return (err as { retryable?: unknown }).retryable !== false
}

/** The retry settings with the defaults filled in (undefined values do not override). */
export function retrySettings(options: RetryOptions = {}): Required<RetryOptions> {
  return { ...DEFAULT_RETRY, ...definedOnly(options) }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
