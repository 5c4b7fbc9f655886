import t from 'tap'
import { join } from 'node:path'
import { RotatingJournalSource } from '../../lib/source/rotating-journal-source.js'
import { isUnreadable, unreadableAtStart } from '../../lib/source/unreadable.js'

/** An error as node:fs makes one. */
function fsError(code: string, path?: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: permission denied, scandir '${path}'`), { code, errno: -13, syscall: 'scandir', ...(path ? { path } : {}) })
}

t.test('permission denied is unreadable; anything else is not', async (t) => {
  t.ok(isUnreadable(fsError('EACCES', '/p4/root')))
  t.ok(isUnreadable(fsError('EPERM', '/p4/root')))
  t.notOk(isUnreadable(fsError('ENOENT', '/p4/root')), 'a missing journal is another story (a rotation, a gap)')
  t.notOk(isUnreadable(new Error('EACCES')), 'not an fs error')
  t.notOk(isUnreadable(undefined))
})

t.test('at the start: ERR_JOURNAL_UNREADABLE naming the path and the user', async (t) => {
  const cause = fsError('EACCES', '/p4/root')
  const err = unreadableAtStart(cause, 65534)
  t.match(err, {
    code: 'ERR_JOURNAL_UNREADABLE',
    file: '/p4/root',
    cause,
    message: /^cannot read \/p4\/root \(EACCES: permission denied\): .*readable and searchable \(r-x\), by the user this runs as \(uid 65534\)$/,
  })
  t.match(
    unreadableAtStart(fsError('EPERM'), null),
    {
      file: 'the journals',
      message: /^cannot read the journals \(EPERM: .*by the user this runs as$/,
    },
    'no path, no uid (not POSIX): said without them',
  )
  t.match(unreadableAtStart(fsError('EACCES', '/x')).message, `(uid ${process.getuid?.()})`, "by default this process's uid")
})

t.test('a source whose root no directory can be at (a file, a name too long): ERR_JOURNAL_UNREADABLE at the start, naming it', async (t) => {
  const dir = t.testdir({ 'a-file': 'x' })
  const cases: [string, RegExp][] = [
    [join(dir, 'a-file'), /a-file cannot be reached: a file where a directory should be, or a path through one \(ENOTDIR\)/],
    [join(dir, 'x'.repeat(5000)), /cannot be reached: a name too long \(ENAMETOOLONG\)/],
  ]
  for (const [root, message] of cases) {
    const source = new RotatingJournalSource({ root, from: 1 })
    const err = await new Promise((resolve) => source.once('error', resolve).resume())
    // It stopped with the bare system error (no code of ours, no advice).
    t.match(err, { code: 'ERR_JOURNAL_UNREADABLE', message }, root.slice(0, 80))
  }
})
