import { defaultThreads, MAX_THREADS } from '../parallel/worker-pool.js'
import { usageError } from './cli-errors.js'

/**
 * --threads, else LOGDAEMON_THREADS, else the default: digits only, from 1
 * up; more than {@link MAX_THREADS} is capped (a pool that large only costs memory).
 */
export function threadCount(option: unknown, env: string | undefined): number {
  if (typeof option === 'string') {
    // Digits only: Number() would also take 1e3, 0x10, ' 12 ' and 1.0.
    const n = /^[0-9]+$/.test(option) ? Number(option) : Number.NaN
    if (!Number.isSafeInteger(n) || n <= 0) throw usageError(`--threads must be a positive integer (got ${JSON.stringify(option)})`)
    return Math.min(n, MAX_THREADS)
  }
  if (env !== undefined && env !== '') {
    const n = /^[0-9]+$/.test(env) ? Number(env) : Number.NaN
    if (!Number.isSafeInteger(n) || n <= 0) throw usageError(`LOGDAEMON_THREADS must be a positive integer (got ${JSON.stringify(env)})`)
    return Math.min(n, MAX_THREADS)
  }
  return defaultThreads()
}
