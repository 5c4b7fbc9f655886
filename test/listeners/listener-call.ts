import t from 'tap'
import { isThenable, listenerFailed, retryCall, RetryFailure, type RetryContext } from '../../lib/listeners/listener-call.js'
import { retrySettings } from '../../lib/retry.js'
import { tick, transactions } from '../helpers/entries.js'

function context(signal = new AbortController().signal): RetryContext & { retries: string[] } {
  const retries: string[] = []
  return {
    retry: retrySettings({ retries: 2, minTimeout: 1, maxTimeout: 2, randomize: false }),
    signal,
    onRetry: (err, left, what, at) => void retries.push(`${what} ${at} ${left}: ${err.message}`),
    retries,
  }
}

t.test('isThenable', async (t) => {
  t.equal(isThenable(Promise.resolve()), true)
  t.equal(isThenable({ then() {} }), true)
  for (const v of [undefined, null, 1, 'x', {}, { then: 1 }]) t.equal(isThenable(v), false)
})

t.test('listenerFailed names the listener, the call, the entry and the attempts', async (t) => {
  const { entries } = transactions(1, 12)
  const e = entries[1]!
  const err = listenerFailed('mirror', new Error('disk full'), e, 'listen', 3, false)
  t.match(err, {
    code: 'ERR_LISTENER_FAILED',
    journal: 12,
    offset: e.position.offset,
    line: e.position.line,
    details: { listener: 'mirror', operation: 'listen' },
  })
  t.match(err.message, /"mirror" failed in listen on the entry at journal 12.* after 3 attempts: disk full\. Nothing past/)
  t.notMatch(listenerFailed('m', new Error('x'), null, 'sync', 1, false).message, /attempts|entry at/)
  const stopping = listenerFailed('m', new Error('destroyed'), e, 'listen', 1, true)
  t.match(stopping.message, /"m" stopped in listen: the daemon is stopping/)
})

t.test('retryCall: the first error is attempt 1; resolves once a retry succeeds', async (t) => {
  const ctx = context()
  let calls = 0
  await retryCall(new Error('busy'), () => (++calls < 2 ? Promise.reject(new Error('still busy')) : undefined), null, 'sync', ctx)
  t.equal(calls, 2)
  t.same(ctx.retries, ['sync sync 2: busy', 'sync sync 1: still busy'])
})

t.test('retryCall: retries run out, or the error is not retryable: a RetryFailure with the attempts', async (t) => {
  const { entries } = transactions(1, 3)
  const ctx = context()
  const out = await retryCall(new Error('down'), () => Promise.reject(new Error('down')), entries[0]!, 'listen', ctx).catch((e: unknown) => e)
  t.ok(out instanceof RetryFailure)
  t.match(out, { attempts: 3, failure: { message: 'down' } })
  t.match(ctx.retries[0], /^listen journal 3, offset 0/)
  const gap = Object.assign(new Error('gap'), { retryable: false })
  t.match(await retryCall(gap, () => {}, null, 'listen', context()).catch((e: unknown) => e), { attempts: 1, failure: gap })
})

t.test('retryCall: an abort ends the retries', async (t) => {
  const ac = new AbortController()
  const ctx = context(ac.signal)
  ctx.retry = retrySettings({ retries: 5, minTimeout: 10_000, maxTimeout: 10_000, randomize: false })
  const p = retryCall(new Error('down'), () => {}, null, 'listen', ctx).catch((e: unknown) => e)
  ac.abort(new Error('stopping'))
  t.match(await p, { failure: { message: 'stopping' } })
})

t.test('retryCall: failures before an abort are counted and the last named; an attempt failing after it is neither', async (t) => {
  const ac = new AbortController()
  const ctx = context(ac.signal)
  ctx.retry = retrySettings({ retries: 5, minTimeout: 10, maxTimeout: 10, randomize: false })
  let calls = 0
  const p = retryCall(
    new Error('refused 1'),
    () =>
      new Promise<void>((_resolve, reject) => {
        calls++
        if (calls === 1) reject(new Error('refused 2'))
        // The second retry is in progress when the stop comes, and fails because of it.
        else ac.signal.addEventListener('abort', () => reject(new Error('aborted by the stop')), { once: true })
      }),
    null,
    'open',
    ctx,
  ).catch((e: unknown) => e)
  while (calls < 2) await tick(2)
  const stop = new Error('stopping')
  ac.abort(stop)
  t.match(await p, { failure: stop, attempts: 3, failed: 2, last: { message: 'refused 2' } })
  t.same(ctx.retries, ['open open 5: refused 1', 'open open 4: refused 2'], 'the failure after the abort is not reported as retried')
})
