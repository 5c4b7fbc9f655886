import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { EventEmitter, once } from 'node:events'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import pino from 'pino'
import { createLogger, hardenLogDestination, LOG_BUFFER_MAX_BYTES, logDestinationOptions, logFileProblem, reopenLogFile } from '../../lib/daemon/daemon.js'
import { createCliLogger } from '../../lib/cli/command.js'
import { guardProcess } from '../../lib/daemon/process-guard.js'

/**
 * A log that cannot be written or reopened never ends the daemon (a probe:
 * log.file on a full disk ended `logdaemon run` with Node's "Unhandled
 * 'error' event" and no final commit, at its first line after a restart;
 * a SIGHUP whose log file could not be reopened ended it as an uncaught
 * exception, exit 1 without the final commit).
 */

const full = existsSync('/dev/full')

t.test('a destination that cannot write (ENOSPC) throws nothing; the failure is reported once', { skip: full ? false : 'no /dev/full here' }, async (t) => {
  const reports: string[] = []
  const dest = hardenLogDestination(pino.destination(logDestinationOptions('/dev/full')), '/dev/full', (line) => void reports.push(line))
  const logger = pino({ level: 'info' }, dest)
  t.doesNotThrow(() => {
    for (let i = 0; i < 5; i++) logger.info({ i }, 'a line the disk cannot take')
  })
  t.equal(reports.length, 1, 'said once, not per line')
  t.match(reports[0], /cannot write the log \(\/dev\/full\): ENOSPC/)
  let dropped = 0
  dest.on('drop', () => dropped++)
  const line = 'x'.repeat(1000)
  t.doesNotThrow(() => {
    for (let i = 0; i < (2 * LOG_BUFFER_MAX_BYTES) / 1000; i++) logger.info(line)
  })
  t.ok(dropped > 0, 'past the bound, lines are dropped rather than kept without end')
})

t.test("createLogger's file destination on a full disk: logging throws nothing", { skip: full ? false : 'no /dev/full here' }, async (t) => {
  const logger = createLogger({ level: 'info', file: '/dev/full' })
  t.doesNotThrow(() => logger.info('a line'))
})

t.test('a log file that cannot be reopened (SIGHUP) throws to the guard, which logs it and goes on', async (t) => {
  const dir = t.testdir()
  const logs = join(dir, 'logs')
  mkdirSync(logs)
  const file = join(logs, 'd.log')
  const logger = createLogger({ level: 'info', file })
  logger.info('before')
  // logrotate moved the directory away, and something else now has its name: the file cannot be opened again.
  renameSync(logs, join(dir, 'logs.old'))
  writeFileSync(logs, 'not a directory')
  t.throws(() => reopenLogFile(logger), 'reopenLogFile throws the system error')
  logger.info('after the failed reopen')
  t.match(readFileSync(join(dir, 'logs.old', 'd.log'), 'utf8'), /after the failed reopen/, 'the log goes on to the file open before')

  const proc = new EventEmitter() as EventEmitter & { exit: (code?: number) => never }
  proc.exit = (() => undefined) as unknown as (code?: number) => never
  const msgs: string[] = []
  const guardLogger = pino({ level: 'info' }, { write: (s: string) => void msgs.push((JSON.parse(s) as { msg: string }).msg) })
  const guard = guardProcess({ logger: guardLogger, onHangup: () => reopenLogFile(logger), proc: proc as unknown as NodeJS.Process })
  t.doesNotThrow(() => proc.emit('SIGHUP', 'SIGHUP'), 'SIGHUP is never fatal')
  t.match(msgs.at(-1), /^SIGHUP: the log file cannot be reopened \(.*\); logging goes on to the file open before/)
  t.notOk(guard.signal.aborted, 'not a stop')
  rmSync(logs)
  renameSync(join(dir, 'logs.old'), logs)
  proc.emit('SIGHUP', 'SIGHUP')
  t.equal(msgs.at(-1), 'SIGHUP: log file reopened', 'fixed, the next SIGHUP reopens it')
  guard.dispose()
})

t.test('a log.file that cannot be opened: ERR_CONFIG_INVALID naming the key, at once (a FIFO that nothing reads too)', async (t) => {
  const dir = t.testdir({ 'a-file': 'x' })
  const fifo = join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const cases: [string, RegExp][] = [
    [dir, /^log\.file: .* is a directory$/],
    // Opened as usual, it held the main thread in open() for ever, deaf to SIGTERM.
    [fifo, /^log\.file: .* is a FIFO that nothing reads: start its reader first$/],
    [join(dir, 'a-file', 'x.log'), /^log\.file: .* cannot be (opened for writing|looked at) \(.*ENOTDIR/],
  ]
  for (const [file, message] of cases) {
    const started = Date.now()
    t.throws(() => createCliLogger({ level: 'info', file }, { tty: false }), { code: 'ERR_CONFIG_INVALID', message }, file)
    t.throws(() => createLogger({ level: 'info', file }), { code: 'ERR_CONFIG_INVALID', message }, `${file}: the daemon's own logger too`)
    t.ok(Date.now() - started < 1000, `${file}: at once`)
  }
  t.equal(logFileProblem(join(dir, 'new', 'x.log')), null, 'a missing directory is made, as before')
})

t.test('a log.file FIFO with its reader: the reader gets every line, and no end of file from the look before the open', async (t) => {
  const dir = t.testdir()
  const fifo = join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const reader = spawn('cat', [fifo])
  let got = ''
  reader.stdout.on('data', (c: Buffer) => (got += c))
  const ended = once(reader, 'exit')
  // cat opens the FIFO once it runs: until then the look finds no reader.
  let logger: ReturnType<typeof createCliLogger> | null = null
  for (let tries = 0; logger === null; tries++) {
    try {
      logger = createCliLogger({ level: 'info', file: fifo }, { tty: false })
    } catch (err) {
      if (tries > 200 || !/nothing reads/.test((err as Error).message)) throw err
      await sleep(10)
    }
  }
  logger.info('first line')
  await sleep(100)
  t.equal(reader.exitCode, null, 'the reader is still there: no end of file came between the look and the open')
  logger.info('second line')
  for (let i = 0; i < 200 && !got.includes('second line'); i++) await sleep(10)
  t.match(got, /first line[\s\S]*second line/, 'both lines read')
  reader.kill()
  await ended
})
