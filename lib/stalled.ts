/** What {@link unlessStalled} gives when the process ran out of work first. */
export const STALLED: unique symbol = Symbol('stalled')

/**
 * `promise`'s value, or STALLED when the process runs out of work while it
 * is pending (Node's 'beforeExit'): a module whose top-level await, or a
 * factory whose promise, waits on what nothing will ever settle (a JS
 * configuration, a listener module). Node would otherwise end the process
 * with exit code 13 and no word of what it was loading.
 */
export function unlessStalled<T>(promise: Promise<T>): Promise<T | typeof STALLED> {
  return new Promise<T | typeof STALLED>((resolve, reject) => {
    const stalled = (): void => resolve(STALLED)
    process.once('beforeExit', stalled)
    promise.then(resolve, reject).finally(() => process.off('beforeExit', stalled))
  })
}
