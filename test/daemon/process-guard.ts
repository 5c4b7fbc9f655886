import t from 'tap'
import { EventEmitter } from 'node:events'
import pino from 'pino'
import { EarlySignals } from '../../lib/cli/early-signals.js'
import { guardProcess } from '../../lib/daemon/process-guard.js'

/**
 * The process guard and the signals held while the bin loads, on a
 * stand-in process (the real signals, end to end: test/daemon/signals.ts).
 */

interface FakeProcess extends EventEmitter {
  pid: number
  exitCode: number | undefined
  exits: (number | string | null | undefined)[]
  kills: [number, string][]
  exit: (code?: number | string | null) => never
  kill: (pid: number, signal: string) => true
}

function fakeProcess(): FakeProcess {
  const proc = new EventEmitter() as FakeProcess
  proc.pid = 4242
  proc.exitCode = undefined
  proc.exits = []
  proc.kills = []
  proc.exit = ((code?: number | string | null) => void proc.exits.push(code)) as (code?: number | string | null) => never
  proc.kill = (pid, signal) => {
    proc.kills.push([pid, signal])
    return true
  }
  return proc
}

function capture(): { logger: pino.Logger; msgs: string[] } {
  const msgs: string[] = []
  const logger = pino({ level: 'info' }, { write: (s: string) => void msgs.push((JSON.parse(s) as { msg: string }).msg) })
  return { logger, msgs }
}

t.test('signals held while loading: the guard takes them as if they came now (one stops gracefully, two at once)', async (t) => {
  for (const [held, graceful, atOnce] of [
    [[], false, false],
    [['SIGTERM'], true, false],
    [['SIGINT', 'SIGTERM'], true, true],
  ] as [NodeJS.Signals[], boolean, boolean][]) {
    const proc = fakeProcess()
    const { logger, msgs } = capture()
    const guard = guardProcess({ logger, onHangup: () => false, proc: proc as unknown as NodeJS.Process, held: () => held })
    t.equal(guard.signal.aborted, graceful, `${held.join('+') || 'none'}: graceful stop`)
    t.equal(guard.kill.aborted, atOnce, `${held.join('+') || 'none'}: stop at once`)
    if (held.length) t.match(msgs[0], `${held[0]} came while logdaemon was starting`)
    guard.dispose()
  }
  const proc = fakeProcess()
  const { logger, msgs } = capture()
  let hangups = 0
  const guard = guardProcess({ logger, onHangup: () => ++hangups > 0, proc: proc as unknown as NodeJS.Process, held: () => ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] })
  t.equal(hangups, 1, 'SIGHUP: the log file reopened')
  t.notOk(guard.signal.aborted, 'SIGHUP, SIGUSR1, SIGUSR2 do not stop it')
  t.ok(msgs.includes('SIGUSR1: ignored (logdaemon opens no debugger on a signal; SIGTERM stops it)'), 'SIGUSR1 logged and ignored')
  guard.dispose()
})

t.test('after dispose(code), a SIGTERM or SIGINT ends the process with that code, not by the signal', async (t) => {
  const proc = fakeProcess()
  const guard = guardProcess({ logger: capture().logger, onHangup: () => false, proc: proc as unknown as NodeJS.Process })
  guard.dispose(0)
  t.equal(proc.listenerCount('SIGTERM'), 1, 'one listener left for SIGTERM')
  proc.emit('SIGTERM', 'SIGTERM')
  proc.emit('SIGINT', 'SIGINT')
  t.same(proc.exits, [0, 0], 'each exits with the code decided')

  const other = fakeProcess()
  guardProcess({ logger: capture().logger, onHangup: () => false, proc: other as unknown as NodeJS.Process }).dispose()
  t.equal(other.listenerCount('SIGTERM') + other.listenerCount('SIGINT'), 0, 'without a code, nothing is left listening')
})

t.test('EarlySignals holds the signals until released, then re-raises the first that ends a process', async (t) => {
  const proc = fakeProcess()
  const early = new EarlySignals(proc as unknown as NodeJS.Process)
  t.equal(proc.listenerCount('SIGTERM'), 1)
  proc.emit('SIGINT', 'SIGINT')
  proc.emit('SIGTERM', 'SIGTERM')
  t.same(early.release(), ['SIGINT', 'SIGTERM'])
  t.equal(proc.listenerCount('SIGTERM') + proc.listenerCount('SIGINT') + proc.listenerCount('SIGHUP'), 0, 'released: the defaults apply again')
  t.equal(proc.listenerCount('SIGUSR1'), 1, 'but SIGUSR1 stays ignored (removing the last listener would leave it to end the process)')
  proc.emit('SIGTERM', 'SIGTERM')
  t.same(early.release(), ['SIGINT', 'SIGTERM'], 'nothing held once released')
  t.equal(early.reraise(), 'SIGINT')
  t.same(proc.kills, [[4242, 'SIGINT']], 'the first signal is sent again, to the process itself')
  const hup = fakeProcess()
  const held = new EarlySignals(hup as unknown as NodeJS.Process)
  for (const sig of ['SIGUSR1', 'SIGHUP', 'SIGUSR2']) hup.emit(sig, sig)
  t.equal(held.reraise(), 'SIGHUP', 'SIGHUP and SIGUSR2 are held too; SIGUSR1 is never sent again (its default opens a debugger)')
  const quiet = fakeProcess()
  t.equal(new EarlySignals(quiet as unknown as NodeJS.Process).reraise(), undefined)
  t.same(quiet.kills, [], 'none held, none sent')
})

t.test('stopWith: while holding, a SIGTERM or SIGINT (one held already too) stops at once; the others stay held', async (t) => {
  const proc = fakeProcess()
  const early = new EarlySignals(proc as unknown as NodeJS.Process)
  proc.emit('SIGHUP', 'SIGHUP')
  proc.emit('SIGINT', 'SIGINT')
  const stops: string[] = []
  early.stopWith((sig) => void stops.push(sig))
  t.same(stops, ['SIGINT'], 'the one held already')
  proc.emit('SIGTERM', 'SIGTERM')
  t.same(stops, ['SIGINT', 'SIGTERM'], 'and one that comes now, at once')
  t.same(early.release(), ['SIGHUP'], 'the others are held for the guard')
  proc.emit('SIGTERM', 'SIGTERM')
  t.same(stops, ['SIGINT', 'SIGTERM'], 'released: no longer called')
})

t.test('after dispose(code), SIGHUP and SIGUSR2 exit with that code too (their defaults would end it by the signal)', async (t) => {
  const proc = fakeProcess()
  guardProcess({ logger: capture().logger, onHangup: () => false, proc: proc as unknown as NodeJS.Process }).dispose(3)
  proc.emit('SIGHUP', 'SIGHUP')
  proc.emit('SIGUSR2', 'SIGUSR2')
  t.same(proc.exits, [3, 3])
})

t.test('crashReport: the message only when every place is logdaemon own code', async (t) => {
  const { crashReport } = await import('../../lib/cli/early-signals.js')
  const mine = new Error('secret 123')
  mine.stack = 'Error: secret 123\n    at file:///etc/logdaemon/config.mjs:2:16\n    at ModuleJob.run (node:internal/modules/esm/module_job:325:25)'
  t.equal(
    crashReport(mine, 'unhandledRejection'),
    'an unhandled rejection: Error (its message is not shown: it came from a module of yours, and may quote it)\n    at file:///etc/logdaemon/config.mjs:2:16\n    at ModuleJob.run (node:internal/modules/esm/module_job:325:25)',
  )
  const ours = new TypeError('x is not a function')
  ours.stack = `TypeError: x is not a function\n    at f (${new URL('../../lib/cli/run.js', import.meta.url).href}:1:1)`
  t.match(crashReport(ours, 'uncaughtException'), /^an uncaught exception: TypeError: x is not a function\n/)
  t.equal(crashReport('hunter2', 'unhandledRejection'), 'an unhandled rejection (a string, not an Error: its value is not shown)')
})
