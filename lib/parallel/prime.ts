import { DEFAULT_MAX_ENTRY_BYTES, JournalFramer } from '../journal/framer.js'
import { frameChunk } from './frame-chunk.js'
import type { RangeContext } from './frame-range.js'

/**
 * A few KB of journal in the shapes real checkpoints hold: data records
 * with quoted and bare values, empty values, `@@` escapes, non-ASCII and
 * invalid UTF-8 bytes, control bytes, quotes and backslashes, a value that
 * spans lines, a CRLF record end, and records that are not data records.
 */
const SAMPLE = Buffer.from(
  [
    '@nx@ 4 1620557182 @50@ 1 0 -376477351 0 0 @db.user@ @@ @@ @@ @@ \n',
    '@pv@ 7 @db.user@ @zoe@ @zoe@@corp.example.co.uk@ @@ 1612464506 1620521373 @Zo\u00c3\u00ab \u00c3\u0087elik@ @@ 0 @@ 0 0 0 0 0 0 \n',
    '@pv@ 1 @db.counters@ @change@ @62944@ \n',
    '@ex@ 11102 1620557182\n',
    '@pv@ 0 @db.integed@ @//depot/game/main/a b.c@ @//depot/game/rel/a b.c@ 0 9 0 1 1 12970 \n',
    '@pv@ 3 @db.have@ @//ws/tools/\u00e3\u0083\u0095\u00e3\u0082\u00a1\u00e3\u0082\u00a4\u00e3\u0083\u00ab1.json@ @//depot/tools/x.json@ 3 1 16148 \n',
    '@pv@ 9 @db.rev@ @//depot/docs/app6368.dll@ 3 1 1 5982 1586379982 1586379419 E9C72D6AFAD0237103A87E0DDECCCB23 763052 0 0 @//depot/docs/app6368.dll@ @1.5982@ 1 \n',
    '@rv@ 6 @db.change@ 46994 46994 @alice_ws@ @alice@ 1610987182 1 @Fix "quoted" \\\\server\\share\ttab \u0001 and \u00ff\u00fe@ @//depot/...@ @@ @@ 0 \n',
    '@pv@ 0 @db.desc@ 54717 @Line one\n* indented: if (a && b) { return "x"; }\r\n@@pv@@ 7 not a record\n@ \r\n',
    '@dv@ 1 @db.config@ @any@ @security@ @3@ \n',
    '@mx@ 1 2 @x@ \n',
    // UTF-8 of 2, 3 and 4 bytes (the lead bytes with narrower second bytes too), and invalid sequences.
    '@pv@ 2 @db.label@ @\u00f0\u009f\u0098\u0080 \u00e0\u00a4\u0085 \u00ed\u009f\u00bf \u00f4\u008f\u00bf\u00bf \u00c2\u00a0@ @\u00c3( \u00e2\u0082 \u00f0\u0090 \u00c0\u00af@ \u00c3\u00a9t\u00c3\u00a9 \u00ff 12 \n',
  ].join(''),
  'latin1',
)

/** Where the priming passes start: small and large offsets and lines, for the number writers' every digit count. */
const STARTS = [
  { offset: 0, line: 1 },
  { offset: 123_456, line: 7_890 },
  { offset: 987_654_321, line: 12_345_678 },
]

/**
 * Runs a thread's framer, record sink, filter and line writer over
 * {@link SAMPLE} a few times, pushed whole and in small pieces, and drops
 * what they wrote. Why: V8 optimizes the hot functions after a few MB of
 * real input, with the type feedback gathered until then; a branch not yet
 * taken (a closing `@` at a chunk's end, a 9-digit number, an escape) then
 * throws the optimized code away when first taken, and compiling the
 * framer or a writer again costs 30–100 ms of CPU each time, on every
 * thread. Priming first makes the first optimized code the last. Output
 * is unaffected: the writer's lines are taken and dropped, and nothing of
 * the sample stays in the context.
 */
export function primeRangeContext(context: RangeContext): void {
  const { writer, range } = context
  for (const start of STARTS) {
    for (const piece of [SAMPLE.length, 7]) {
      // The default record limit, not the run's: a --max-entry-bytes below the sample's records must not fail the worker.
      const framer = new JournalFramer({ offset: start.offset, line: start.line, maxEntryBytes: DEFAULT_MAX_ENTRY_BYTES })
      // The range ends inside the sample: the sink sees records past its end too.
      range.reset(start.offset + (SAMPLE.length >> 1), start.line, SAMPLE)
      for (let at = 0; at < SAMPLE.length; at += piece) framer.push(SAMPLE.subarray(at, Math.min(SAMPLE.length, at + piece)), range.sink)
      range.reset(Number.MAX_SAFE_INTEGER, start.line, SAMPLE)
      new JournalFramer({ offset: start.offset, line: start.line }).push(SAMPLE, range.sink)
      range.takeRuns()
      // Once into a new buffer, as when a range's lines are handed over (the writers keep a view of their output buffer).
      if (piece === 7) writer?.take()
      else writer?.takeView()
    }
  }
  range.reset(0, 1, SAMPLE.subarray(0, 0))
}

/**
 * {@link primeRangeContext} for a chunk worker (frame-chunk.ts): runs
 * `frameChunk` over {@link SAMPLE} as a first chunk and as a later one
 * (from a guessed start, with and without a LF before it), and drops the
 * results. Its first real chunk ran cold before: ~65 ms for 1 MiB against
 * ~3 ms once optimized. Output is unaffected: the writer's lines are taken
 * and dropped with each result.
 */
export function primeChunkContext(context: RangeContext): void {
  const lines = context.options.format === 'json' || context.options.format === 'row'
  for (const start of STARTS) {
    for (const [exact, afterLf] of [
      [true, true],
      [false, true],
      [false, false],
    ] as const) {
      // A copy each time: the task's buffer is the chunk's, as a transferred one would be.
      const data = new Uint8Array(SAMPLE).buffer
      frameChunk({ data, length: SAMPLE.length, offset: start.offset, line: lines ? start.line : null, exact, afterLf }, context)
    }
  }
}
