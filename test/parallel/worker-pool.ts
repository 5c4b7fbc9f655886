/**
 * The pool with real worker threads (scripts as data: URLs, so no build or
 * TypeScript loader is involved): results in submission order whatever
 * order the workers finish in, at most `limit` tasks in flight, and every
 * way a worker can fail ends the run with ERR_WORKER_FAILED instead of a hang.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { defaultThreads, MAX_THREADS, ordered, serializeError, WORKER_QUEUE_DEPTH, WorkerPool } from '../../lib/parallel/worker-pool.js'
import { ErrorCodes, LogdaemonError } from '../../lib/errors.js'

const SCRIPT = `
import { parentPort, workerData } from 'node:worker_threads'
let received = 0
parentPort.on('message', ({ id, task }) => {
  received++
  if (task.op === 'crash') setTimeout(() => { throw new Error('crashed on purpose') })
  else if (task.op === 'exit') process.exit(3)
  else if (task.op === 'fail') parentPort.postMessage({ id, ok: false, error: { message: 'bad record', code: 'ERR_JOURNAL_MALFORMED', offset: 12, line: 3 } })
  else if (task.op === 'plain') parentPort.postMessage({ id, ok: false, error: { message: 'plain', code: 'EIO' } })
  else if (task.op === 'liar') parentPort.postMessage({ id: id + 1000, ok: true, result: 0 })
  else if (task.op === 'peek') setTimeout(() => parentPort.postMessage({ id, ok: true, result: received }), 50)
  else if (task.op === 'bytes') parentPort.postMessage({ id, ok: true, result: task.buf.byteLength }, [])
  else setTimeout(() => parentPort.postMessage({ id, ok: true, result: { n: task.n, tag: workerData } }), task.delay ?? 0)
})
`
const URL_ = new URL(`data:text/javascript,${encodeURIComponent(SCRIPT)}`)

interface Task {
  op?: string
  n?: number
  delay?: number
  buf?: ArrayBuffer
}

t.test('results come in submission order, with at most `limit` in flight', async (t) => {
  const pool = new WorkerPool<Task, { n: number; tag: string }>(URL_, 3, 'w')
  t.equal(pool.size, 3)
  let inFlight = 0
  let most = 0
  const run = async (task: Task) => {
    inFlight++
    most = Math.max(most, inFlight)
    try {
      return await pool.run(task)
    } finally {
      inFlight--
    }
  }
  const tasks = Array.from({ length: 30 }, (_, n) => ({ n, delay: (n * 7) % 5 }))
  const seen: number[] = []
  for await (const r of ordered(tasks, run, 4)) {
    t.equal(r.tag, 'w')
    seen.push(r.n)
  }
  t.same(
    seen,
    tasks.map((x) => x.n),
  )
  t.ok(most <= 4, `at most 4 in flight (saw ${most})`)
  await pool.close()
  await pool.close()
  await t.rejects(pool.run({ n: 1 }), { code: ErrorCodes.WORKER_FAILED }, 'a closed pool takes no task')
})

t.test('a worker has its next task before it posts a result; the rest wait here', async (t) => {
  const pool = new WorkerPool<Task, number>(URL_, 1)
  const results = await Promise.all([pool.run({ op: 'peek' }), pool.run({ op: 'peek' }), pool.run({ op: 'peek' })])
  t.equal(results[0], WORKER_QUEUE_DEPTH, 'the second task was posted while the first ran')
  t.equal(results[2], 3, 'the third once a result came')
  await pool.close()
})

t.test('a transferred buffer moves to the worker', async (t) => {
  const pool = new WorkerPool<Task, number>(URL_, 1)
  const buf = new ArrayBuffer(1000)
  t.equal(await pool.run({ op: 'bytes', buf }, [buf]), 1000)
  t.equal(buf.byteLength, 0, 'detached here: moved, not copied')
  await t.rejects(pool.run({ op: 'bytes', buf: new ArrayBuffer(1), n: (() => 1) as unknown as number }), 'a task that cannot be cloned is refused')
  t.equal(await pool.run({ n: 5 }).then((r) => (r as unknown as { n: number }).n), 5, 'and the pool goes on')
  await pool.close()
})

t.test('a task error rejects that task with its code and position; the pool goes on', async (t) => {
  const pool = new WorkerPool<Task, unknown>(URL_, 1)
  const err = await pool.run({ op: 'fail' }).catch((e: unknown) => e)
  t.ok(err instanceof LogdaemonError)
  t.match(err, { code: ErrorCodes.JOURNAL_MALFORMED, offset: 12, line: 3, message: 'bad record' })
  t.match(await pool.run({ op: 'plain' }).catch((e: unknown) => e), { code: 'EIO', message: 'plain' })
  t.match(await pool.run({ n: 2 }), { n: 2 })
  await pool.close()
})

for (const op of ['crash', 'exit', 'liar']) {
  t.test(`a worker that dies (${op}) fails every task, pending and later`, async (t) => {
    const pool = new WorkerPool<Task, unknown>(URL_, 2)
    const slow = pool.run({ n: 1, delay: 20_000 })
    const bad = pool.run({ op })
    // Posted with them (a worker holds two) or waiting here: slow too, so none is answered before the failure.
    const queued = [pool.run({ n: 2, delay: 20_000 }), pool.run({ n: 3, delay: 20_000 }), pool.run({ n: 5, delay: 20_000 })]
    for (const p of [slow, bad, ...queued]) await t.rejects(p, { code: ErrorCodes.WORKER_FAILED })
    await t.rejects(pool.run({ n: 4 }), { code: ErrorCodes.WORKER_FAILED })
    await pool.close()
  })
}

t.test('ordered() stops at the first failed task', async (t) => {
  const pool = new WorkerPool<Task, unknown>(URL_, 2)
  const seen: unknown[] = []
  const tasks: Task[] = [{ n: 0 }, { n: 1 }, { op: 'fail' }, { n: 3 }]
  await t.rejects(
    (async () => {
      for await (const r of ordered(tasks, (x) => pool.run(x), 2)) seen.push(r)
    })(),
    { code: ErrorCodes.JOURNAL_MALFORMED },
  )
  t.equal(seen.length, 2)
  await pool.close()
})

t.test('an idle pool does not keep the process alive; a busy one does until its result', async (t) => {
  const here = fileURLToPath(new URL('../../lib/parallel/worker-pool.ts', import.meta.url))
  const code = `
    import { WorkerPool } from ${JSON.stringify(here)}
    const pool = new WorkerPool(new URL(${JSON.stringify(URL_.href)}), 2)
    pool.run({ n: 7, delay: 300 }).then((r) => console.log('got', r.n))
  `
  const r = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 })
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stdout.trim(), 'got 7', 'the result came before the exit, and the exit came without close()')
})

t.test('16 workers: no MaxListenersExceededWarning when the command then waits on its output', async (t) => {
  const here = fileURLToPath(new URL('../../lib/parallel/worker-pool.ts', import.meta.url))
  const code = `
    import { WorkerPool } from ${JSON.stringify(here)}
    const limit = process.stdout.getMaxListeners()
    const pool = new WorkerPool(new URL(${JSON.stringify(URL_.href)}), 16)
    await Promise.all(Array.from({ length: 16 }, (_, n) => pool.run({ n })))
    // What write-out.ts does when a write waits for 'drain': a listener of each kind, on stdout and stderr.
    for (const s of [process.stdout, process.stderr]) for (const e of ['drain', 'close', 'error']) s.on(e, () => {})
    await pool.close()
    console.log(JSON.stringify({ limit, after: process.stdout.getMaxListeners() }))
  `
  const r = spawnSync(process.execPath, [...process.execArgv, '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 })
  t.equal(r.status, 0, r.stderr)
  t.notMatch(r.stderr, /MaxListenersExceededWarning/)
  const { limit, after } = JSON.parse(r.stdout) as { limit: number; after: number }
  t.equal(after, limit, 'the limit is back once the pool is closed')
})

t.test('sizes and errors as they cross threads', async (t) => {
  t.ok(defaultThreads() >= 1 && defaultThreads() <= 4)
  const pool = new WorkerPool<Task, unknown>(URL_, 1000)
  t.equal(pool.size, MAX_THREADS, 'capped')
  await pool.close()
  t.same(serializeError('x'), { message: 'x' })
  t.same(serializeError(new Error('y')), { message: 'y' })
  t.same(serializeError(new LogdaemonError(ErrorCodes.ENTRY_TOO_LARGE, 'z', { offset: 1, line: 2 })), {
    message: 'z',
    code: 'ERR_ENTRY_TOO_LARGE',
    offset: 1,
    line: 2,
  })
})
