import t from 'tap'
import { ConsistencyTracker } from '../../lib/source/consistency.js'
import type { JournalEntry } from '../../lib/journal/entry.js'
import { frame } from '../helpers/collect.js'

async function marks(text: string): Promise<boolean[]> {
  const tracker = new ConsistencyTracker()
  return (await frame([Buffer.from(text)])).map((e) => tracker.update(e))
}

t.test('an @ex@ with no open pid is a consistency point', async (t) => {
  t.same(await marks('@pv@ 1 @db.counters@ @change@ @5@ \n@ex@ 10 1611008050\n'), [false, true])
})

t.test('an @ex@ while another pid has an open @mx@ is not', async (t) => {
  const text = '@pv@ 1 @db.a@ @x@ \n@mx@ 10 1611008050\n@pv@ 1 @db.b@ @y@ \n@ex@ 11 1611008050\n@pv@ 1 @db.a@ @z@ \n@ex@ 10 1611008051\n'
  t.same(await marks(text), [false, false, false, false, false, true])
})

t.test('several open pids: the point comes when the last one ends', async (t) => {
  const text = '@mx@ 1 0\n@mx@ 2 0\n@ex@ 1 0\n@ex@ 3 0\n@ex@ 2 0\n'
  t.same(await marks(text), [false, false, false, false, true])
})

t.test('a restart note clears the pids the dead server left open', async (t) => {
  const text = '@mx@ 1 0\n@nx@ 7 1611008050 @50@ 0 0 0 0 0 @1666@ @/p4@ @@ @@ @@ \n@ex@ 2 0\n'
  const tracker = new ConsistencyTracker()
  const entries = await frame([Buffer.from(text)])
  t.same(
    entries.map((e) => tracker.update(e)),
    [false, false, true],
  )
  t.same(tracker.openPids, [])
})

t.test('other notes and unknown ops change nothing; reset forgets', async (t) => {
  const tracker = new ConsistencyTracker()
  const entries = await frame([Buffer.from('@mx@ 1 0\n@nx@ 2 0 @50@ 0 1 0 0 0 @@ @@ @@ @@ @@ \n@zz@ 1\n')])
  t.same(
    entries.map((e) => tracker.update(e)),
    [false, false, false],
  )
  t.same(tracker.openPids, ['1'])
  tracker.reset()
  t.same(tracker.openPids, [])
})

/** The tracker as it was written first, on entries (op, then the text after it): the reference for the byte-level one. */
function referenceMarks(entries: readonly JournalEntry[]): { marks: boolean[]; open: string[] } {
  const open = new Set<string>()
  const second = (e: JournalEntry): string => {
    const text = e.text('latin1')
    const end = text.indexOf(' ', 5)
    return text.slice(5, end < 0 ? text.length - 1 : end).trim()
  }
  const marks = entries.map((e) => {
    if (e.op === 'ex') {
      open.delete(second(e))
      return open.size === 0
    }
    if (e.op === 'mx') open.add(second(e))
    else if (e.op === 'nx' && second(e) === '7') open.clear()
    return false
  })
  return { marks, open: [...open] }
}

t.test('updateRecord (bytes inside a larger chunk) answers as the entry-based reference, on odd and adversarial records', async (t) => {
  const records = [
    '@mx@ 1 0\n',
    '@mx@ 2\n', // no space after the pid: up to the line end
    '@mx@ 3\r\n', // CRLF: the CR is trimmed
    '@ex@ 2\r\n',
    '@mx@  4 \n', // two spaces: an empty pid
    '@ex@ \n',
    '@ex@\n', // no field at all
    '@e@ 1\n', // one-letter op
    '@exx@ 1\n', // three-letter op that starts like ex
    '@xx@ 1\n',
    '@nx@ 7\n', // a restart note without more fields
    '@mx@ 9 \xe9\n', // a byte outside ASCII after the pid
    '@mx@ \xa09 0\n', // latin1 no-break space, which trim() removes
    '@ex@ 9\n',
    '@pv@ 1 @db.have@ @//a/b@ @x@ \n',
    '@ex@ 1 0\n',
    '@mx@ 5 @ex@ 6\n',
    '@ex@ 5 0\n',
    '@nx@ 2 0 @50@ \n',
    '@nx@ 7 1611008050 @50@ 0 \n',
    '@ex@ 1\n',
  ]
  const text = records.join('')
  const entries = await frame([Buffer.from(text, 'latin1')])
  t.equal(entries.length, records.length)
  const ref = referenceMarks(entries)
  // The same records as framed ranges of one buffer with a space after the last one (a search must stop at the record's end).
  const buf = Buffer.from(`${text} `, 'latin1')
  const bytes = new ConsistencyTracker()
  let at = 0
  const marks = entries.map((e) => {
    const start = at
    at += e.length
    return bytes.updateRecord(buf, start, at)
  })
  t.same(marks, ref.marks)
  t.same(bytes.openPids, ref.open)
  const viaEntries = new ConsistencyTracker()
  t.same(
    entries.map((e) => viaEntries.update(e)),
    ref.marks,
  )
  t.ok(ref.marks.some((m) => m) && ref.marks.some((m) => !m), 'the sample has both answers')
})

t.test('updateRecord on the last record of a buffer with no line end and a short record', async (t) => {
  const tracker = new ConsistencyTracker()
  t.equal(tracker.updateRecord(Buffer.from('@mx@ 12'), 0, 7), false)
  t.same(tracker.openPids, ['1']) // the last byte stands for the line end, as with an entry's text
  t.equal(tracker.updateRecord(Buffer.from('@ex'), 0, 3), false)
  t.equal(tracker.updateRecord(Buffer.from('@ex@ 1\n'), 0, 7), true)
})
