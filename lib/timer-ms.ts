import { z } from 'zod'

/**
 * The longest delay Node's timers take: 2^31-1 ms, about 24.8 days. A
 * longer one is not refused: Node prints a TimeoutOverflowWarning and fires
 * it after 1 ms. So every option in milliseconds has this as its maximum.
 */
export const MAX_TIMER_MS = 2_147_483_647

/** The maximum and what it means, for messages. */
const LIMIT = `${MAX_TIMER_MS} ms (about 24.8 days, the longest timer Node.js can set)`

/** A configuration option in milliseconds: an integer up to MAX_TIMER_MS (add its minimum). */
export function msSchema(): z.ZodNumber {
  return z
    .number()
    .int()
    .max(MAX_TIMER_MS, { error: `expected at most ${LIMIT}` })
}

/**
 * Checks an option in milliseconds given to a library entry point (a
 * source, a listener chain): undefined (its default) or a number from
 * `min` to MAX_TIMER_MS. Throws a RangeError naming the option otherwise:
 * a longer timer would fire at once.
 */
export function checkTimerMs(name: string, value: unknown, min = 0): void {
  if (value === undefined) return
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > MAX_TIMER_MS) {
    throw new RangeError(`${name} must be a number of milliseconds from ${min} to ${LIMIT}, got ${String(value)}`)
  }
}
