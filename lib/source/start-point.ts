import { createReadStream } from 'node:fs'
import { ErrorCodes, isErrnoException, LogdaemonError } from '../errors.js'
import { liveJournalPath, type JournalLayout } from '../files/journal-name.js'
import { type ArchiveFile, describeJournalChain, findArchive, journalGapError } from '../files/journal-set.js'
import { type AdviceAs, fromAdvice, layoutAdvice } from '../files/start-advice.js'
import { openIfExists } from '../files/if-exists.js'
import { type PreviousJournal, tailFingerprint, type SavedState, type StateFileIdentity } from '../files/state-file.js'
import { JournalFramer } from '../journal/framer.js'
import { formatPosition } from '../position.js'
import { ArchiveReader, lastBytes } from './archive-reader.js'
import type { OpenedAt } from './journal-cursor.js'

/** Where reading starts, and why. */
export interface StartPoint {
  readonly journal: number
  readonly offset: number
  /** Line number of the byte at `offset`. */
  readonly line: number
  /** `state`: resumed from the state file; `from`: journal N from its start; `end`: the live journal's end. */
  readonly how: 'state' | 'from' | 'end'
  /** Resumed from the state file at a consistency point (the end of an `@ex@`): the journal has markers. */
  readonly consistent?: boolean
}

/**
 * The start point: the saved state if there is one; otherwise journal
 * `from` from its start, or with `from: 'end'` the end of the last whole
 * record of the live journal. Fails with ERR_NO_START when there is
 * nothing to go on, and with ERR_JOURNAL_GAP when a journal between the
 * start and the live one is missing. Messages name the settings as
 * `adviceAs` says: logdaemon-cat's options (default) or the daemon's keys.
 */
export async function resolveStart(
  layout: JournalLayout,
  state: SavedState | null,
  from: number | 'end' | undefined,
  adviceAs: AdviceAs = 'option',
): Promise<StartPoint> {
  if (state) {
    const live = await liveJournalNumber(layout)
    if (live && state.journal > live.journal) {
      throw new LogdaemonError(
        ErrorCodes.STATE_MISMATCH,
        `the state file says ${formatPosition(state)}, but the live journal is journal ${live.journal} (${live.why}): ` +
          `journal ${state.journal} does not exist and the live journal must not be read as it. ` +
          `The state was saved from another server or before a reset: check ${layoutAdvice(adviceAs)}; if the server really was reset, ` +
          `move the state file away and start with ${fromAdvice('N', adviceAs)} or ${fromAdvice('end', adviceAs)}`,
        { journal: state.journal, offset: state.offset, details: { saved: state, live: live.journal } },
      )
    }
    await checkChain(layout, state.journal, live, adviceAs)
    return { journal: state.journal, offset: state.offset, line: state.line, how: 'state', ...(state.consistent ? { consistent: true } : {}) }
  }
  if (typeof from === 'number') {
    const live = await liveJournalNumber(layout)
    if (live && from > live.journal) {
      throw new LogdaemonError(
        ErrorCodes.JOURNAL_NUMBER,
        `${fromAdvice(from, adviceAs)}: the live journal is journal ${live.journal} (${live.why}), so journal ${from} does not exist yet. ` +
          `Start with ${fromAdvice('N', adviceAs)} for the checkpoint the replica was restored from (at most ${live.journal}), or ${fromAdvice('end', adviceAs)}`,
        { journal: from, details: { from, live: live.journal } },
      )
    }
    await checkChain(layout, from, live, adviceAs)
    return { journal: from, offset: 0, line: 1, how: 'from' }
  }
  if (from === 'end') {
    const chain = await describeJournalChain(layout)
    const end = await endOfLastRecord(liveJournalPath(layout))
    // With no archive left, the journal counter written in the live journal is the only witness of its number.
    const journal = Math.max(chain.live.journal, end.journalCounter ?? 0)
    return { journal, offset: end.offset, line: end.line, how: 'end' }
  }
  throw new LogdaemonError(
    ErrorCodes.NO_START,
    `no saved state and no start point: say where to start with ${fromAdvice('N', adviceAs)} (journal N from its start, ` +
      `e.g. the number of the checkpoint the replica was restored from) or ${fromAdvice('end', adviceAs)} (only records written from now on)`,
  )
}

/**
 * Checks a saved state against the journal found at its position: the
 * journal must reach the offset, and the bytes just before it must be the
 * ones saved. Throws ERR_STATE_MISMATCH saying what was found instead.
 */
export function checkState(state: SavedState, opened: OpenedAt, found: StateFileIdentity | null, statePath: string, adviceAs: AdviceAs = 'option'): void {
  const { before, reached, available } = opened
  const where = `journal ${state.journal} (${found ? describeFile(found) : liveOrArchive(state)})`
  const saved = `the state file ${statePath} says ${formatPosition(state)}` + (state.file ? ` (saved ${state.savedAt} from ${describeFile(state.file)})` : '')
  const advice =
    'The journal on disk is not the one this state was saved from (a restored or reset server, or another server root). ' +
    `Check ${layoutAdvice(adviceAs)}; if the server really was reset, move the state file away and start with ${fromAdvice('N', adviceAs)} or ${fromAdvice('end', adviceAs)}`
  if (!reached) {
    const size = available === null ? '' : ` (it has ${available} bytes)`
    throw mismatch(`${saved}, but ${where} ends before offset ${state.offset}${size}. ${advice}`, state, found)
  }
  const bytes = before.subarray(Math.max(0, before.length - state.tail.length))
  if (bytes.length !== state.tail.length || tailFingerprint(bytes).sha256 !== state.tail.sha256) {
    throw mismatch(
      `${saved}, but the ${state.tail.length} bytes before that offset in ${where} are not the ones saved ` +
        `(sha256 ${tailFingerprint(bytes).sha256.slice(0, 12)}…, saved ${state.tail.sha256.slice(0, 12)}…). ${advice}`,
      state,
      found,
    )
  }
}

/**
 * The largest `.gz` that checkPrevious inflates whole to compare its last
 * bytes: 32 MiB, about 100-250 MB of journal, well under a second. Beyond
 * that a restart would spend seconds per GB (once, but at every restart
 * made while the state stood at a journal's start), and the size in the
 * trailer is compared instead.
 */
export const INFLATE_TO_CHECK_BYTES = 32 << 20

/**
 * Checks the journal a state at a journal's start follows (`previous`,
 * saved as `N/0` once the journal before had been read to its end): where
 * that journal is still on disk, it must end where it ended then, with the
 * same last bytes. At `N/0` there are no bytes before the offset to
 * compare, so without this a state saved on another server root whose
 * live journal had the same number was taken as this root's. Throws
 * ERR_STATE_MISMATCH saying what was found. Not checked: a journal no
 * longer on disk (pruned), or one that cannot be read or inflated (nothing
 * is read from it from here on). A `.gz` is inflated to compare its end
 * when it is at most {@link INFLATE_TO_CHECK_BYTES}; a larger one is checked
 * by the size in its gzip trailer (ISIZE, the size modulo 2^32), and
 * inflated only when that differs (a file of several gzip members has the
 * last one's size there).
 */
export async function checkPrevious(
  layout: JournalLayout,
  state: SavedState,
  statePath: string,
  adviceAs: AdviceAs = 'option',
  inflateUpTo = INFLATE_TO_CHECK_BYTES,
): Promise<void> {
  const prev = state.previous
  if (!prev || state.offset !== 0) return
  const archive = await findArchive(layout, prev.journal)
  if (!archive) return
  const found = await journalEnd(archive, prev, inflateUpTo).catch(() => null)
  if (!found) return
  const what =
    found.size !== prev.end
      ? `is ${found.size} bytes long`
      : found.last && tailFingerprint(found.last).sha256 !== prev.tail.sha256
        ? `ends with other bytes (the last ${prev.tail.length}: sha256 ${tailFingerprint(found.last).sha256.slice(0, 12)}…, saved ${prev.tail.sha256.slice(0, 12)}…)`
        : null
  if (what === null) return
  throw new LogdaemonError(
    ErrorCodes.STATE_MISMATCH,
    `the state file ${statePath} says ${formatPosition(state)}, saved ${state.savedAt} when journal ${prev.journal} had been read to its end ` +
      `at offset ${prev.end}, but journal ${prev.journal} on disk (${archive.path}) ${what}. ` +
      'The journals on disk are not the ones this state was saved from (another server root, or a restored or reset server). ' +
      `Check ${layoutAdvice(adviceAs)}; if the server really was reset, move the state file away and start with ${fromAdvice('N', adviceAs)} or ${fromAdvice('end', adviceAs)}`,
    { file: archive.path, journal: prev.journal, offset: prev.end, details: { saved: state, found: { path: archive.path, size: found.size } } },
  )
}

/**
 * The length of archived journal `archive` and, when it could be compared,
 * its last `prev.tail.length` bytes (null for a large `.gz` whose trailer
 * gives the size `prev` says: not inflated).
 */
async function journalEnd(archive: ArchiveFile, prev: PreviousJournal, inflateUpTo: number): Promise<{ size: number; last: Buffer | null }> {
  const fh = await openIfExists(archive.path)
  if (fh === null) throw new Error('gone')
  let trailerSize: number | null = null
  try {
    const { size } = await fh.stat()
    if (!archive.compressed) {
      const k = Math.min(prev.tail.length, size)
      const last = Buffer.alloc(k)
      const { bytesRead } = await fh.read(last, 0, k, size - k)
      return { size, last: last.subarray(0, bytesRead) }
    }
    if (size >= 18 && size > inflateUpTo) {
      const trailer = Buffer.alloc(4)
      const { bytesRead } = await fh.read(trailer, 0, 4, size - 4)
      if (bytesRead === 4) trailerSize = trailer.readUInt32LE(0)
    }
  } finally {
    await fh.close()
  }
  if (trailerSize === prev.end % 2 ** 32) return { size: prev.end, last: null }
  // Inflated to its end: at once ERR_GZIP_TRUNCATED for a file cut short (no waiting for a gzip still writing it).
  const reader = await ArchiveReader.open(archive, { offset: 0, gzipRetry: { stableMs: 0 } })
  try {
    let size = 0
    let last: Buffer = Buffer.alloc(0)
    for (let chunk = await reader.read(); chunk; chunk = await reader.read()) {
      size += chunk.length
      last = Buffer.from(lastBytes(last, chunk, prev.tail.length))
    }
    return { size, last }
  } finally {
    await reader.close()
  }
}

/** `@pv@ 1 @db.counters@ @journal@ @N@ ` (or `@rv@`, version 0 with N bare): the journal counter, whose value is the live journal's number. */
const JOURNAL_COUNTER_RE = /^@[pr]v@ \d+ @db\.counters@ @journal@ @?(\d+)@? \r?\n$/

/**
 * Offset and line just past the last whole record of a journal file (0 and
 * 1 when it does not exist): where `from: 'end'` starts, so that a record
 * being written is read whole. Framing from the start is the only way to
 * know where records end (quoted values may hold line ends); it runs at
 * the framer's speed. On the way it notes the last journal counter record
 * (`db.counters` row `journal`), which p4d writes when it rotates.
 */
export async function endOfLastRecord(path: string): Promise<{ offset: number; line: number; journalCounter: number | null }> {
  const framer = new JournalFramer({ skipMalformed: true, skipOversize: true, file: path })
  let next = { offset: 0, line: 1 }
  let journalCounter: number | null = null
  const sink = (source: Buffer, start: number, end: number, offset: number, line: number): void => {
    next = { offset: offset + (end - start), line: line + countLines(source, start, end) }
    journalCounter = journalCounterOf(source, start, end) ?? journalCounter
  }
  try {
    for await (const chunk of createReadStream(path)) framer.push(chunk as Buffer, sink)
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return { ...next, journalCounter }
    throw err
  }
  const pending = framer.takePending()
  return pending ? { offset: pending.offset, line: pending.line, journalCounter } : { ...next, journalCounter }
}

/** LFs in `buf[start..end)`. */
export function countLines(buf: Buffer, start = 0, end = buf.length): number {
  let n = 0
  for (let i = buf.indexOf(0x0a, start); i >= 0 && i < end; i = buf.indexOf(0x0a, i + 1)) n++
  return n
}

async function checkChain(layout: JournalLayout, from: number, live: LiveNumber | null, adviceAs: AdviceAs): Promise<void> {
  const chain = await describeJournalChain(layout, { from })
  const liveNumber = Math.max(chain.live.journal, live?.journal ?? 0)
  const have = new Set(chain.archives.map((a) => a.journal))
  const gaps: number[] = []
  for (let n = from; n < liveNumber; n++) if (!have.has(n)) gaps.push(n)
  if (gaps.length > 0) throw journalGapError(gaps, from, liveNumber, adviceAs)
}

/** The live journal's number as the files tell it, and how they tell it. */
export interface LiveNumber {
  readonly journal: number
  readonly why: string
}

/** How much of the live journal is searched for its journal counter record: it is written when the journal starts. */
export const COUNTER_SEARCH_BYTES = 64 * 1024

/**
 * The live journal's number from the files, or null when they do not say:
 * one more than the newest archive, or the journal counter record
 * (`@pv@ 1 @db.counters@ @journal@ @N@`) p4d writes near the start of a new
 * live journal, whichever is larger. A fresh server (no archive, no counter
 * record) does not say.
 */
export async function liveJournalNumber(layout: JournalLayout): Promise<LiveNumber | null> {
  const chain = await describeJournalChain(layout)
  const counter = await journalCounterNear(liveJournalPath(layout))
  const fromArchives = chain.newest === null ? null : chain.newest + 1
  if (counter !== null && (fromArchives === null || counter >= fromArchives)) {
    return { journal: counter, why: `its journal counter record says ${counter}` }
  }
  if (fromArchives !== null) return { journal: fromArchives, why: `the newest archive is journal ${chain.newest}` }
  return null
}

/** The journal counter record in the first COUNTER_SEARCH_BYTES of `path`, framed (a quoted field cannot fake it). */
async function journalCounterNear(path: string): Promise<number | null> {
  const fh = await openIfExists(path)
  if (fh === null) return null
  try {
    const buf = Buffer.alloc(COUNTER_SEARCH_BYTES)
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0)
    return journalCounterIn(buf.subarray(0, bytesRead), path)
  } finally {
    await fh.close()
  }
}

/**
 * The journal counter record among the first bytes of a journal (`head`, up
 * to COUNTER_SEARCH_BYTES from its start), framed (a quoted field cannot
 * fake it), or null.
 */
export function journalCounterIn(head: Buffer, path: string): number | null {
  return journalCounterLook(head, path).counter
}

/**
 * journalCounterIn, and whether `head` holds a whole record at all (framed
 * or skipped as malformed): when it does not, a counter record may be
 * there half written.
 */
export function journalCounterLook(head: Buffer, path: string): { counter: number | null; whole: boolean } {
  let found: number | null = null
  let whole = false
  const framer = new JournalFramer({ skipMalformed: true, skipOversize: true, file: path })
  framer.onSkip = () => {
    whole = true
  }
  framer.push(head.subarray(0, COUNTER_SEARCH_BYTES), (source, start, end) => {
    whole = true
    found ??= journalCounterOf(source, start, end)
  })
  return { counter: found, whole }
}

/** The value of a journal counter record `source[start..end)`, or null for any other record. */
function journalCounterOf(source: Buffer, start: number, end: number): number | null {
  // Cheap test first: only short db.counters records are decoded.
  if (end - start >= 80 || source[start + 2] !== 0x76 || !source.toString('latin1', start + 5, start + 24).includes('@db.counters@')) return null
  const m = JOURNAL_COUNTER_RE.exec(source.toString('latin1', start, end))
  return m ? Number(m[1]) : null
}

function mismatch(message: string, state: SavedState, found: StateFileIdentity | null): LogdaemonError {
  return new LogdaemonError(ErrorCodes.STATE_MISMATCH, message, {
    file: found?.path ?? null,
    journal: state.journal,
    offset: state.offset,
    details: { saved: state, found },
  })
}

function describeFile(f: StateFileIdentity): string {
  return `${f.path}, inode ${f.ino}${f.compressed ? ', gzip' : ''}`
}

function liveOrArchive(state: SavedState): string {
  return `no file found for journal ${state.journal}`
}
