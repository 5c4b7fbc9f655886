import { z } from 'zod'
import { checkTimerMs, msSchema } from './timer-ms.js'

/**
 * How a failing operation is retried: p-retry's options, one shape for the
 * listeners (the daemon's `retry`) and hot-backup's reconnects (a `.gz`
 * archive still being written is waited for by its size instead, see
 * GzipRetryOptions). The delay before retry k (1-based) is `min(minTimeout * factor^(k-1), maxTimeout)`, times a random
 * 1–2 when `randomize`. Each user has its own defaults (below); a value left
 * undefined takes the default.
 */
export interface RetryOptions {
  /** Retries after the first failed attempt. */
  retries?: number
  /** Delay before the first retry, in ms. */
  minTimeout?: number
  /** Longest delay between attempts, in ms. */
  maxTimeout?: number
  /** Growth of the delay per attempt. */
  factor?: number
  /** Multiply each delay by a random 1–2 (spreads reconnect storms). */
  randomize?: boolean
}

/** A listener call: 8 retries, 1 s doubling to 60 s, randomized (about 3 minutes in all). */
export const DEFAULT_RETRY: Readonly<Required<RetryOptions>> = Object.freeze({
  retries: 8,
  minTimeout: 1000,
  maxTimeout: 60_000,
  factor: 2,
  randomize: true,
})

/** hot-backup reconnecting to the standby: 5 retries, 1 s doubling to 30 s. */
export const DEFAULT_RECONNECT: Readonly<Required<RetryOptions>> = Object.freeze({
  retries: 5,
  minTimeout: 1000,
  maxTimeout: 30_000,
  factor: 2,
  randomize: false,
})

const MIN_ABOVE_MAX = 'minTimeout must not be above maxTimeout'

/** The configuration's form of RetryOptions (every key optional; the defaults are the user's, above). */
export const retryOptionsSchema = z
  .strictObject({
    retries: z.number().int().min(0).optional().describe('Retries after the first failed attempt.'),
    minTimeout: msSchema().min(0).optional().describe('Delay before the first retry, ms.'),
    maxTimeout: msSchema().min(0).optional().describe('Longest delay between attempts, ms.'),
    factor: z.number().min(1).optional().describe('Growth of the delay per attempt.'),
    randomize: z.boolean().optional().describe('Multiply each delay by a random 1–2.'),
  })
  .refine((o) => !contradicts(o), { error: MIN_ABOVE_MAX, path: ['minTimeout'] })
  .describe("How a failing operation is retried (p-retry's options).") satisfies z.ZodType<RetryOptions>

/**
 * Both delays given, the first above the longest: p-retry would wait
 * maxTimeout every time, which is not what either value asks for. (One given
 * against the other's default is no contradiction: a lone `maxTimeout: 500`
 * means retries within half a second, a lone `minTimeout: 120000` waits
 * two minutes at least; see retrySettings.)
 */
function contradicts(o: RetryOptions): boolean {
  return o.minTimeout !== undefined && o.maxTimeout !== undefined && o.minTimeout > o.maxTimeout
}

/** Errors that carry `retryable: false` fail at once (a mirror gap, a bad option). */
export function isRetryable(err: Error): boolean {
  return (err as { retryable?: unknown }).retryable !== false
}

/**
 * The retry settings with the defaults filled in (undefined values do not
 * override). A `minTimeout` or `maxTimeout` outside 0 to MAX_TIMER_MS
 * (2^31-1 ms) throws a RangeError: Node would fire a longer delay at once;
 * so does a `minTimeout` above the `maxTimeout` given with it. One given
 * against the other's default wins: a lone `maxTimeout` below the default
 * `minTimeout` caps it, a lone `minTimeout` above the default `maxTimeout`
 * raises it.
 */
export function retrySettings(options: RetryOptions = {}, defaults: Readonly<Required<RetryOptions>> = DEFAULT_RETRY): Required<RetryOptions> {
  checkTimerMs('retry.minTimeout', options.minTimeout)
  checkTimerMs('retry.maxTimeout', options.maxTimeout)
  if (contradicts(options)) throw new RangeError(`retry.${MIN_ABOVE_MAX} (${options.minTimeout} > ${options.maxTimeout})`)
  const settings = { ...defaults, ...definedOnly(options) }
  if (settings.minTimeout <= settings.maxTimeout) return settings
  // One given against the other's default: the value given wins.
  return options.maxTimeout === undefined ? { ...settings, maxTimeout: settings.minTimeout } : { ...settings, minTimeout: settings.maxTimeout }
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}
