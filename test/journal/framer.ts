/**
 * The framer's checks that span chunks (a closing `@` at the end of one chunk
 * and its successor in the next, an opening `@` after a space that ended the
 * previous chunk, a record that outgrows maxEntryBytes over several chunks)
 * must find exactly what they find in one piece. Property: for damaged
 * input, split at every byte into two chunks and fed one byte at a time, the
 * framer delivers the same records and reports the same error (code,
 * position, message) or the same skips as for the whole input; and likewise
 * for records over maxEntryBytes.
 */
import t from 'tap'
import fc from 'fast-check'
import { JournalFramer, type FramerOptions } from '../../lib/journal/framer.js'
import { isLogdaemonError } from '../../lib/errors.js'

interface Outcome {
  records: [offset: number, end: number, line: number][]
  error: { code: string; offset: unknown; line: unknown; message: string; details: unknown } | null
  skips: { code: string; offset: number; line: number; reason: string }[]
  counts: [malformed: number, oversize: number, bytes: number]
  incomplete: { offset: unknown; line: unknown; message: string } | null
}

/** Frames `chunks` in order and says everything the framer reported. */
function frame(chunks: readonly Buffer[], options: FramerOptions): Outcome {
  const framer = new JournalFramer({ journal: 7, file: 'journal.7', ...options })
  const out: Outcome = { records: [], error: null, skips: [], counts: [0, 0, 0], incomplete: null }
  framer.onSkip = (r) => void out.skips.push({ ...r })
  try {
    for (const chunk of chunks) framer.push(chunk, (_src, start, end, offset, line) => void out.records.push([offset, offset + end - start, line]))
    const incomplete = framer.incompleteError()
    if (incomplete) out.incomplete = { offset: incomplete.offset, line: incomplete.line, message: incomplete.message }
  } catch (err) {
    if (!isLogdaemonError(err)) throw err
    out.error = { code: err.code, offset: err.offset, line: err.line, message: err.message, details: err.details }
  }
  out.counts = [framer.malformedSkipped, framer.oversizeSkipped, framer.bytesSkipped]
  return out
}

/**
 * The outcome as text to compare: all of it, messages included, whatever
 * the chunks (an oversize record's message once said how many bytes the
 * framer had seen, which depended on where the chunk that crossed the
 * limit ended).
 */
function comparable(o: Outcome): string {
  return JSON.stringify(o)
}

/** Every way of cutting `buf` in two, and one byte per chunk. */
function splits(buf: Buffer): Buffer[][] {
  const all: Buffer[][] = []
  for (let i = 0; i <= buf.length; i++) all.push([buf.subarray(0, i), buf.subarray(i)])
  all.push([...buf].map((b) => Buffer.of(b)))
  return all
}

// Well-formed records as p4d writes them, then damaged.
const quoted = fc.string({ unit: fc.constantFrom('a', ' ', '@', '\n', '\r', 'é'), maxLength: 8 }).map((s) => `@${s.replaceAll('@', '@@')}@`)
const bare = fc.integer({ min: -99, max: 999 }).map(String)
const record = fc.oneof(
  fc.array(fc.oneof(quoted, bare), { maxLength: 4 }).map((fields) => `@pv@ 3 @db.test@ ${fields.map((f) => `${f} `).join('')}\n`),
  fc.tuple(fc.nat(99), fc.nat(99)).map(([pid, time]) => `@ex@ ${pid} ${time}\n`),
)
const journal = fc.array(record, { minLength: 1, maxLength: 5 }).map((rs) => Buffer.from(rs.join('')))
// Bytes that change the framer's state or that its checks look at.
const special = fc.constantFrom(0x40, 0x20, 0x0a, 0x0d, 0x61, 0x31, 0x00)
const damage = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), byte: special }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), byte: special }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat() }),
)
const damaged = fc.tuple(journal, fc.array(damage, { minLength: 1, maxLength: 3 })).map(([buf, hits]) => {
  let b = buf
  for (const hit of hits) {
    const at = hit.at % (b.length + 1)
    if (hit.kind === 'insert') b = Buffer.concat([b.subarray(0, at), Buffer.of(hit.byte), b.subarray(at)])
    else if (at < b.length) b = hit.kind === 'delete' ? Buffer.concat([b.subarray(0, at), b.subarray(at + 1)]) : Buffer.from(b).fill(hit.byte, at, at + 1)
  }
  return b
})
// And short runs of the framer's own alphabet, which are mostly malformed.
const noise = fc.uint8Array({ minLength: 1, maxLength: 24 }).map((a) => Buffer.from(a.map((x) => [0x40, 0x40, 0x20, 0x0a, 0x61, 0x0d][x % 6] as number)))
const input = fc.oneof(damaged, noise)

// A record that is both too large and malformed is oversize when it passed
// the limit before its bad byte, and malformed otherwise, wherever the chunks
// end (the size is also checked when a chunk ends inside a record, to bound
// memory): a plain file read in 128 KiB pieces and its .gz inflated in 64 KiB
// ones once disagreed on the code, and with skipMalformed alone on whether
// the run failed. So the maxEntryBytes modes take damaged input too.
const modes: [string, FramerOptions, fc.Arbitrary<Buffer>][] = [
  ['failing', {}, input],
  ['skipping malformed', { skipMalformed: true }, input],
  ['well-formed, maxEntryBytes 16', { maxEntryBytes: 16 }, journal],
  ['well-formed, skipping oversize, maxEntryBytes 16', { skipOversize: true, maxEntryBytes: 16 }, journal],
  ['damaged, maxEntryBytes 16', { maxEntryBytes: 16 }, damaged],
  ['damaged, skipping malformed, maxEntryBytes 16', { skipMalformed: true, maxEntryBytes: 16 }, damaged],
  ['damaged, skipping both, maxEntryBytes 16', { skipMalformed: true, skipOversize: true, maxEntryBytes: 16 }, damaged],
]

for (const [name, options, inputs] of modes) {
  t.test(`input split at every byte: the same records and errors as whole (${name})`, async (t) => {
    let malformed = 0
    let oversize = 0
    fc.assert(
      fc.property(inputs, (buf) => {
        const whole = frame([buf], options)
        if (whole.error?.code === 'ERR_JOURNAL_MALFORMED' || whole.counts[0] > 0) malformed++
        if (whole.error?.code === 'ERR_ENTRY_TOO_LARGE' || whole.counts[1] > 0) oversize++
        for (const chunks of splits(buf)) {
          const split = frame(chunks, options)
          if (comparable(split) !== comparable(whole)) {
            throw new Error(
              `split ${chunks.map((c) => JSON.stringify(c.toString('latin1'))).join(' | ')}\n got ${JSON.stringify(split)}\nwant ${JSON.stringify(whole)}`,
            )
          }
        }
      }),
      { numRuns: 400, seed: 8 },
    )
    // The property says nothing unless damaged inputs were among those tried.
    if (options.maxEntryBytes) t.ok(oversize > 100, `${oversize} of 400 inputs had an oversize record`)
    else t.ok(malformed > 100, `${malformed} of 400 inputs were malformed`)
  })
}

// What one malformed record is (JournalFramer.malformedSkipped): from a line
// that starts with `@` through the line with the error, plus the lines after
// it that do not start with `@`; stray lines outside any record count as one
// up to the next line that starts with `@`. Each case holds whole and split
// at every byte.
const malformedCases: [name: string, text: string, want: { records: number; skipped: number; lines: number[] }][] = [
  [
    'adjacent bad records count one each',
    '@ex@ 1 2\n@pv@ 1 @a@x @b@\n@pv@ 1 @c@y @d@\n@pv@ 1 @c@z @d@\n@ex@ 3 4\n',
    { records: 2, skipped: 3, lines: [2, 3, 4] },
  ],
  ['continuation lines belong to the bad record before them', '@pv@ 1 @a@x @b\nline two\nline @three@ \n@ex@ 3 4\n', { records: 1, skipped: 1, lines: [1] }],
  ['a bad record after its continuation lines counts again', '@pv@ 1 @a@x\nmore\n@pv@ 1 @c@y\n@ex@ 3 4\n', { records: 1, skipped: 2, lines: [1, 3] }],
  [
    'stray lines, a bad record, stray lines after a good one',
    'junk\nmore junk\n@pv@ 1 @a@x\ntail\n@ex@ 1 2\nzzz\n@ex@ 3 4\n',
    { records: 2, skipped: 3, lines: [1, 3, 6] },
  ],
  ['a bad record spanning lines in a quoted value, then a bad one', '@pv@ 1 @a\nb@x\n@pv@ 2 @c@d\n@ex@ 3 4\n', { records: 1, skipped: 2, lines: [1, 3] }],
  [
    'an oversize record ends a bad one: lines after it count anew',
    `@pv@ 1 @a@x\n@pv@ 1 @${'y'.repeat(40)}@\nstray\n@ex@ 3 4\n`,
    { records: 1, skipped: 2, lines: [1, 3] },
  ],
]

t.test('skipMalformed counts each malformed record once', async (t) => {
  for (const [name, text, want] of malformedCases) {
    const buf = Buffer.from(text)
    const options: FramerOptions = { skipMalformed: true, skipOversize: true, maxEntryBytes: 32 }
    const whole = frame([buf], options)
    t.equal(whole.error, null, `${name}: no error`)
    t.equal(whole.records.length, want.records, `${name}: records`)
    t.equal(whole.counts[0], want.skipped, `${name}: malformedSkipped`)
    const malformedSkips = whole.skips.filter((s) => s.code === 'ERR_JOURNAL_MALFORMED')
    t.same(
      malformedSkips.map((s) => s.line),
      want.lines,
      `${name}: one skip report per malformed record, at its first line`,
    )
    for (const chunks of splits(buf)) {
      if (comparable(frame(chunks, options)) !== comparable(whole))
        t.fail(`${name}: split ${chunks.map((c) => JSON.stringify(c.toString())).join(' | ')} differs`)
    }
  }
})

t.test('line: the line at the next byte, inside a record or between records, whatever the chunks', async (t) => {
  const text = Buffer.from('@pv@ 1 @db.x@ @a\nb\n\nc@ \n@ex@ 1 2\n@pv@ 1 @db.x@ @d')
  for (let cut = 0; cut <= text.length; cut++) {
    const framer = new JournalFramer({ line: 5, offset: 100 })
    framer.push(text.subarray(0, cut), () => {})
    let lfs = 0
    for (let i = 0; i < cut; i++) if (text[i] === 0x0a) lfs++
    if (framer.line !== 5 + lfs) t.fail(`after ${cut} bytes: line ${framer.line}, not ${5 + lfs}`)
    framer.push(text.subarray(cut), () => {})
    if (framer.line !== 10) t.fail(`after all: line ${framer.line}`)
  }
  t.equal(new JournalFramer().line, 1)
})

t.test('a record held in pieces of one buffer comes out as a view of it; moveHeld follows a buffer the caller grew', async (t) => {
  const records = ['@pv@ 3 @db.have@ @//a@ 1 \n', `@pv@ 7 @db.desc@ 1 @${'x@@y\n'.repeat(400)}@ \n`, '@ex@ 1 2\n']
  const text = Buffer.from(records.join(''), 'latin1')

  // Pieces of one buffer, end to end, as a caller that reads into one buffer feeds them.
  const one = Buffer.from(text)
  const got: { source: Buffer; start: number; end: number }[] = []
  const framer = new JournalFramer()
  for (let at = 0; at < one.length; at += 300)
    framer.push(one.subarray(at, Math.min(one.length, at + 300)), (source, start, end) => got.push({ source, start, end }))
  t.same(
    got.map((r) => r.source.toString('latin1', r.start, r.end)),
    records,
  )
  t.equal(got[1]?.source.buffer, one.buffer, 'the long record is a view of the buffer it was read into, not a copy')

  // The caller grows its buffer (a copy at the same offsets) while the long record goes on, any number of times.
  await fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 20 }), fc.array(fc.boolean(), { maxLength: 20 }), (sizes, grows) => {
      let buf = Buffer.alloc(64)
      let filled = 0
      const out: string[] = []
      const f = new JournalFramer()
      let k = 0
      while (filled < text.length) {
        const n = Math.min(sizes[k % sizes.length] as number, text.length - filled)
        if (filled + n > buf.length || grows[k % Math.max(1, grows.length)] === true) {
          const bigger = Buffer.alloc(filled + n > buf.length ? Math.max(filled + n, buf.length * 2) : buf.length + 64)
          buf.copy(bigger, 0, 0, filled)
          buf.fill(0x21) // what the old buffer holds no longer matters
          f.moveHeld(buf, bigger)
          buf = bigger
        }
        text.copy(buf, filled, filled, filled + n)
        f.push(buf.subarray(filled, filled + n), (source, start, end) => out.push(source.toString('latin1', start, end)))
        filled += n
        k++
      }
      t.same(out, records)
      return true
    }),
    { numRuns: 200 },
  )
})

// A CR after a closing `@` is only the CR of a CRLF record end: anything but
// the LF after it is a malformed record (it once passed as a field
// separator: `@a@\r @b@` read as three values, and encodeEntry no longer
// gave back the record's bytes), reported at the same byte whatever the chunks.
t.test('a closing @ followed by a CR that is not part of CRLF is malformed, whatever the chunks', async (t) => {
  const cases: [text: string, badOffset: number][] = [
    ['@ex@ 1 2\n@pv@ 1 @db.x@ @a@\r @b@\n', 27],
    ['@ex@\r 1 2\n', 5],
    ['@pv@ 1 @db.x@ @a@\r\rb\n', 18],
    ['@ex@\r\r\n', 5],
    ['@pv@ 1 @db.x@ @a@\r@b@\n', 18],
  ]
  for (const [text, badOffset] of cases) {
    const buf = Buffer.from(text, 'latin1')
    const whole = frame([buf], {})
    t.equal(whole.error?.code, 'ERR_JOURNAL_MALFORMED', `${JSON.stringify(text)}: malformed`)
    t.same(whole.error?.details, { byteOffset: badOffset, byteLine: text.slice(0, badOffset).split('\n').length }, `${JSON.stringify(text)}: the bad byte`)
    for (const chunks of splits(buf)) {
      if (comparable(frame(chunks, {})) !== comparable(whole))
        t.fail(`${JSON.stringify(text)}: split ${chunks.map((c) => JSON.stringify(c.toString('latin1'))).join(' | ')} differs`)
    }
  }
  // CRLF record ends after a closing `@` still frame, in any chunks.
  const good = Buffer.from('@pv@ 1 @db.x@ @a\rb@\r\n@ex@ 1 2\r\n@nx@ 3 @x@ \r\n', 'latin1')
  for (const chunks of splits(good)) {
    const o = frame(chunks, {})
    if (o.error || o.incomplete || o.records.length !== 3)
      t.fail(`CRLF: split ${chunks.map((c) => JSON.stringify(c.toString('latin1'))).join(' | ')}: ${JSON.stringify(o)}`)
  }
})

t.test('a record over maxEntryBytes: the bytes held are dropped when the error is thrown, not kept by the failed framer', async (t) => {
  for (const piece of [1000, 7, 4096]) {
    const framer = new JournalFramer({ maxEntryBytes: 10_000 })
    const input = Buffer.from(`@ex@ 1 2\n@pv@ 1 @db.desc@ @${'y\n'.repeat(20_000)}`)
    let err: unknown = null
    try {
      for (let at = 0; at < input.length; at += piece) framer.push(input.subarray(at, at + piece), () => {})
    } catch (e) {
      err = e
    }
    t.equal((err as { code?: string } | null)?.code, 'ERR_ENTRY_TOO_LARGE', `pieces of ${piece}`)
    // A caller keeps the framer while it goes on (a .gz inflated to its member's trailer, to check it): up to the limit held.
    t.equal(framer.takePending()?.raw.length ?? 0, 0, `pieces of ${piece}: nothing of the record is held`)
  }
})
