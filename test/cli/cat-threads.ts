/**
 * `logdaemon-cat --threads N` end to end, with the built bin and real
 * worker threads: the same output (bytes, stderr, exit code) as
 * `--threads 1` on the fixtures and on adversarial data in tiny ranges
 * (LOGDAEMON_CAT_RANGE_BYTES), a closed pipe mid-run, and the usage errors.
 */
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { main } from '../../lib/cli/cat.js'
import { fakeIO } from '../helpers/stdio.js'
import { FIXTURE_DIR, fixtureNames, fixturesSkip } from '../helpers/fixtures.js'

const BIN = fileURLToPath(new URL('../../dist/bin/logdaemon-cat.js', import.meta.url))
const binSkip = existsSync(BIN) ? false : `built bin missing at ${BIN}: run npm run build`

function cat(args: readonly string[], rangeBytes: number) {
  const r = spawnSync(process.execPath, [BIN, '--no-progress', ...args], {
    env: { ...process.env, LOGDAEMON_CAT_RANGE_BYTES: String(rangeBytes), LOGDAEMON_THREADS: '' },
    maxBuffer: 1 << 30,
    timeout: 120_000,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString() }
}

/** The same run in this process with --threads 1 (no spawn: the serial path, as the bin runs it). */
async function serial(args: readonly string[]) {
  const f = fakeIO()
  const status = await main(['--threads', '1', ...args], { ...f.io, stderr: f.io.stderr })
  return { status, stdout: f.stdout(), stderr: f.stderr().replace(/^/gm, '') }
}

const esc = (s: string): string => s.replace(/@/g, '@@')
const TRAP = '\n@pv@ 7 @db.rev@ @//depot/x@ 1 @fake@ \n'

function adversarial(n: number): string {
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    if (i % 5 === 0) out.push(`@pv@ 9 @db.change@ ${i} ${i} @c@ @u@ 1 1 @${esc(`d${TRAP}`.repeat(i % 7))}@ @@\r\n`)
    else if (i % 5 === 1) out.push(`@ex@ ${i} 1400000000\n`)
    else if (i % 5 === 2) out.push(`@rv@ 3 @db.have@ @//c/f${i}@ @//depot/f${i}@ ${i} 1 \n`)
    else if (i % 5 === 3) out.push(`@pv@ 9 @db.change@ ${i} ${i} @c@ @u@ 1 1 @${esc('é'.repeat(i % 50) + TRAP)}@ @@\n`)
    else out.push(`@dv@ 3 @db.have@ @//c/g${i}@ @//depot/g${i}@ ${i} 1 \n`)
  }
  return out.join('')
}

t.test('--threads 2 writes what --threads 1 writes', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const good = adversarial(400)
  const files: Record<string, string> = {
    'journal.3': good,
    'bad.jnl': good + 'not a record\n' + good,
    'cut.jnl': good + '@ex@ 1 2',
  }
  for (const [name, text] of Object.entries(files)) writeFileSync(`${dir}/${name}`, text)
  const argSets = [
    ['-f', 'raw'],
    ['-f', 'json'],
    ['-f', 'row'],
    ['-f', 'json', '-t', 'db.have', '-o', 'dv'],
    ['-f', 'raw', '--allow-incomplete'],
  ]
  for (const name of Object.keys(files)) {
    for (const args of name === 'journal.3' ? argSets : argSets.filter((a) => a.length === 2)) {
      const one = await serial([...args, `${dir}/${name}`])
      const two = cat([...args, '--threads', '2', `${dir}/${name}`], 1000)
      t.equal(two.status, one.status, `${name} ${args.join(' ')}: exit code`)
      t.equal(two.stderr, one.stderr, `${name} ${args.join(' ')}: stderr`)
      t.ok(two.stdout.equals(one.stdout), `${name} ${args.join(' ')}: stdout (${one.stdout.length} bytes)`)
    }
  }
  t.equal(cat(['-f', 'raw', '--threads', '2', `${dir}/journal.3`], 1000).stdout.toString(), good, 'raw is the input')
  t.match(cat(['--threads', '2', `${dir}/bad.jnl`], 1000).stderr, /ERR_JOURNAL_MALFORMED|a record must start/)
})

t.test('records of several MiB (framed on the main thread, past what a range task reads on): what --threads 1 writes', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const long = (i: number, mib: number): string => `@pv@ 9 @db.change@ ${i} ${i} @c@ @u@ 1 1 @${esc(`w${TRAP}`.repeat(Math.ceil((mib << 20) / 45)))}@ @@\n`
  const text = [adversarial(300), long(1, 5), adversarial(50), long(2, 6), long(3, 0.3), adversarial(200), long(4, 5)].join('')
  writeFileSync(`${dir}/journal.8`, text)
  for (const args of [
    ['-f', 'raw'],
    ['-f', 'json'],
    ['-f', 'raw', '-t', 'db.change'],
    ['-f', 'row', '-o', 'pv'],
  ]) {
    const want = await serial([...args, `${dir}/journal.8`])
    for (const threads of ['2', '3']) {
      const got = cat(['--threads', threads, ...args, `${dir}/journal.8`], 1 << 20)
      t.equal(got.status, want.status, `${args.join(' ')} -j${threads}: exit code`)
      t.ok(Buffer.compare(got.stdout, want.stdout) === 0, `${args.join(' ')} -j${threads}: the same ${want.stdout.length} bytes`)
      t.equal(got.stderr, want.stderr, `${args.join(' ')} -j${threads}: stderr`)
    }
  }
})

t.test('the fixtures, in small ranges', { skip: binSkip || fixturesSkip }, async (t) => {
  for (const name of fixtureNames()) {
    for (const format of ['raw', 'row']) {
      const one = await serial(['-f', format, FIXTURE_DIR + name])
      const two = cat(['-f', format, '--threads', '3', FIXTURE_DIR + name], 512)
      t.equal(two.status, one.status)
      t.ok(two.stdout.equals(one.stdout), `${name} ${format}`)
    }
  }
})

t.test('a pipe closed mid-run: exit 0, no hang, workers gone', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  writeFileSync(`${dir}/big.jnl`, adversarial(20000))
  const r = spawnSync(
    'bash',
    ['-c', `set -o pipefail; LOGDAEMON_CAT_RANGE_BYTES=4096 "${process.execPath}" "${BIN}" --threads 2 -f json "${dir}/big.jnl" | head -c 100 >/dev/null`],
    {
      encoding: 'utf8',
      timeout: 120_000,
    },
  )
  t.equal(r.status, 0, r.stderr)
  t.equal(r.signal, null, 'ended by itself')
})

t.test('a named pipe given as a file is read as a stream, whatever the thread count', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const text = adversarial(3000)
  for (const [label, bytes] of [
    ['plain', Buffer.from(text)],
    ['gzip', gzipSync(text)],
  ] as const) {
    for (const threads of ['1', '2']) {
      const fifo = `${dir}/fifo-${label}-${threads}`
      execFileSync('mkfifo', [fifo])
      writeFileSync(`${dir}/in`, bytes)
      // The writer runs in bash beside the reader: opening a pipe blocks until both ends are open.
      const r = spawnSync(
        'bash',
        [
          '-c',
          `cat "${dir}/in" > "${fifo}" & LOGDAEMON_CAT_RANGE_BYTES=4096 "${process.execPath}" "${BIN}" --no-progress --threads ${threads} -f raw "${fifo}"; s=$?; wait; exit $s`,
        ],
        { timeout: 60_000, maxBuffer: 1 << 30, env: { ...process.env, LOGDAEMON_THREADS: '' } },
      )
      t.equal(r.signal, null, `${label}, --threads ${threads}: ended by itself`)
      t.equal(r.status, 0, `${label}, --threads ${threads}: ${r.stderr}`)
      t.ok(r.stdout.equals(Buffer.from(text)), `${label}, --threads ${threads}: every record, as written`)
    }
  }
})

t.test('--threads and LOGDAEMON_THREADS take a positive whole number', async (t) => {
  for (const bad of ['0', '-1', '1e3', 'x', '1.5', '']) {
    const f = fakeIO()
    t.equal(await main(['--threads', bad, '-'], f.io), 2, `--threads ${JSON.stringify(bad)}`)
    t.match(f.stderr(), /threads|argument/)
  }
  for (const bad of ['0', 'x', '-2']) {
    const f = fakeIO()
    t.equal(await main(['-'], { ...f.io, env: { LOGDAEMON_THREADS: bad } }), 2, `LOGDAEMON_THREADS=${bad}`)
    t.match(f.stderr(), /LOGDAEMON_THREADS must be a positive integer/)
  }
  const f = fakeIO('@ex@ 1 2\n')
  t.equal(await main(['--threads', '100000', '-'], f.io), 0, 'a huge count is capped, not refused')
  t.equal(f.stdout().toString(), '@ex@ 1 2\n')
  const g = fakeIO('@ex@ 1 2\n')
  t.equal(await main(['-'], { ...g.io, env: { LOGDAEMON_THREADS: '3' } }), 0)
})

t.test('a value that never closes, past --max-entry-bytes: the threads hold the record once, as --threads 1 does', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const file = `${dir}/journal.3`
  const head = '@ex@ 1 2\n'.repeat(1000)
  // 96 MiB of one quoted value without its end (a damaged or hostile file), over a limit of 48 MiB.
  writeFileSync(file, Buffer.concat([Buffer.from(`${head}@pv@ 1 @db.desc@ @`), Buffer.alloc(96 << 20, 'y\n')]))
  // The child's peak RSS (VmHWM: its own, where getrusage's maxRSS keeps the parent's peak from the fork), written to stderr as it exits.
  const rss =
    'data:text/javascript,import{readFileSync}from"node:fs";process.on("exit",()=>process.stderr.write("maxRSS "+/VmHWM:\\s*(\\d+)/.exec(readFileSync("/proc/self/status","latin1"))[1]+"\\n"))'
  const run = (threads: string) => {
    const r = spawnSync(process.execPath, ['--import', rss, BIN, '--no-progress', '--threads', threads, '--max-entry-bytes', String(48 << 20), file], {
      // Without tap's loader (NODE_OPTIONS), which every worker would load too.
      env: { ...process.env, NODE_OPTIONS: '', LOGDAEMON_CAT_RANGE_BYTES: '', LOGDAEMON_THREADS: '' },
      maxBuffer: 1 << 26,
      timeout: 120_000,
    })
    const stderr = r.stderr.toString()
    const kb = Number(/maxRSS (\d+)/.exec(stderr)?.[1])
    return { status: r.status, stdout: r.stdout, message: stderr.replace(/maxRSS \d+\n/, ''), mb: kb / 1024 }
  }
  const one = run('1')
  t.match(one.message, `offset ${head.length}, line 1001: record of more than ${48 << 20} bytes (maxEntryBytes) [ERR_ENTRY_TOO_LARGE]`)
  t.ok(one.stdout.equals(Buffer.from(head)), 'every record before it')
  // Two threads (each thread is a V8 isolate of its own, which costs more under the test runner than in a shell).
  const two = run('2')
  t.equal(two.status, 1)
  t.equal(two.message, one.message, '--threads 2: the same error')
  t.ok(two.stdout.equals(one.stdout), '--threads 2: the same records before it')
  // Framed twice (on the main thread in a buffer grown by doubling, then serially again), the record was held two to
  // three times: at least its 48 MiB more than serially (a probe: 197-213 MB against 107 MB).
  t.ok(two.mb < one.mb + 40, `--threads 2: peak RSS ${two.mb.toFixed(0)} MB, --threads 1 ${one.mb.toFixed(0)} MB`)
})
