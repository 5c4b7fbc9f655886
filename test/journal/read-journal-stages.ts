/**
 * createJournalReader's stages: a plain regular file is framed as it is
 * read, with no gunzip stage (a stream hop per chunk less); gzip, and any
 * input it cannot look at first (a FIFO, stdin), goes through gunzip, which
 * inflates gzip and passes the rest through.
 */
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { gzipSync } from 'node:zlib'
import { isPlainFile } from '../../lib/files/gunzip.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { createJournalReader } from '../../lib/journal/read-journal.js'

const text = '@pv@ 3 @db.have@ @//depot/a/file.c@ 1 \n@pv@ 3 @db.have@ @//depot/b/@@file.c@ 2 \n'

async function read(file: string): Promise<{ raw: string; error: { code?: string; offset?: number } | null }> {
  let raw = ''
  try {
    for await (const e of createJournalReader(file) as AsyncIterable<JournalEntry>) raw += e.raw.toString('latin1')
    return { raw, error: null }
  } catch (err) {
    return { raw, error: err as { code?: string; offset?: number } }
  }
}

t.test('isPlainFile: a regular file that cannot be gzip, looked at without blocking', async (t) => {
  const dir = t.testdir()
  const at = (name: string, bytes: string | Buffer): string => {
    writeFileSync(join(dir, name), bytes)
    return join(dir, name)
  }
  t.equal(isPlainFile(at('plain', text)), true, 'a journal')
  t.equal(isPlainFile(at('empty', '')), true, 'an empty file')
  t.equal(isPlainFile(at('gz', gzipSync(text))), false, 'gzip')
  t.equal(isPlainFile(at('one', Buffer.from([0x1f]))), false, "one byte, gzip's first: gunzip decides, as before")
  t.equal(isPlainFile(at('half', Buffer.from([0x1f, 0x41, 0x0a]))), false, "gzip's first byte, then not its second: gunzip decides")
  symlinkSync(join(dir, 'plain'), join(dir, 'link'))
  t.equal(isPlainFile(join(dir, 'link')), true, 'a symlink to a journal')
  mkdirSync(join(dir, 'sub'))
  t.equal(isPlainFile(join(dir, 'sub')), false, 'a directory')
  t.equal(isPlainFile(join(dir, 'missing')), false, 'nothing there')
  t.equal(isPlainFile(join(dir, 'plain', 'x')), false, 'a path through a file')
  execFileSync('mkfifo', [join(dir, 'fifo')])
  // A blocking open of a FIFO without a writer would hang here (and the test time out).
  t.equal(isPlainFile(join(dir, 'fifo')), false, 'a FIFO without a writer: answered at once')
})

t.test('isPlainFile leaves a FIFO alone: a writer waiting to open it still reaches the reader', async (t) => {
  const dir = t.testdir()
  const fifo = join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  // The writer's open waits for a reader. Had the look opened the FIFO, the writer would have gone on and
  // written into a pipe closed right after: its bytes lost, and the reader below waiting for a writer for ever.
  const writer = spawn(process.execPath, ['-e', `require('fs').writeFileSync(${JSON.stringify(fifo)}, ${JSON.stringify(text)})`], { stdio: 'ignore' })
  // Listened for now: the writer may exit before the read below has handed back its records (a busy machine).
  const exited = once(writer, 'exit')
  await sleep(200)
  for (let i = 0; i < 3; i++) t.equal(isPlainFile(fifo), false, `look ${i + 1}: not a plain file`)
  const timeout = sleep(5000).then(() => ({ raw: '', error: { code: 'the FIFO was not read within 5 s' } }))
  t.same(await Promise.race([read(fifo), timeout]), { raw: text, error: null }, "the writer's records, read through the FIFO")
  const [code] = (await exited) as [number | null]
  t.equal(code, 0, 'the writer exited 0')
})

t.test('the same entries from a plain file and its gzip, and from gzip through a FIFO', async (t) => {
  const dir = t.testdir({ 'journal.3': text, 'journal.3.gz': gzipSync(text) })
  t.same(await read(join(dir, 'journal.3')), { raw: text, error: null }, 'plain')
  t.same(await read(join(dir, 'journal.3.gz')), { raw: text, error: null }, 'gzip')
  const fifo = join(dir, 'fifo')
  execFileSync('mkfifo', [fifo])
  const writer = createWriteStream(fifo)
  writer.end(gzipSync(text))
  t.same(await read(fifo), { raw: text, error: null }, 'gzip through a FIFO: inflated')
})

t.test('a file made gzip after the reader looked at it is not inflated: framing fails at its first byte', async (t) => {
  const dir = t.testdir({ 'journal.4': text, 'swap.gz': gzipSync(text) })
  const file = join(dir, 'journal.4')
  const reader = createJournalReader(file)
  // The reader opens the file once this turn of the event loop is over: by then it is gzip.
  renameSync(join(dir, 'swap.gz'), file)
  let entries = 0
  const error = await (async () => {
    for await (const _ of reader) entries++
  })().catch((err: unknown) => err)
  t.match(error, { code: 'ERR_JOURNAL_MALFORMED', offset: 0, file }, 'the malformed-journal error at offset 0, naming the file')
  t.equal(entries, 0, 'no entry')
})
