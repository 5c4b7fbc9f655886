import t from 'tap'
import { constants as bufferConstants } from 'node:buffer'
import { spawn, spawnSync } from 'node:child_process'
import { Readable, Writable } from 'node:stream'
import { existsSync, writeFileSync, readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { fileURLToPath } from 'node:url'
import { main } from '../../lib/cli/cat.js'
import { fakeIO } from '../helpers/stdio.js'
import { FIXTURE_DIR, FIXTURE_RECORDS, fixtureNames, fixturesSkip, readFixture } from '../helpers/fixtures.js'

const BIN = fileURLToPath(new URL('../../dist/bin/logdaemon-cat.js', import.meta.url))
const binSkip = existsSync(BIN) ? false : `built bin missing at ${BIN}: run npm run build`

t.test('--format raw reproduces every fixture byte for byte, plain and gz', { skip: fixturesSkip }, async (t) => {
  const dir = t.testdir()
  for (const name of fixtureNames()) {
    const data = readFixture(name)
    const gz = `${dir}/${name}.gz`
    writeFileSync(gz, gzipSync(data))
    for (const file of [FIXTURE_DIR + name, gz]) {
      const f = fakeIO()
      t.equal(await main([file], f.io), 0, `${file}: exit 0`)
      t.ok(f.stdout().equals(data), `${file}: same bytes`)
      t.equal(f.stderr(), '')
    }
  }
})

t.test('--format json gives the fields of every record', { skip: fixturesSkip }, async (t) => {
  for (const name of fixtureNames()) {
    const f = fakeIO()
    t.equal(await main(['--format', 'json', FIXTURE_DIR + name], f.io), 0)
    const rows = f.jsonLines()
    t.equal(rows.length, FIXTURE_RECORDS[name], `${name}: one object per record`)
    for (const key of ['file', 'journal', 'offset', 'end', 'line', 'op', 'version', 'table', 'fields']) {
      t.ok(key in rows[0], `${name}: has ${key}`)
    }
  }
  const f = fakeIO()
  await main(['-f', 'json', FIXTURE_DIR + 'journal-2014-submit.jnl'], f.io)
  const first = JSON.parse(f.stdout().toString().split('\n')[0]!)
  t.same(first, {
    file: FIXTURE_DIR + 'journal-2014-submit.jnl',
    journal: null,
    offset: 0,
    end: 52,
    line: 1,
    op: 'pv',
    version: 0,
    table: 'db.depot',
    fields: ['import', '0', 'subdir', 'import/...'],
  })
})

t.test('journal numbers come from the file name', async (t) => {
  const dir = t.testdir({ 'journal.12': '@ex@ 1 2\n', 'p4.jnl.7.gz': gzipSync('@ex@ 3 4\n'), 'other.txt': '@ex@ 5 6\n' })
  for (const [file, n] of [
    ['journal.12', 12],
    ['p4.jnl.7.gz', 7],
    ['other.txt', null],
  ] as const) {
    const f = fakeIO()
    await main(['-f', 'json', `${dir}/${file}`], f.io)
    t.equal(JSON.parse(f.stdout().toString()).journal, n, file)
  }
})

t.test('filters by table pattern and op', { skip: fixturesSkip }, async (t) => {
  const f = fakeIO()
  await main(['-f', 'json', '-t', 'db.rev*', '-t', 'db.change', FIXTURE_DIR + 'journal-2014-submit.jnl'], f.io)
  const rows = f.jsonLines()
  t.ok(rows.length > 0)
  t.ok(rows.every((r) => /^db\.rev/.test(r.table) || r.table === 'db.change'))
  const g = fakeIO()
  await main(['--op', 'ex', FIXTURE_DIR + 'journal-2014-win1252.jnl'], g.io)
  const lines = g.stdout().toString().trim().split('\n')
  t.ok(lines.length > 0 && lines.every((l) => l.startsWith('@ex@ ')))
})

t.test('latin1 maps every byte to one code unit', async (t) => {
  const raw = Buffer.concat([Buffer.from('@pv@ 1 @db.user@ @'), Buffer.from([0xe9, 0xff]), Buffer.from('@ \n')])
  const f = fakeIO(raw)
  await main(['-f', 'json', '-e', 'latin1'], f.io)
  t.same(JSON.parse(f.stdout().toString()).fields, ['\u00e9\u00ff'])
})

t.test('stdin, - and several files in order', async (t) => {
  const dir = t.testdir({ a: '@ex@ 1 2\n', b: '@ex@ 3 4\n' })
  const f = fakeIO('@ex@ 9 9\n')
  t.equal(await main([`${dir}/a`, '-', `${dir}/b`], f.io), 0)
  t.equal(f.stdout().toString(), '@ex@ 1 2\n@ex@ 9 9\n@ex@ 3 4\n')
})

t.test('malformed input: exit 1 with file, offset and line, good records first', async (t) => {
  const dir = t.testdir({ 'journal.3': '@ex@ 1 2\nbroken\n@ex@ 3 4\n' })
  const f = fakeIO()
  t.equal(await main([`${dir}/journal.3`], f.io), 1)
  t.equal(f.stdout().toString(), '@ex@ 1 2\n')
  t.match(f.stderr(), /^logdaemon-cat: .*journal\.3: journal 3, offset 9, line 2: .* \[ERR_JOURNAL_MALFORMED\]\n/, 'the place, then the stable code')
  const g = fakeIO()
  t.equal(await main(['--skip-malformed', `${dir}/journal.3`], g.io), 0)
  t.equal(g.stdout().toString(), '@ex@ 1 2\n@ex@ 3 4\n')
  t.match(g.stderr(), /skipped 1 malformed/)
})

t.test('a message on stderr waits for the records before it to leave stdout (one pipe for both: 2>&1)', async (t) => {
  // Standard output as a pipe that a slow reader drains: each write is taken only a while later, as a pipe's
  // asynchronous writes are. What each stream hands on goes into one log, as into the pipe of `2>&1`.
  const good = '@pv@ 3 @db.have@ @//ws/file@ @//depot/file@ 1 0 \n'.repeat(3000)
  // A gzip file cut before its trailer: ERR_GZIP_TRUNCATED after every record inflated.
  const cut = (gz: Buffer): Buffer => gz.subarray(0, gz.length - 4)
  const dir = t.testdir({ 'journal.3': `${good}broken\n`, 'journal.4': `${good}oops\n@ex@ 1 2\n`, 'journal.5.gz': cut(gzipSync(good)) })
  for (const args of [['journal.3'], ['--skip-malformed', 'journal.4'], ['journal.5.gz'], ['--threads', '1', 'journal.3']]) {
    const log: string[] = []
    const stdout = new Writable({
      highWaterMark: 1 << 20,
      write(chunk: Buffer, _encoding, callback) {
        setTimeout(() => {
          log.push(chunk.toString('latin1'))
          callback()
        }, 20)
      },
    })
    const stderr = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        log.push(chunk.toString('latin1'))
        callback()
      },
    })
    const file = args.pop() as string
    const code = await main([...args, `${dir}/${file}`], { stdin: Readable.from([]), stdout, stderr })
    // Everything written reaches the log (the process would wait for it too, before it exits).
    await new Promise((resolve) => stdout.end(resolve))
    const text = log.join('')
    const message = text.indexOf('logdaemon-cat: ')
    t.ok(message > 0, `${file}: a message`)
    t.equal(text.lastIndexOf('\n@', message), text.lastIndexOf('\n@'), `${args.join(' ')} ${file} (exit ${code}): the message comes after every record`)
  }
})

t.test('input ending inside a record', async (t) => {
  const dir = t.testdir({ j: '@ex@ 1 2\n@pv@ 1 @db.x@ @par' })
  const f = fakeIO()
  t.equal(await main([`${dir}/j`], f.io), 1)
  t.match(f.stderr(), /offset 9, line 2: the input ends inside a record.* \[ERR_JOURNAL_INCOMPLETE\]\n/)
  t.equal(f.stdout().toString(), '@ex@ 1 2\n')
  const g = fakeIO()
  t.equal(await main(['--allow-incomplete', '-f', 'json', `${dir}/j`], g.io), 0)
  const rows = g.jsonLines()
  t.equal(rows[1].incomplete, true)
  t.same(rows[1].fields, ['par'])
})

t.test('gzip errors name the file', async (t) => {
  const gz = gzipSync(Buffer.from('@ex@ 1 2\n'.repeat(1000)))
  const dir = t.testdir({ 'cut.gz': gz.subarray(0, gz.length - 20), 'bad.gz': Buffer.concat([gz.subarray(0, 12), Buffer.alloc(40, 0xff)]) })
  const f = fakeIO()
  t.equal(await main([`${dir}/cut.gz`], f.io), 1)
  t.match(f.stderr(), /cut\.gz/)
  const g = fakeIO()
  t.equal(await main([`${dir}/bad.gz`], g.io), 1)
  t.match(g.stderr(), /bad\.gz/)
})

t.test('usage errors exit 2; --help and --version exit 0', async (t) => {
  for (const args of [['--nope'], ['--format', 'xml'], ['--max-entry-bytes', 'x'], ['-t', '', '-'], ['--op=', '-']]) {
    const f = fakeIO()
    t.equal(await main(args, f.io), 2, args.join(' '))
    t.match(f.stderr(), /^logdaemon-cat: /)
  }
  const h = fakeIO()
  t.equal(await main(['--help'], h.io), 0)
  for (const opt of ['--format', '--table', '--op', '--skip-malformed', '--allow-incomplete', '--progress', '--encoding']) {
    t.match(h.stdout().toString(), opt)
  }
  const v = fakeIO()
  t.equal(await main(['--version'], v.io), 0)
  t.match(
    v.stdout().toString(),
    /^logdaemon-cat \d+\.\d+\.\d+ \(gzip inflater: (isal-worker|isal|zlib-sync-worker|zlib-sync|node:zlib-worker|node:zlib-sync|node:zlib)\)\n$/,
  )
})

t.test('a missing file is an I/O error', async (t) => {
  const f = fakeIO()
  t.equal(await main(['/nonexistent/journal.1'], f.io), 1)
  t.match(f.stderr(), /logdaemon-cat: .*nonexistent/)
})

t.test('--progress draws on stderr and leaves stdout exact', { skip: fixturesSkip }, async (t) => {
  const f = fakeIO()
  t.equal(await main(['--progress', FIXTURE_DIR + 'checkpoint-2014.ckp'], f.io), 0)
  t.ok(f.stdout().equals(readFixture('checkpoint-2014.ckp')))
  t.match(f.stderr(), /logdaemon-cat \[/)
})

t.test('the built bin', { skip: binSkip || fixturesSkip }, async (t) => {
  const file = FIXTURE_DIR + 'checkpoint-2020-windows-unicode.ckp'
  const r = spawnSync(process.execPath, [BIN, file])
  t.equal(r.status, 0)
  t.ok(r.stdout.equals(readFileSync(file)), 'raw output equals the file')

  t.test('| head -1 exits quietly with 0', async (t) => {
    const dir = t.testdir()
    const big = `${dir}/big.ckp`
    writeFileSync(big, Buffer.from('@pv@ 1 @db.x@ @value@ \n'.repeat(400000)))
    const child = spawn('sh', ['-c', `"${process.execPath}" "${BIN}" "${big}" | head -1`])
    let out = ''
    let err = ''
    child.stdout.on('data', (c) => (out += c))
    child.stderr.on('data', (c) => (err += c))
    const [code] = await new Promise<[number | null]>((r) => child.on('close', (c) => r([c])))
    t.equal(code, 0)
    t.equal(out, '@pv@ 1 @db.x@ @value@ \n')
    t.equal(err, '', 'nothing on stderr')
    const status = spawnSync('sh', ['-c', `set -o pipefail; "${process.execPath}" "${BIN}" "${big}" | head -1 >/dev/null`], { shell: '/bin/bash' })
    t.equal(status.status, 0, 'the cat itself exits 0 on EPIPE')
  })
})

t.test('a directory as input: the message names it (EISDIR alone does not say which)', async (t) => {
  const dir = t.testdir()
  const f = fakeIO()
  t.equal(await main([dir], f.io), 1)
  t.equal(f.stderr(), `logdaemon-cat: ${dir}: EISDIR: illegal operation on a directory, read\n`)
})

t.test('a directory as input on every path: json and row lines encoded on a pool too, and standard input', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  // Tests' range sizes send json and row on a stream to the worker pool: its module loaded after the input
  // opened, and the input's EISDIR came first, an unhandled 'error' (a stack trace) in 4 runs of 5.
  const env = { ...process.env, LOGDAEMON_CAT_RANGE_BYTES: '64' }
  for (const args of [
    ['--threads', '2', '-f', 'json'],
    ['--threads', '2', '-f', 'row'],
    ['--threads', '1', '-f', 'json'],
  ]) {
    for (let run = 0; run < 5; run++) {
      const r = spawnSync(process.execPath, [BIN, ...args, dir], { env, encoding: 'utf8' })
      t.same(
        { status: r.status, stderr: r.stderr },
        { status: 1, stderr: `logdaemon-cat: ${dir}: EISDIR: illegal operation on a directory, read\n` },
        `${args.join(' ')}, run ${run + 1}`,
      )
    }
  }
  // Node's standard input on a directory is a stream that just ends: it was taken for an empty input (exit 0).
  for (const args of [[], ['-'], ['-f', 'json', '-'], ['--summary']]) {
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${BIN}" ${args.join(' ')} < "${dir}"`], { encoding: 'utf8' })
    t.same(
      { status: r.status, stderr: r.stderr },
      { status: 1, stderr: 'logdaemon-cat: standard input: EISDIR: illegal operation on a directory, read\n' },
      `< DIR ${args.join(' ')}`,
    )
  }
})

t.test('--max-entry-bytes above the largest Buffer is a usage error, not a failure of the read', async (t) => {
  const most = bufferConstants.MAX_LENGTH
  const f = fakeIO('')
  t.equal(await main(['--max-entry-bytes', String(most + 1), '-'], f.io), 2)
  t.equal(
    f.stderr(),
    `logdaemon-cat: --max-entry-bytes must be at most ${most}, the largest record a Buffer holds (got ${most + 1})\nTry 'logdaemon-cat --help'.\n`,
  )
  const ok = fakeIO('@ex@ 1 2\n')
  t.equal(await main(['--max-entry-bytes', String(most), '-'], ok.io), 0, 'the largest is taken')
  t.equal(ok.stdout().toString(), '@ex@ 1 2\n')
})

t.test('--max-entry-bytes takes digits only: 1e3, 0x10, 1.0 are usage errors', async (t) => {
  for (const bad of ['1e3', '0x10', '1.0', ' 12', '0']) {
    const f = fakeIO()
    t.equal(await main(['--max-entry-bytes', bad, '-'], f.io), 2, bad)
    t.match(f.stderr(), /--max-entry-bytes must be a positive integer/)
  }
  const f = fakeIO('')
  t.equal(await main(['--max-entry-bytes', '1000', '-'], f.io), 0, 'digits are fine')
})

t.test('a closed standard output (>&-): exit 1, and with --state nothing is saved as done', { skip: binSkip }, async (t) => {
  const dir = t.testdir()
  const root = `${dir}/root`
  const { mkdirSync } = await import('node:fs')
  mkdirSync(root)
  writeFileSync(`${root}/journal`, '@pv@ 1 @db.counters@ @change@ @1@ \n@ex@ 1 1700000000 \n')
  const run = (args: string): { status: number | null; stderr: string } => {
    const r = spawnSync('sh', ['-c', `'${process.execPath}' '${BIN}' ${args} >&-`], { encoding: 'utf8', timeout: 60_000 })
    return { status: r.status, stderr: r.stderr }
  }
  const plain = run(`'${root}/journal'`)
  t.equal(plain.status, 1)
  t.match(plain.stderr, /^logdaemon-cat: standard output is closed \(>&-\)/)
  const follow = run(`--follow --root '${root}' --from 0 --state '${dir}/st.json'`)
  t.equal(follow.status, 1)
  t.notOk(existsSync(`${dir}/st.json`), 'no state saved: nothing was printed')
  // > /dev/null is a choice, not an accident: it still works.
  const devnull = spawnSync('sh', ['-c', `'${process.execPath}' '${BIN}' '${root}/journal' >/dev/null`], { encoding: 'utf8' })
  t.equal(devnull.status, 0)
})
