import type { Writable } from 'node:stream'

/**
 * Calls `done` once every stream in `streams` that waits for `drain`
 * (`writableNeedDrain`) has emitted it, or with the first stream's error
 * (or a premature close) instead. Plain listeners, no promise: the chain
 * waits like this every highWaterMark entries.
 */
export function whenDrained(streams: readonly Writable[], done: (err?: Error) => void): void {
  let waiting = 0
  let settled = false
  const cleanups: (() => void)[] = []
  const settle = (err?: Error): void => {
    if (settled) return
    settled = true
    for (const c of cleanups) c()
    done(err)
  }
  for (const s of streams) {
    if (!s.writableNeedDrain) continue
    waiting++
    const onDrain = (): void => {
      cleanup()
      if (--waiting === 0) settle()
    }
    const onError = (err: Error): void => settle(err)
    const onClose = (): void => settle(s.errored ?? Object.assign(new Error('premature close: a listener closed before it drained'), { code: 'ERR_STREAM_PREMATURE_CLOSE' }))
    const cleanup = (): void => {
      s.off('drain', onDrain)
      s.off('error', onError)
      s.off('close', onClose)
    }
    s.on('drain', onDrain)
    s.on('error', onError)
    s.on('close', onClose)
    cleanups.push(cleanup)
  }
  if (waiting === 0) settle()
}
