import t from 'tap'
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { main } from '../../lib/cli/logdaemon.js'
import { verifyMirror, verifyStandby } from '../../lib/cli/verify.js'
import { transactions } from '../helpers/entries.js'
import { fakeIO } from '../helpers/stdio.js'
import { sshdSkip, startSshd } from '../helpers/sshd.js'

/**
 * Issue 13, item 17: `logdaemon run --until-caught-up` (a one-shot catch-up
 * that exits 0) and `logdaemon verify` (SHA-256 per journal, the first
 * differing offset, exit 1 on a difference), mirror and standby.
 */

/** A server root with journal.1 (plain), journal.2.gz and the live journal 3. */
function server(dir: string): Map<number, Buffer> {
  const root = join(dir, 'root')
  mkdirSync(root, { recursive: true })
  const j = new Map([
    [1, transactions(400, 1).bytes],
    [2, transactions(400, 2).bytes],
    [3, transactions(200, 3).bytes],
  ])
  writeFileSync(join(root, 'journal.1'), j.get(1)!)
  writeFileSync(join(root, 'journal.2.gz'), gzipSync(j.get(2)!))
  writeFileSync(join(root, 'journal'), j.get(3)!)
  return j
}

function config(dir: string, extra: Record<string, unknown> = {}): string {
  const file = join(dir, 'logdaemon.json')
  writeFileSync(
    file,
    JSON.stringify({
      server: { root: 'root' },
      from: 1,
      quietMs: 100,
      commitIntervalMs: 10,
      status: false,
      log: { level: 'silent' },
      listeners: [{ type: 'mirror', options: { dir: 'mirror', fsync: false } }],
      ...extra,
    }),
  )
  return file
}

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const f = fakeIO()
  const code = await main(argv, { stdout: f.io.stdout, stderr: f.io.stderr, signal: new AbortController().signal })
  return { code, stdout: f.stdout().toString(), stderr: f.stderr() }
}

t.test('run --until-caught-up exits 0 once caught up; verify then finds the mirror identical; a changed byte is found at its offset', async (t) => {
  const dir = t.testdir()
  const j = server(dir)
  const file = config(dir)
  const run = await cli(['run', '--until-caught-up', '-c', file])
  t.equal(run.code, 0, run.stderr)
  for (const [n, bytes] of j) t.ok(readFileSync(join(dir, 'mirror', `journal.${n}`)).equals(bytes), `journal ${n} mirrored`)

  const ok = await cli(['verify', '-c', file])
  t.equal(ok.code, 0, ok.stdout)
  t.match(ok.stdout, /journal 1: identical \(\d+ bytes, sha256 [0-9a-f]{16}…\)/)
  t.match(ok.stdout, /journal 2: identical/, 'the gz archive is compared decompressed')
  t.match(ok.stdout, /journal 3: identical/)
  t.match(ok.stdout, /verify: no difference\n$/)

  // p4d writes on: the mirror is behind, which is no difference.
  appendFileSync(join(dir, 'root', 'journal'), transactions(5, 3, j.get(3)!.length).bytes)
  const behind = await cli(['verify', '-c', file])
  t.equal(behind.code, 0)
  t.match(behind.stdout, /journal 3: behind, the copy is a prefix \(\d+ of \d+ bytes\)/)

  // One byte of the mirror's journal 2 changed.
  const m2 = join(dir, 'mirror', 'journal.2')
  const bytes = readFileSync(m2)
  bytes[1234] = bytes[1234]! ^ 0x20
  writeFileSync(m2, bytes)
  const bad = await cli(['verify', '-c', file])
  t.equal(bad.code, 1)
  t.match(bad.stdout, /journal 2: DIFFERS at offset 1234 \(server \d+ bytes sha256 [0-9a-f]+…, copy \d+ bytes sha256 [0-9a-f]+…\)/)
  t.match(bad.stdout, /verify: DIFFERENCES found \(exit 1\)/)
})

t.test("verify: a server archive that cannot be inflated is named, with ERR_GZIP_CORRUPT (zlib's words alone named no file)", async (t) => {
  const dir = t.testdir()
  const j = server(dir)
  const file = config(dir)
  const run = await cli(['run', '--until-caught-up', '-c', file])
  t.equal(run.code, 0, run.stderr)
  const gz = join(dir, 'root', 'journal.2.gz')
  const broken = readFileSync(gz)
  broken.fill(0x55, 20, 60) // inside the deflate data
  writeFileSync(gz, broken)
  const v = await cli(['verify', '-c', file])
  t.equal(v.code, 1)
  t.match(v.stderr, /journal\.2\.gz: the server's archive of journal 2 cannot be inflated: .*\[ERR_GZIP_CORRUPT\]/)
  t.ok(j.size > 0)
})

t.test('verify: a longer copy differs where the server ends; a missing journal between two is a difference', async (t) => {
  const dir = t.testdir()
  const j = server(dir)
  const mirror = join(dir, 'mirror')
  mkdirSync(mirror)
  writeFileSync(join(mirror, 'journal.1'), Buffer.concat([j.get(1)!, Buffer.from('extra')]))
  writeFileSync(join(mirror, 'journal.3'), j.get(3)!)
  const v = await verifyMirror({ root: join(dir, 'root') }, mirror)
  t.match(v, [
    { journal: 1, status: 'differs', firstDifference: j.get(1)!.length, copyBytes: j.get(1)!.length + 5 },
    { journal: 2, status: 'missing' },
    { journal: 3, status: 'identical' },
  ])
})

t.test(
  'verify: a prefix is "behind" only as the newest journal of the copy and no shorter than it synced; a journal the server lacks differs (a probe)',
  async (t) => {
    const dir = t.testdir()
    const j = server(dir)
    const root = { root: join(dir, 'root') }
    const mirror = join(dir, 'mirror')
    mkdirSync(mirror)
    // journal.1 replaced by an older, shorter copy while the mirror went on to journal 2 and 3: bytes lost for good.
    writeFileSync(join(mirror, 'journal.1'), j.get(1)!.subarray(0, 1000))
    writeFileSync(join(mirror, 'journal.2'), j.get(2)!)
    writeFileSync(join(mirror, 'journal.3'), j.get(3)!.subarray(0, 500))
    t.match(await verifyMirror(root, mirror), [
      { journal: 1, status: 'differs', firstDifference: 1000, copyBytes: 1000 },
      { journal: 2, status: 'identical' },
      { journal: 3, status: 'behind', copyBytes: 500 },
    ])
    // The mirror's state says it synced more of journal 3 than the file has; it synced journal 4 too, whose file is gone.
    const synced = new Map([
      [1, j.get(1)!.length],
      [2, j.get(2)!.length],
      [3, 600],
    ])
    t.match((await verifyMirror(root, mirror, mirror, synced))[2], { journal: 3, status: 'differs', firstDifference: 500 })
    writeFileSync(join(mirror, 'journal.3'), j.get(3)!)
    t.match(await verifyMirror(root, mirror, mirror, new Map([...synced, [4, 10]])), [
      {},
      {},
      { journal: 3, status: 'identical' },
      { journal: 4, status: 'missing' },
    ])
    // A journal the server has not written (its live journal is 3).
    writeFileSync(join(mirror, 'journal.4'), 'x\n')
    t.match((await verifyMirror(root, mirror))[3], { journal: 4, status: 'differs', serverBytes: null, copyBytes: 2, firstDifference: 0 })
    // Through the command: exit 1, with the mirror's own state file.
    writeFileSync(join(mirror, 'journal.4'), '')
    writeFileSync(join(mirror, '.mirror-state.json'), JSON.stringify({ version: 1, journals: { 1: j.get(1)!.length, 3: 600 } }))
    writeFileSync(join(mirror, 'journal.1'), j.get(1)!)
    writeFileSync(join(mirror, 'journal.3'), j.get(3)!.subarray(0, 500))
    const out = await cli(['verify', '-c', config(dir)])
    t.equal(out.code, 1, out.stdout)
    t.match(out.stdout, /journal 3: DIFFERS: the copy ends at offset \d+ of \d+ bytes/)
    t.match(out.stdout, /journal 4: DIFFERS: the server has no journal 4 \(the copy has 0 bytes\)/)
  },
)

t.test('verify --connect compares the standby over ssh, block by block, and finds the first differing offset', { skip: sshdSkip }, async (t) => {
  const dir = t.testdir({ sshd: {} })
  const root = join(dir, 'root')
  mkdirSync(root)
  // Journal 4 spans three 1 MiB blocks; journal 5 is live.
  const big = transactions(40_000, 4).bytes
  t.ok(big.length > 2 * 1024 * 1024, `journal 4 has ${big.length} bytes`)
  writeFileSync(join(root, 'journal.4.gz'), gzipSync(big))
  const live = transactions(10, 5).bytes
  writeFileSync(join(root, 'journal'), live)
  const standby = join(dir, 'standby')
  mkdirSync(standby)
  const copy = Buffer.from(big)
  const at = 1024 * 1024 + 777
  copy[at] = copy[at]! ^ 1
  writeFileSync(join(standby, 'journal.4'), copy)
  writeFileSync(join(standby, 'journal.5'), live.subarray(0, 100))
  const sshd = await startSshd(join(dir, 'sshd'))
  t.teardown(() => sshd.stop())
  const target = {
    ssh: 'ssh',
    host: sshd.host,
    user: sshd.user,
    port: sshd.port,
    identityFile: sshd.identityFile,
    knownHostsFile: sshd.knownHosts,
    configFile: 'none',
    connectTimeout: 15,
    options: {},
  }
  const v = await verifyStandby({ root }, target, standby, 'standby')
  t.match(v, [
    { journal: 4, status: 'differs', firstDifference: at, serverBytes: big.length, copyBytes: big.length },
    { journal: 5, status: 'behind', copyBytes: 100, serverBytes: live.length },
  ])

  // Through the command, with the hot-backup listener's settings.
  writeFileSync(join(standby, 'journal.4'), big)
  const file = config(dir, {
    from: 4,
    listeners: [
      {
        type: 'hot-backup',
        options: {
          host: sshd.host,
          port: sshd.port,
          user: sshd.user,
          identityFile: sshd.identityFile,
          knownHostsFile: sshd.knownHosts,
          sshConfigFile: 'none',
          remoteDir: standby,
        },
      },
    ],
  })
  const ok = await cli(['verify', '--connect', '-c', file])
  t.equal(ok.code, 0, ok.stdout)
  t.match(ok.stdout, /hot-backup "hot-backup" \(127\.0\.0\.1:.*standby\):\n {2}journal 4: identical/)
  const off = await cli(['verify', '-c', file])
  t.match(off.stdout, /not compared \(add --connect/)
})
