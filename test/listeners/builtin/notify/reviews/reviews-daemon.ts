import t from 'tap'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Random } from '../../../../../lib/sim/random.js'
import { SimulatedP4d } from '../../../../../lib/sim/simulated-p4d.js'
import { tick } from '../../../../helpers/entries.js'
import { startSmtpPeer, type ReceivedMail, type SmtpPeer } from '../../../../helpers/notify-peers.js'
import { ExpectedReviews, reviewersOf } from '../../../../helpers/reviews-reference.js'
import { spawnSync } from 'node:child_process'
import { BIN, binSkip, startDaemon, testSeed, writeDaemonConfig } from '../../../../helpers/daemon-run.js'

/**
 * The review mode end to end: a simulated p4d whose users edit their
 * Reviews fields while others submit, `logdaemon run` with notify in review
 * mode, a real SMTP server. The (change, reviewer) pairs mailed must be
 * exactly those a reference matcher derives from what the server wrote.
 */

const seed = testSeed

/** `change:user` of every mail, and the Message-IDs seen for each pair. */
function received(mails: readonly ReceivedMail[]): { pairs: Map<string, Set<string>>; count: number } {
  const pairs = new Map<string, Set<string>>()
  let count = 0
  for (const m of mails) {
    const change = m.headers.get('x-logdaemon-change')
    const users = (m.headers.get('x-logdaemon-reviewers') ?? '').split(', ').filter(Boolean)
    for (const u of users) {
      const key = `${change}:${u}`
      const ids = pairs.get(key) ?? new Set<string>()
      ids.add(m.headers.get('message-id') ?? '')
      pairs.set(key, ids)
      count++
    }
  }
  return { pairs, count }
}

async function setup(t: { testdir: () => string }, smtp: SmtpPeer): Promise<{ dir: string; config: string; sim: SimulatedP4d; expected: ExpectedReviews }> {
  const dir = t.testdir()
  const root = join(dir, 'root')
  mkdirSync(root)
  const sim = new SimulatedP4d({ root, seed, rotateMode: 'random', maxPieces: 4, reviews: true })
  // The replica starts from checkpoint 1: the users and their Reviews before journal 1.
  writeFileSync(join(root, 'checkpoint.1.gz'), (await import('node:zlib')).gzipSync(sim.generator.usersCheckpoint()))
  const expected = new ExpectedReviews(sim.generator.users, new Map(sim.generator.reviews))
  const config = writeDaemonConfig(
    dir,
    [
      {
        type: 'notify',
        options: {
          reviews: { link: 'https://swarm.example.com/changes/{change}' },
          smtp: { host: '127.0.0.1', port: smtp.port, from: 'Perforce <p4@example.com>' },
        },
      },
    ],
    process.env.RV_LOG ?? 'warn',
  )
  return { dir, config, sim, expected }
}

t.test('each reviewer gets each matching change once, never their own', { skip: binSkip }, async (t) => {
  t.comment(`seed ${seed}`)
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const { dir, config, sim, expected } = await setup(t, smtp)
  const run = startDaemon(config, dir)
  for (let i = 0; i < 160; i++) {
    expected.add((await sim.appendTransaction()).batch)
    if (i === 80) await sim.rotate()
  }
  await sim.close()
  let seen = -1
  let stalledSince = Date.now()
  while (received(smtp.mails).pairs.size < expected.pairs.size && Date.now() - stalledSince < 30_000 && run.child.exitCode === null) {
    if (smtp.mails.length !== seen) {
      seen = smtp.mails.length
      stalledSince = Date.now()
    }
    await tick(50)
  }
  await tick(500) // anything extra would arrive now
  run.child.kill('SIGTERM')
  const { code } = await run.exited
  t.equal(code, 0, `stops cleanly${code ? `: ${run.stderr()}` : ''}`)
  const got = received(smtp.mails)
  t.ok(expected.pairs.size > 10, `${expected.changes} changes, ${expected.pairs.size} (change, reviewer) pairs expected`)
  if (!t.same([...got.pairs.keys()].sort(), [...expected.pairs].sort(), 'exactly the expected (change, reviewer) pairs')) {
    t.comment(existsSync(join(dir, 'daemon.log')) ? readFileSync(join(dir, 'daemon.log'), 'utf8').slice(-4000) : 'no daemon.log')
    if (process.env.RV_KEEP) writeFileSync(process.env.RV_KEEP, readFileSync(join(dir, 'daemon.log'), 'utf8'))
  }
  t.equal(got.count, got.pairs.size, 'no pair mailed twice')
  const users = new Map(sim.generator.users.map((u) => [u.name, u]))
  const mail = smtp.mails[0]
  t.ok(mail, 'a mail arrived')
  if (mail) {
    const change = mail.headers.get('x-logdaemon-change') ?? ''
    const user = users.get(mail.headers.get('x-logdaemon-reviewers') ?? '')
    t.same(mail.to, [user?.email], 'sent to the reviewer’s address from db.user')
    t.match(mail.text, new RegExp(`change ${change}\\b`), 'the body names the change')
    t.match(mail.text, `https://swarm.example.com/changes/${change}`, 'the link template is filled in')
    t.match(mail.text, /because your Reviews in Perforce include:\n\t\S/, 'says which line matched')
    t.match(mail.headers.get('message-id') ?? '', new RegExp(`^<logdaemon\\.change-${change}\\.review\\.`), 'Message-ID per change and reviewer')
  }

  // `logdaemon reviews` explains changes from the state the daemon left, with no server connection.
  for (const submit of expected.submits.slice(-4)) {
    const r = spawnSync(process.execPath, [BIN, 'reviews', '-c', config, '--change', String(submit.change), '--format', 'json'], { cwd: dir, encoding: 'utf8' })
    t.equal(r.status, 0, `reviews --change ${submit.change} exits 0${r.stderr ? `: ${r.stderr}` : ''}`)
    const report = JSON.parse(r.stdout || '[]') as { user: string; email: string; files: string[]; lines: string[]; excluded: string | null }[]
    const mailed = report
      .filter((e) => e.excluded === null)
      .map((e) => e.user)
      .sort()
    t.same(mailed, reviewersOf(sim.generator.reviews, submit), `change ${submit.change}: the reviewers the current subscriptions give`)
    for (const e of report) t.equal(e.files.length, e.lines.length, `${e.user}: a matching line for each file`)
    const own = report.find((e) => e.user === submit.user)
    if (own) t.equal(own.excluded, 'the change is their own', 'the author is listed as not mailed')
  }
  const text = spawnSync(process.execPath, [BIN, 'reviews', '-c', config, '--change', String(expected.submits.at(-1)?.change)], { cwd: dir, encoding: 'utf8' })
  t.match(text.stdout, /^change \d+ by \S+@\S*, \d+ file\(s\); subscriptions from the state file /, 'the text report says what it read')
  const none = spawnSync(process.execPath, [BIN, 'reviews', '-c', config, '--change', '999999999'], { cwd: dir, encoding: 'utf8' })
  t.equal(none.status, 1, 'an unknown change fails')
  t.match(none.stderr, /change 999999999 was not submitted in the journals on disk/)
})

t.test('kill -9 at random points: every pair delivered, repeats carry the same Message-ID', { skip: binSkip, timeout: 280_000 }, async (t) => {
  t.comment(`seed ${seed}`)
  const rng = new Random(seed + 1)
  const smtp = await startSmtpPeer()
  t.teardown(() => smtp.close())
  const { dir, config, sim, expected } = await setup(t, smtp)
  const writing = new AbortController()
  const writer = sim.run({ intervalMs: 25, rotateEveryMs: 500, signal: writing.signal, restartNote: false, onAppend: (a) => expected.add(a.batch) })
  for (let i = 0; i < 5; i++) {
    const run = startDaemon(config, dir)
    await tick(rng.int(200, 1200))
    run.child.kill('SIGKILL')
    const { signal, code } = await run.exited
    t.equal(signal, 'SIGKILL', `run ${i + 1} killed${code ? ` (it had exited ${code}: ${run.stderr()})` : ''}`)
  }
  writing.abort()
  await writer
  await sim.close()
  const last = startDaemon(config, dir)
  // One SMTP connection per mail: on a loaded machine hundreds take a while. Wait while mail keeps coming.
  const missing = (): number => [...expected.pairs].filter((p) => !received(smtp.mails).pairs.has(p)).length
  let seen = -1
  let stalledSince = Date.now()
  while (missing() > 0 && Date.now() - stalledSince < 30_000 && last.child.exitCode === null) {
    if (smtp.mails.length !== seen) {
      seen = smtp.mails.length
      stalledSince = Date.now()
    }
    await tick(100)
  }
  await tick(500)
  last.child.kill('SIGTERM')
  const { code } = await last.exited
  t.equal(code, 0, `the last run stops cleanly${code ? `: ${last.stderr()}` : ''}`)
  const got = received(smtp.mails)
  t.same([...got.pairs.keys()].sort(), [...expected.pairs].sort(), `exactly the expected pairs (${expected.pairs.size}) across kills`)
  const reused = [...got.pairs.values()].filter((ids) => ids.size > 1).length
  t.equal(reused, 0, `a pair mailed again after a crash has the same Message-ID (${got.count - got.pairs.size} repeats)`)
})
