// Standard output as a regular file: every byte written, or an error (a
// full disk, `ulimit -f`), never a short write taken as success.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { FileOutput, wholeWritesTo } from '../../lib/files/file-output.js'

const CAT = fileURLToPath(new URL('../../dist/bin/logdaemon-cat.js', import.meta.url))
const binSkip = existsSync(CAT) ? false : 'built bin missing: run npm run build'
const shSkip = binSkip || (spawnSync('sh', ['-c', 'ulimit -f 8'], { encoding: 'utf8' }).status === 0 ? false : 'no sh with ulimit -f')

/** A journal of about `bytes` bytes. */
function journal(bytes: number): Buffer {
  const lines: string[] = []
  let n = 0
  for (let i = 0; n < bytes; i++) {
    const line = `@pv@ 0 @db.desc@ ${i} @change ${i}\nsecond line@ \n@ex@ ${i} 1600000000\n`
    lines.push(line)
    n += line.length
  }
  return Buffer.from(lines.join(''))
}

t.test('short writes are written on, in order', async (t) => {
  const path = join(t.testdir(), 'out')
  const fd = openSync(path, 'w')
  const calls: number[] = []
  // At most 7 bytes a call, as a disk that is nearly full takes part of a write.
  const short = ((fd: number, buf: Buffer, offset: number, length: number) => {
    calls.push(length)
    return writeSync(fd, buf, offset, Math.min(7, length))
  }) as typeof writeSync
  const out = new FileOutput(fd, short)
  const data = journal(100)
  out.write(data)
  out.write(Buffer.from('@ex@ 1 2\n'))
  closeSync(fd)
  t.same(readFileSync(path), Buffer.concat([data, Buffer.from('@ex@ 1 2\n')]))
  t.ok(calls.length > 10, 'many calls')
})

t.test('an error after part of a write is thrown out of write(), and a call that takes nothing fails', async (t) => {
  let left = 5
  const full = ((_fd: number, _buf: Buffer, _offset: number, length: number) => {
    if (left === 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' })
    const n = Math.min(left, length)
    left -= n
    return n
  }) as typeof writeSync
  t.throws(() => new FileOutput(99, full).write(Buffer.from('@ex@ 1 2\n')), { code: 'ENOSPC' })
  const none = (() => 0) as unknown as typeof writeSync
  t.throws(() => new FileOutput(99, none).write(Buffer.from('x')), { code: 'EIO', syscall: 'write' })
})

t.test('wholeWritesTo: a FileOutput for a regular file, the stream itself otherwise', async (t) => {
  const stdout = new PassThrough()
  const fd = openSync(join(t.testdir(), 'f'), 'w')
  t.teardown(() => closeSync(fd))
  const out = wholeWritesTo(stdout, fd)
  t.ok(out instanceof FileOutput)
  t.equal(wholeWritesTo(stdout, openSync('/dev/null', 'w')), stdout, 'a character device: as it is')
  t.equal(wholeWritesTo(stdout, 1e6), stdout, 'no such descriptor: as it is')
})

t.test('logdaemon-cat > file past `ulimit -f`: exit 1 and the error, not exit 0 and a cut copy', { skip: shSkip }, async (t) => {
  const dir = t.testdir()
  // Not tap's NODE_OPTIONS: its hooks write their own files at exit, past the limit too.
  const env = { PATH: process.env.PATH ?? '' }
  const data = journal(20000)
  writeFileSync(join(dir, 'journal.7'), data)
  // 8 blocks of 512 bytes: the first write (the whole journal) is cut at 4096 bytes; past the limit a write fails
  // with EFBIG where SIGXFSZ is ignored or blocked, as a full disk fails it with ENOSPC.
  const run = spawnSync('sh', ['-c', `trap '' XFSZ; ulimit -f 8; exec "${process.execPath}" "${CAT}" journal.7 > copy`], { cwd: dir, encoding: 'utf8', env })
  // Without the fix: exit 0 (or the signal, below) and nothing said, the copy cut at 4096 bytes. With it, the next
  // write fails and says so: exit 1, or SIGXFSZ once the error is out where a parent (tap) blocks the signal.
  t.not(run.status, 0, 'not a success')
  t.ok(run.status === 1 || run.signal === 'SIGXFSZ', `exit 1 or SIGXFSZ (${run.status}, ${run.signal})`)
  t.match(run.stderr, /^logdaemon-cat: standard output: EFBIG: file too large, write\n$/)
  t.ok(readFileSync(join(dir, 'copy')).length < data.length)
  const whole = spawnSync('sh', ['-c', `exec "${process.execPath}" "${CAT}" journal.7 > copy`], { cwd: dir, encoding: 'utf8' })
  t.equal(whole.status, 0)
  t.same(readFileSync(join(dir, 'copy')), data)
})

t.test('the print listener to standard output as a file past `ulimit -f`: the entry fails, not a cut copy', { skip: shSkip }, async (t) => {
  const dir = t.testdir()
  const env = { PATH: process.env.PATH ?? '' }
  // The last entry crosses the limit (4096 bytes): its write is cut short, and no write follows to fail.
  const head = journal(3900)
  const data = Buffer.concat([head, Buffer.from(`@pv@ 0 @db.desc@ 99999 @${'x'.repeat(4200 - head.length)}@ \n`)])
  writeFileSync(join(dir, 'journal.7'), data)
  const print = new URL('../../dist/lib/listeners/builtin/print/print.js', import.meta.url).href
  const reader = new URL('../../dist/lib/index.js', import.meta.url).href
  writeFileSync(
    join(dir, 'run.mjs'),
    `import { PrintListener, optionsSchema } from '${print}'
import { createJournalReader } from '${reader}'
const l = new PrintListener({ ...optionsSchema.parse({ format: 'raw' }), output: '-' })
try {
  for await (const e of createJournalReader('journal.7')) await l.listen(e)
  await l.sync()
} catch (err) {
  process.stderr.write('failed: ' + err.code + '\\n')
  process.exitCode = 1
}
`,
  )
  const run = spawnSync('sh', ['-c', `trap '' XFSZ; ulimit -f 8; exec "${process.execPath}" run.mjs > copy`], { cwd: dir, encoding: 'utf8', env })
  // Without the fix: exit 0, nothing said, the copy cut. With it: the entry fails (exit 1, or SIGXFSZ as above).
  t.ok(run.status === 1 || run.signal === 'SIGXFSZ', `exit 1 or SIGXFSZ (${run.status}, ${run.signal})`)
  t.match(run.stderr, /^failed: EFBIG\n$/)
  const whole = spawnSync('sh', ['-c', `exec "${process.execPath}" run.mjs > copy`], { cwd: dir, encoding: 'utf8', env })
  t.equal(whole.status, 0, whole.stderr)
  t.same(readFileSync(join(dir, 'copy')), data)
})
