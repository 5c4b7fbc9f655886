import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { readState, STATE_TAIL_BYTES, tailFingerprint, writeState, type SavedState } from '../../lib/files/state-file.js'

const state: SavedState = {
  journal: 41,
  offset: 1024,
  line: 17,
  tail: tailFingerprint(Buffer.from('@ex@ 24632 1611008050\n')),
  file: { path: '/p4/root/journal', dev: 2049, ino: 1234, compressed: false },
  savedAt: '2026-01-02T03:04:05.000Z',
}

t.test('the tail fingerprint is sha256 of the bytes with their length', async (t) => {
  t.same(tailFingerprint(Buffer.from('abc')), {
    length: 3,
    sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  })
  t.equal(STATE_TAIL_BYTES, 256)
})

t.test('write then read gives the same state; the file says N/offset for people', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'state')
  await writeState(path, state)
  t.same(await readState(path), state)
  const text = readFileSync(path, 'utf8')
  t.match(text, /"position":"41\/1024"/)
  t.ok(text.endsWith('\n'))
  t.same(readdirSync(dir), ['state'], 'no temporary file left')
  await writeState(path, { ...state, journal: 42, offset: 0, line: 1, tail: tailFingerprint(Buffer.alloc(0)), file: null })
  t.same(await readState(path), { ...state, journal: 42, offset: 0, line: 1, tail: tailFingerprint(Buffer.alloc(0)), file: null })
})

t.test('a consistency point is recorded as one; a state that does not say so is not one', async (t) => {
  const path = join(t.testdir(), 'state')
  await writeState(path, { ...state, consistent: true })
  t.match(readFileSync(path, 'utf8'), /"consistent":true/)
  t.same(await readState(path), { ...state, consistent: true })
  await writeState(path, state)
  t.notMatch(readFileSync(path, 'utf8'), /consistent/)
  t.equal((await readState(path))?.consistent, undefined, 'absent: not known to be one')
})

t.test("a journal's start saved with the end of the journal before: written, read back, and checked when read", async (t) => {
  const path = join(t.testdir(), 'state')
  const start = { ...state, journal: 42, offset: 0, line: 1, tail: tailFingerprint(Buffer.alloc(0)), file: null }
  const previous = { journal: 41, end: 5000, tail: tailFingerprint(Buffer.from('@ex@ 1 1611008050\n')) }
  await writeState(path, { ...start, previous })
  t.same(await readState(path), { ...start, previous })
  await writeState(path, start)
  t.notMatch(readFileSync(path, 'utf8'), /previous/, 'absent when not known')
  t.equal((await readState(path))?.previous, undefined)
  const good = { format: 'logdaemon-state', version: 1, position: '42/0', line: 1, tail: start.tail, file: null, savedAt: state.savedAt }
  const cases: [string, unknown][] = [
    ['not an object', 'journal.41'],
    ['no end', { journal: 41, tail: previous.tail }],
    ['a negative journal', { ...previous, journal: -1 }],
    ['a bad fingerprint', { ...previous, tail: { length: 3, sha256: 'xyz' } }],
    ['a fingerprint longer than the journal', { ...previous, end: 5 }],
  ]
  for (const [what, p] of cases) {
    writeFileSync(path, JSON.stringify({ ...good, previous: p }))
    await t.rejects(readState(path), { code: 'ERR_STATE_CORRUPT', message: /invalid previous journal/ }, what)
  }
  writeFileSync(path, JSON.stringify({ ...good, position: '42/10', previous }))
  await t.rejects(readState(path), { code: 'ERR_STATE_CORRUPT', message: /invalid previous journal/ }, 'only a position at a journal start follows one')
})

t.test('no state file: null', async (t) => {
  t.equal(await readState(join(t.testdir(), 'state')), null)
})

t.test('a state file that is a symlink to nothing is ERR_STATE_CORRUPT, not "no state" (starting over would replay every journal since)', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'st.json')
  symlinkSync(join(dir, 'unmounted', 'st.json'), path)
  await t.rejects(readState(path), { code: 'ERR_STATE_CORRUPT', message: /is a symlink to .*unmounted.*st\.json, which does not exist/ })
  t.ok(lstatSync(path).isSymbolicLink(), 'the link is left as it is')
})

t.test('an unreadable or unparsable state file fails with ERR_STATE_CORRUPT and stays as it is', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'state')
  const good = JSON.parse(
    JSON.stringify({ format: 'logdaemon-state', version: 1, position: '41/1024', line: 17, tail: state.tail, file: state.file, savedAt: state.savedAt }),
  )
  const cases: [string, string][] = [
    ['empty', ''],
    ['not JSON', '{"format":"logdaemon-state",'],
    ['another format', JSON.stringify({ ...good, format: 'p4jtail' })],
    ['another version', JSON.stringify({ ...good, version: 2 })],
    ['no position', JSON.stringify({ ...good, position: undefined })],
    ['bad position', JSON.stringify({ ...good, position: '41:1024' })],
    ['bad line', JSON.stringify({ ...good, line: 0 })],
    ['bad tail', JSON.stringify({ ...good, tail: { length: 3, sha256: 'xyz' } })],
    ['tail longer than the offset', JSON.stringify({ ...good, position: '41/2', tail: state.tail })],
    ['bad identity', JSON.stringify({ ...good, file: { path: 3 } })],
    ['identity not an object', JSON.stringify({ ...good, file: 'journal' })],
    ['consistent not a boolean', JSON.stringify({ ...good, consistent: 'yes' })],
    ['an array', '[]'],
  ]
  for (const [what, text] of cases) {
    writeFileSync(path, text)
    await t.rejects(readState(path), { code: 'ERR_STATE_CORRUPT', file: path }, what)
    t.equal(readFileSync(path, 'utf8'), text, `${what}: left as it was`)
  }
  const asDir = join(dir, 'dir-state')
  mkdirSync(asDir)
  await t.rejects(readState(asDir), { code: 'ERR_STATE_CORRUPT', message: /cannot be read/ }, 'a directory')
})

t.test('a FIFO or a device at the state path is ERR_STATE_CORRUPT at once, never read (a FIFO made run and check wait for ever)', async (t) => {
  const dir = t.testdir()
  const fifo = join(dir, 'state.fifo')
  if (spawnSync('mkfifo', [fifo]).status !== 0) {
    t.comment('no mkfifo here')
    return
  }
  await t.rejects(readState(fifo), { code: 'ERR_STATE_CORRUPT', file: fifo, message: /is not a regular file but a FIFO \(named pipe\)/ })
  t.ok(lstatSync(fifo).isFIFO(), 'left as it is')
  if (existsSync('/dev/zero')) {
    const zero = join(dir, 'zero')
    symlinkSync('/dev/zero', zero)
    await t.rejects(readState(zero), { code: 'ERR_STATE_CORRUPT', message: /is not a regular file but a device/ }, 'a link to /dev/zero is not read')
  }
})

t.test("ERR_STATE_CORRUPT says how to choose a start in the caller's words (logdaemon-cat's option, the daemon's configuration key)", async (t) => {
  const dir = t.testdir({ 'garbage.json': '{"format":"logdaemon-state",', 'other.json': '{}', d: {} })
  for (const name of ['garbage.json', 'other.json', 'd']) {
    const path = join(dir, name)
    await t.rejects(
      readState(path),
      { code: 'ERR_STATE_CORRUPT', message: /\(--from N to read journal N from its start, --from end to follow only new records\)$/ },
      `${name}: by default`,
    )
    const err = (await readState(path, 'config').catch((e: unknown) => e)) as Error
    t.match(err, {
      code: 'ERR_STATE_CORRUPT',
      message: /choose where to start \(`from: N` in the configuration to read journal N from its start, `from: "end"` to follow only new records\)$/,
    })
    t.notMatch(err.message, /--from/, `${name}: the daemon takes no --from`)
  }
})

t.test('a failed write is ERR_STATE_WRITE with its cause, and leaves no temporary file', async (t) => {
  const dir = t.testdir({ 'not-a-dir': 'a regular file' })
  // Fails even for root: a path under a regular file (ENOTDIR).
  const path = join(dir, 'not-a-dir', 'state')
  const err = await writeState(path, state).then(
    () => null,
    (e: unknown) => e as Error & { code: string; cause: NodeJS.ErrnoException; journal: number },
  )
  t.equal(err?.code, 'ERR_STATE_WRITE')
  t.equal(err?.cause.code, 'ENOTDIR')
  t.equal(err?.journal, 41)
  t.match(err?.message, /41\/1024/)
  t.same(readdirSync(dir), ['not-a-dir'])
  // The rename fails too when the target is a non-empty directory.
  const target = join(dir, 'target')
  mkdirSync(join(target, 'inside'), { recursive: true })
  await t.rejects(writeState(target, state), { code: 'ERR_STATE_WRITE' })
  t.same(readdirSync(dir).sort(), ['not-a-dir', 'target'], 'the temporary file was removed')
})

// A JetStream reader's state file (the daemon's default name is the same for both kinds) is another daemon's file, not a
// damaged one: ERR_STATE_MISMATCH, as the JetStream reader answers a journal-file daemon's. Before, ERR_STATE_CORRUPT.
t.test("a JetStream reader's state file is refused as another daemon's (ERR_STATE_MISMATCH), and left as it is", async (t) => {
  const path = join(t.testdir(), 'logdaemon.state.json')
  const body = '{"format":"logdaemon-jetstream-state","version":1,"stream":"P4","durable":"c","position":"1/10","streamCreated":null,"savedAt":""}\n'
  writeFileSync(path, body)
  await t.rejects(readState(path), { code: 'ERR_STATE_MISMATCH', message: /JetStream reader.*its own state file/ })
  t.equal(readFileSync(path, 'utf8'), body)
})

t.test('a huge file at the state path is ERR_STATE_CORRUPT unread, not taken into memory', async (t) => {
  const dir = t.testdir()
  const path = join(dir, 'state.json')
  // Sparse: 4 GiB that takes no disk; read whole, it would pass the string length limit.
  const fh = await open(path, 'w')
  await fh.truncate(4 * 1024 ** 3)
  await fh.close()
  const err = (await readState(path).then(
    () => null,
    (e: unknown) => e,
  )) as (Error & { code?: string }) | null
  t.equal(err?.code, 'ERR_STATE_CORRUPT')
  t.match(err?.message, /is 4294967296 bytes, not a state/)
})
