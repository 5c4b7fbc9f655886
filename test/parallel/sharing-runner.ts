/**
 * SharingRunner with real worker threads (scripts as data: URLs): a task
 * runs on this thread while no worker has started and while every worker
 * has its fill, and on a worker otherwise; results come back in order
 * through ordered() whoever ran them; a pool that fails is not hidden by
 * running everything here. And the two signals it reads from WorkerPool:
 * `started` and `saturated`.
 */
import t from 'tap'
import { SharingRunner } from '../../lib/parallel/sharing-runner.js'
import { ordered, WORKER_QUEUE_DEPTH, WorkerPool } from '../../lib/parallel/worker-pool.js'
import { ErrorCodes } from '../../lib/errors.js'

/** Posts `started` after `workerData.startMs` (never when null); answers each task after its delay, tagged `worker`, and counts its answers in `workerData.answered` (a SharedArrayBuffer) when given. */
const SCRIPT = `
import { parentPort, workerData } from 'node:worker_threads'
parentPort.on('message', ({ id, task }) => {
  setTimeout(() => {
    parentPort.postMessage({ id, ok: true, result: { n: task.n, by: 'worker' } })
    if (workerData.answered) Atomics.add(new Int32Array(workerData.answered), 0, 1)
  }, task.delay ?? 0)
})
if (workerData.exit) process.exit(5)
if (workerData.startMs !== null) setTimeout(() => parentPort.postMessage({ started: true }), workerData.startMs)
`
const URL_ = new URL(`data:text/javascript,${encodeURIComponent(SCRIPT)}`)

interface Task {
  n: number
  delay?: number
}
interface Result {
  n: number
  by: string
}

const here = (task: Task): Result => ({ n: task.n, by: 'here' })
/** `runner.help()`, which a `when-idle` runner has. */
const help = (runner: SharingRunner<Task, Result>): Promise<boolean> => {
  if (!runner.help) throw new Error('this runner has no help()')
  return runner.help()
}
const until = async (test: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !test(); i++) await new Promise((r) => setTimeout(r, 10))
}

t.test('before a worker has started, tasks run here; after, on the worker until it has its fill', async (t) => {
  const pool = new WorkerPool<Task, Result>(URL_, 1, { startMs: 150 })
  const runner = new SharingRunner(pool, here)
  t.equal(runner.size, 2, 'the worker and this thread')
  t.equal(runner.help, undefined, "'eager' (the default): no task ever waits in the pool, no help()")
  t.equal(pool.started, false)
  const first = await runner.run({ n: 0 })
  t.same(first, { n: 0, by: 'here' }, 'the worker has not started: run here')
  await until(() => pool.started)
  t.equal(pool.started, true, 'the worker posted started')
  t.equal(pool.saturated, false)
  // The worker takes WORKER_QUEUE_DEPTH slow tasks; the next one would wait behind them, so it runs here.
  const slow = Array.from({ length: WORKER_QUEUE_DEPTH }, (_, k) => runner.run({ n: 1 + k, delay: 200 }))
  await new Promise(setImmediate)
  t.equal(pool.saturated, true, 'the worker has its fill')
  const extra = await runner.run({ n: 9 })
  t.same(extra, { n: 9, by: 'here' }, 'a saturated pool: run here, at once')
  const done = await Promise.all(slow)
  t.same(
    done.map((r) => r.by),
    Array(WORKER_QUEUE_DEPTH).fill('worker'),
  )
  t.equal(pool.saturated, false)
  t.same(await runner.run({ n: 10 }), { n: 10, by: 'worker' }, 'a free worker takes the task')
  t.equal(runner.ranHere, 2)
  await runner.close()
})

t.test('a worker that finished while this thread was busy takes the next task: its replies are read first', async (t) => {
  const answered = new SharedArrayBuffer(4)
  const pool = new WorkerPool<Task, Result>(URL_, 1, { startMs: 0, answered })
  const runner = new SharingRunner(pool, here)
  await until(() => pool.started)
  // The worker's fill of quick tasks, then this thread busy (as when it inflates) until the worker has answered them
  // all; their replies wait in the event loop, which a caller that only awaits promises never turns.
  const quick = Array.from({ length: WORKER_QUEUE_DEPTH }, (_, k) => runner.run({ n: k }))
  const count = new Int32Array(answered)
  for (const start = Date.now(); Atomics.load(count, 0) < WORKER_QUEUE_DEPTH && Date.now() - start < 30_000; );
  t.equal(Atomics.load(count, 0), WORKER_QUEUE_DEPTH, 'the worker answered them all while this thread was busy')
  t.equal(pool.saturated, true, 'the replies are not read yet')
  t.same(await runner.run({ n: 9 }), { n: 9, by: 'worker' }, 'the worker is free: it takes the task')
  t.same(
    (await Promise.all(quick)).map((r) => r.by),
    Array(WORKER_QUEUE_DEPTH).fill('worker'),
  )
  t.equal(runner.ranHere, 0)
  await runner.close()
})

t.test('ordered() gives the results in submission order, whoever ran them', async (t) => {
  const pool = new WorkerPool<Task, Result>(URL_, 1, { startMs: 30 })
  const runner = new SharingRunner(pool, here)
  t.same(await runner.run({ n: -1 }), { n: -1, by: 'here' })
  await until(() => pool.started)
  const tasks = Array.from({ length: 60 }, (_, n) => ({ n, delay: (n * 7) % 4 }))
  const seen: Result[] = []
  for await (const r of ordered(tasks, (task) => runner.run(task), runner.size * WORKER_QUEUE_DEPTH)) seen.push(r)
  t.same(
    seen.map((r) => r.n),
    tasks.map((x) => x.n),
  )
  const by = new Set(seen.map((r) => r.by))
  t.ok(by.has('here') && by.has('worker'), `both ran tasks (${[...by].join(', ')})`)
  await runner.close()
})

t.test('a worker that never says it started leaves every task here', async (t) => {
  const pool = new WorkerPool<Task, Result>(URL_, 1, { startMs: null })
  const runner = new SharingRunner(pool, here)
  const results = await Promise.all([0, 1, 2].map((n) => runner.run({ n })))
  t.same(
    results.map((r) => r.by),
    ['here', 'here', 'here'],
  )
  t.equal(pool.started, false)
  await runner.close()
  t.equal(pool.started, true, 'a closed pool counts as started: its run rejects at once')
})

t.test('a pool that failed is not hidden: its tasks reject, none runs here', async (t) => {
  const pool = new WorkerPool<Task, Result>(URL_, 1, { startMs: null, exit: true })
  const runner = new SharingRunner(pool, here)
  await until(() => pool.started)
  t.equal(pool.started, true, 'failed: started, so that tasks go to the pool')
  t.equal(pool.saturated, false)
  await t.rejects(runner.run({ n: 1 }), { code: ErrorCodes.WORKER_FAILED })
  t.equal(runner.ranHere, 0)
  await runner.close()
})

t.test("'when-idle': tasks wait for a worker, and help() runs the oldest waiting one here", async (t) => {
  const pool = new WorkerPool<Task, Result>(URL_, 1, { startMs: 0 }, undefined, 3)
  t.equal(pool.depth, 3)
  const runner = new SharingRunner(pool, here, 'when-idle')
  t.equal(await help(runner), false, 'nothing waits yet')
  await until(() => pool.started)
  // Slow tasks: the worker takes three (its depth), the other two wait in the pool.
  const results = [0, 1, 2, 3, 4].map((n) => runner.run({ n, delay: 2000 }))
  await new Promise(setImmediate)
  await new Promise(setImmediate)
  t.equal(pool.saturated, true, 'the worker has its three and two wait')
  t.equal(runner.ranHere, 0, 'nothing ran here at submission')
  t.equal(await help(runner), true, 'one waiting task run here')
  t.equal(await help(runner), true, 'and the other')
  t.equal(await help(runner), false, 'none waits any more')
  t.same(
    (await Promise.all(results)).map((r) => `${r.n} ${r.by}`),
    ['0 worker', '1 worker', '2 worker', '3 here', '4 here'],
    'the oldest waiting task first; results by task whoever ran them',
  )
  t.equal(runner.ranHere, 2)
  // Not full: a task goes to the worker, and help() finds nothing to run.
  const next = runner.run({ n: 5 })
  t.equal(await help(runner), false)
  t.same(await next, { n: 5, by: 'worker' })
  await runner.close()
})

t.test("'when-idle': before a worker has started, tasks run here at once", async (t) => {
  const pool = new WorkerPool<Task, Result>(URL_, 1, { startMs: null })
  const runner = new SharingRunner(pool, here, 'when-idle')
  t.same(await runner.run({ n: 1 }), { n: 1, by: 'here' })
  await runner.close()
})

t.test('a task that throws here rejects its own promise (help)', async (t) => {
  const pool = new WorkerPool<Task, Result>(URL_, 1, { startMs: 0 }, undefined, 1)
  const runner = new SharingRunner<Task, Result>(
    pool,
    (task) => {
      if (task.n === 2) throw new Error('bad task')
      return here(task)
    },
    'when-idle',
  )
  await until(() => pool.started)
  const first = runner.run({ n: 1, delay: 200 })
  const second = runner.run({ n: 2 })
  second.catch(() => {})
  await new Promise(setImmediate)
  await new Promise(setImmediate)
  t.equal(await help(runner), true)
  await t.rejects(second, { message: 'bad task' })
  t.same(await first, { n: 1, by: 'worker' })
  await runner.close()
})
