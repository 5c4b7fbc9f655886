/**
 * The standby's script, run by a local `sh` exactly as ssh would run it
 * (no ssh here: the protocol and the file handling on their own).
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { remoteCommand, remoteScript, shellQuote } from '../../../../lib/listeners/builtin/hot-backup/hot-backup-remote.js'

/** A running script: send requests, read answer lines, see how it ended. */
function run(argv: string[]) {
  const child = spawn('sh', argv, { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  const waiting: (() => void)[] = []
  child.stdout.setEncoding('latin1').on('data', (s: string) => {
    out += s
    for (const w of waiting.splice(0)) w()
  })
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s))
  const exited = once(child, 'close') as Promise<[number | null, string | null]>
  child.on('close', () => {
    for (const w of waiting.splice(0)) w()
  })
  return {
    send(...parts: (string | Buffer)[]) {
      for (const p of parts) child.stdin.write(p)
    },
    end() {
      child.stdin.end()
    },
    async line(): Promise<string> {
      for (;;) {
        const nl = out.indexOf('\n')
        if (nl >= 0) {
          const l = out.slice(0, nl)
          out = out.slice(nl + 1)
          return l
        }
        if (child.exitCode !== null) return ''
        await new Promise<void>((r) => waiting.push(r))
      }
    },
    async exit(): Promise<number | null> {
      const [code] = await exited
      return code
    },
    stderr: () => err,
  }
}

const script = (dir: string, replay = '', fsync = '1') => run(['-c', remoteScript(), 'logdaemon-hot-backup', dir, replay, fsync])

/** Bytes that would break any text handling: NUL, CR, LF, `@`, 0xff, a line that looks like a request. */
const hostile = Buffer.concat([Buffer.from('@pv@ 1 @db.x@ @a\r\nW 1 0 5\n@ \n'), Buffer.from([0, 0xff, 0xfe, 0x0a, 0x40, 0x0d])])

t.test('the script has no single quote to escape', async (t) => {
  t.notMatch(remoteScript(), /'/)
  t.equal(shellQuote("it's"), "'it'\\''s'")
  t.match(remoteCommand({ dir: 'd', replay: null }), / 1$/, 'fsync by default')
  t.match(remoteCommand({ dir: 'd', replay: null, fsync: false }), / 0$/)
})

t.test('hello, sizes, writes byte for byte, overlap dropped, end of input ends it', async (t) => {
  const dir = join(t.testdir(), 'standby')
  const r = script(dir)
  t.equal(await r.line(), 'H logdaemon-hot-backup 1')
  r.send('P 7\n')
  t.equal(await r.line(), 'S 7 0', 'no file yet')
  r.send(`W 7 0 ${hostile.length}\n`, hostile)
  t.equal(await r.line(), `A 7 ${hostile.length}`)
  // The standby already has the first 10 bytes of this write: they are read and dropped.
  const more = Buffer.from('0123456789abcdef')
  const whole = Buffer.concat([hostile, more])
  r.send(`W 7 ${hostile.length - 10} ${26}\n`, whole.subarray(hostile.length - 10))
  t.equal(await r.line(), `A 7 ${whole.length}`)
  r.send(`W 7 0 5\n`, whole.subarray(0, 5))
  t.equal(await r.line(), `A 7 ${whole.length}`, 'a write it has entirely changes nothing')
  r.send('P 7\n', 'P 8\n')
  t.equal(await r.line(), `S 7 ${whole.length}`)
  t.equal(await r.line(), 'S 8 0')
  r.end()
  t.equal(await r.exit(), 0)
  t.ok(readFileSync(join(dir, 'journal.7')).equals(whole), 'journal.7 is byte-identical')
})

t.test('a gap, an unknown request and a cut write end it with E', async (t) => {
  const dir = t.testdir({ 'journal.1': 'abc' })
  const gap = script(dir)
  await gap.line()
  gap.send('W 1 5 1\nx')
  t.match(await gap.line(), /^E gap: .*journal\.1 has 3 bytes, data starts at 5$/)
  t.equal(await gap.exit(), 3)

  const unknown = script(dir)
  await unknown.line()
  unknown.send('X 1\n')
  t.equal(await unknown.line(), 'E unknown request: X')
  t.equal(await unknown.exit(), 2)

  const cut = script(dir)
  await cut.line()
  cut.send('W 1 3 100\n', 'defg')
  cut.end()
  t.match(await cut.line(), /^E short write/)
  t.equal(await cut.exit(), 4)
  t.equal(readFileSync(join(dir, 'journal.1'), 'latin1'), 'abcdefg', 'what arrived is kept: still a prefix of the journal')
})

t.test('bytes it has are compared, not dropped: other bytes end it with E mismatch, the file untouched', async (t) => {
  const dir = t.testdir({ 'journal.4': 'abcdef' })
  const r = script(dir)
  await r.line()
  r.send('W 4 2 6\n', 'cdefgh')
  t.equal(await r.line(), 'A 4 8', 'the same bytes: only the new ones are written')
  r.send('W 4 1 3\n', 'bXd')
  t.equal(await r.line(), `E mismatch: ${join(dir, 'journal.4')} differs from the journal in bytes 1..4`)
  r.end()
  t.equal(await r.exit(), 6)
  t.equal(readFileSync(join(dir, 'journal.4'), 'latin1'), 'abcdefgh', 'nothing written over')
})

t.test('replay: applied from the file, acknowledged and reported as replayed', async (t) => {
  const dir = t.testdir()
  const applied = join(dir, 'applied')
  const r = script(dir, `cat >> ${shellQuote(applied)}`)
  await r.line()
  r.send(`W 2 0 ${hostile.length}\n`, hostile)
  t.equal(await r.line(), `A 2 ${hostile.length}`)
  r.send('W 2 3 2\n', hostile.subarray(3, 5))
  t.equal(await r.line(), `A 2 ${hostile.length}`, 'nothing new, nothing replayed twice')
  r.end()
  await r.exit()
  t.ok(readFileSync(applied).equals(hostile), 'replayed once, byte for byte')
  t.equal(readFileSync(join(dir, 'journal.2.replayed'), 'utf8'), `${hostile.length}\n`)
})

t.test('replay that fails: E, and the bytes stay unreplayed until a later write', async (t) => {
  const dir = t.testdir()
  const applied = join(dir, 'applied')
  const failing = script(dir, 'cat > /dev/null; exit 1')
  await failing.line()
  failing.send('W 3 0 4\n', 'abcd')
  t.equal(await failing.line(), 'E replay of ' + join(dir, 'journal.3') + ' failed')
  t.equal(await failing.exit(), 5)
  t.equal(readFileSync(join(dir, 'journal.3'), 'latin1'), 'abcd', 'written')
  t.notOk(existsSync(join(dir, 'journal.3.replayed')))

  const ok = script(dir, `cat >> ${shellQuote(applied)}`)
  await ok.line()
  ok.send('P 3\n')
  t.equal(await ok.line(), 'S 3 0', 'the standby reports what it replayed, not what it stored')
  ok.send('W 3 0 6\n', 'abcdef')
  t.equal(await ok.line(), 'A 3 6')
  ok.end()
  await ok.exit()
  t.equal(readFileSync(applied, 'latin1'), 'abcdef', 'caught up once')
  t.equal(readFileSync(join(dir, 'journal.3'), 'latin1'), 'abcdef', 'stored once')
})

t.test('without fsync', async (t) => {
  const dir = t.testdir()
  const r = script(dir, '', '0')
  await r.line()
  r.send('W 1 0 2\nok')
  t.equal(await r.line(), 'A 1 2')
  r.end()
  t.equal(await r.exit(), 0)
})

t.test('the command line survives a login shell, whatever the directory is called', async (t) => {
  const root = t.testdir()
  const dir = join(root, `it's a "dir" with $HOME and \`x\``)
  const r = run(['-c', remoteCommand({ dir, replay: null })])
  t.equal(await r.line(), 'H logdaemon-hot-backup 1')
  r.send('W 1 0 3\nabc')
  t.equal(await r.line(), 'A 1 3')
  r.end()
  t.equal(await r.exit(), 0)
  t.equal(readFileSync(join(dir, 'journal.1'), 'latin1'), 'abc')
})
