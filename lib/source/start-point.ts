import { constants, createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import { ErrorCodes, isErrnoException, LogdaemonError } from '../errors.js'
import { archiveCandidates, liveJournalPath, type JournalLayout } from '../files/journal-name.js'
import { type ArchiveFile, describeJournalChain, journalGapError } from '../files/journal-set.js'
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
  /** Resumed from the state file at the start of a journal: where the journal before it ended, as the state recorded it. */
  readonly previous?: { readonly journal: number; readonly end: number }
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
    const previous = state.offset === 0 && state.previous ? { previous: { journal: state.previous.journal, end: state.previous.end } } : {}
    return { journal: state.journal, offset: state.offset, line: state.line, how: 'state', ...(state.consistent ? { consistent: true } : {}), ...previous }
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
 * Resolves the start (resolveStart) and opens `cursor` there, with the
 * checks a resume makes before it reads a record: the journal before a
 * state at a journal's start (checkPrevious), then the bytes before the
 * saved offset (checkState). What RotatingJournalSource runs at its start
 * and `logdaemon check` runs to say whether `run` would start.
 */
export async function openStart(
  layout: JournalLayout,
  saved: SavedState | null,
  from: number | 'end' | undefined,
  statePath: string | undefined,
  cursor: { open(journal: number, offset: number, previous?: PreviousJournal): Promise<OpenedAt>; readonly file: StateFileIdentity | null },
  adviceAs: AdviceAs = 'option',
): Promise<{ start: StartPoint; opened: OpenedAt }> {
  const start = await resolveStart(layout, saved, from, adviceAs)
  if (saved && statePath) await checkPrevious(layout, saved, statePath, adviceAs)
  // The journal before a state at a journal's start: a live file that still holds it is not this one yet.
  const opened = await cursor.open(start.journal, start.offset, start.how === 'state' ? saved?.previous : undefined)
  if (saved && statePath) checkState(saved, opened, cursor.file, statePath, adviceAs)
  return { start, opened }
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
 * The largest `.gz` that checkPrevious inflates to compare its end: 32 MiB,
 * about 100-250 MB of journal, well under a second. Beyond that a restart
 * would spend seconds per GB (at every restart made while the state stood
 * at a journal's start), and the size in the gzip trailer is compared
 * first: the file is inflated only when that differs.
 */
export const INFLATE_TO_CHECK_BYTES = 32 << 20

/**
 * A `.gz` that inflates to more than this many times its size (plus the
 * journal's end) is no journal's archive (journals compress 4-10 times):
 * checkPrevious stops inflating it and does not check it.
 */
export const PLAUSIBLE_RATIO = 64

/**
 * Checks the journal a state at a journal's start follows (`previous`,
 * saved as `N/0` once the journal before had been read to its end): where
 * that journal is still on disk, it must end where it ended then, with the
 * same bytes before its end. At `N/0` there are no bytes before the offset
 * to compare, so without this a state saved on another server root whose
 * live journal had the same number was taken as this root's. Throws
 * ERR_STATE_MISMATCH saying what was found: other bytes before that end,
 * or a shorter file (another journal), or bytes after it (the same journal,
 * written to after it was read to its end: those bytes were never read).
 *
 * Each file of that journal on disk is looked at (the plain one first, and
 * its `.gz` when the plain one does not match: a `gunzip -k` half done
 * leaves a plain file cut short beside a whole `.gz`); one that matches
 * is enough, and a mismatch is looked at once more before it is reported
 * (gzip or gunzip finishing between two files). Not checked: a journal no
 * longer on disk (pruned), a file that cannot be read or is not a regular
 * file, a `.gz` that is damaged (its bytes before a bad CRC or corrupt
 * data are not evidence: a damaged archive of this very journal inflated
 * to other bytes), one that inflates to more than {@link PLAUSIBLE_RATIO}
 * times its size (a gzip bomb: not inflated further), and a `.gz` over
 * {@link INFLATE_TO_CHECK_BYTES} whose trailer gives that size (modulo
 * 2^32: its bytes are not inflated to look).
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
  const lookAll = async (): Promise<{ path: string; look: EndLook } | null> => {
    let first: { path: string; look: EndLook } | null = null
    for (const path of archiveCandidates(layout, prev.journal)) {
      const look = await lookAtEnd({ journal: prev.journal, path, compressed: path.endsWith('.gz') }, prev, inflateUpTo).catch(() => null)
      if (look === 'same') return null
      if (look !== null) first ??= { path, look }
    }
    return first
  }
  // Looked at twice: a gunzip that finished between the plain file (cut short then) and its .gz (removed since).
  const found = (await lookAll()) && (await lookAll())
  if (!found) return
  const { path, look } = found
  const what =
    look === 'shorter'
      ? 'ends before that offset'
      : look === 'other'
        ? `holds other bytes before that offset (the last ${prev.tail.length} before it differ)`
        : 'goes on past that offset: it was written to after it had been read to its end, and the bytes after that offset were never read'
  const cause =
    look === 'longer'
      ? 'A process wrote to the journal after it was rotated (a rename while p4d or another writer still had it open). ' +
        `To go on without those records, move the state file away and start with ${fromAdvice(state.journal, adviceAs)}`
      : 'The journals on disk are not the ones this state was saved from (another server root, or a restored or reset server). ' +
        `Check ${layoutAdvice(adviceAs)}; if the server really was reset, move the state file away and start with ${fromAdvice('N', adviceAs)} or ${fromAdvice('end', adviceAs)}`
  throw new LogdaemonError(
    ErrorCodes.STATE_MISMATCH,
    `the state file ${statePath} says ${formatPosition(state)}, saved ${state.savedAt} when journal ${prev.journal} had been read to its end ` +
      `at offset ${prev.end}, but journal ${prev.journal} on disk (${path}) ${what}. ${cause}`,
    { file: path, journal: prev.journal, offset: prev.end, details: { saved: state, found: { path, look } } },
  )
}

/**
 * What an archived journal holds around where `prev` says it ended: the same
 * end (`same`), other bytes before it (`other`), no byte at it (`shorter`),
 * or the same bytes and more after it (`longer`); null when that cannot be
 * told (no such file, not a regular file, not readable, a `.gz` that is
 * damaged or inflates past what a journal could).
 */
type EndLook = 'same' | 'other' | 'shorter' | 'longer'

async function lookAtEnd(archive: ArchiveFile, prev: PreviousJournal, inflateUpTo: number): Promise<EndLook | null> {
  // Not blocking: a FIFO there would wait for a writer for ever.
  const fh = await open(archive.path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)).catch(() => null)
  if (fh === null) return null
  const k = prev.tail.length
  const sameBytes = (bytes: Buffer): boolean => bytes.length === k && tailFingerprint(bytes).sha256 === prev.tail.sha256
  let compressedSize = 0
  try {
    const info = await fh.stat()
    // A FIFO would block, a device never end: only a regular file is looked at.
    if (!info.isFile()) return null
    compressedSize = info.size
    if (!archive.compressed) {
      if (info.size < prev.end) return 'shorter'
      const bytes = Buffer.alloc(k)
      const { bytesRead } = await fh.read(bytes, 0, k, prev.end - k)
      if (!sameBytes(bytes.subarray(0, bytesRead))) return 'other'
      return info.size === prev.end ? 'same' : 'longer'
    }
    if (info.size > inflateUpTo && info.size >= 18) {
      const trailer = Buffer.alloc(4)
      const { bytesRead } = await fh.read(trailer, 0, 4, info.size - 4)
      if (bytesRead === 4 && trailer.readUInt32LE(0) === prev.end % 2 ** 32) return 'same'
    }
  } finally {
    await fh.close()
  }
  // Inflated to its end, every member's CRC checked: bytes of a damaged archive tell nothing (ERR_GZIP_TRUNCATED
  // at once for a file cut short: no waiting for a gzip still writing it).
  const reader = await ArchiveReader.open(archive, { offset: 0, gzipRetry: { stableMs: 0 } })
  const most = prev.end + compressedSize * PLAUSIBLE_RATIO
  let size = 0
  let before: Buffer = Buffer.alloc(0)
  try {
    for (let chunk = await reader.read(); chunk; chunk = await reader.read()) {
      const upToEnd = chunk.subarray(0, Math.max(0, prev.end - size))
      if (upToEnd.length > 0) before = Buffer.from(lastBytes(before, upToEnd, k))
      size += chunk.length
      if (size > most) return null
    }
  } catch {
    return null
  } finally {
    await reader.close()
  }
  if (size < prev.end) return 'shorter'
  if (!sameBytes(before)) return 'other'
  return size === prev.end ? 'same' : 'longer'
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

/** What every journal counter record holds (JOURNAL_COUNTER_RE). */
const COUNTER_TAG = Buffer.from('@db.counters@ @journal@ ', 'latin1')
/** A counter record is shorter than this (journalCounterOf), so it ends less than this past its COUNTER_TAG. */
const COUNTER_RECORD_MAX_BYTES = 80
/** How much journalCounterLook frames at a time. */
const COUNTER_LOOK_STEP_BYTES = 4096

/** The journal counter record in the first COUNTER_SEARCH_BYTES of `path`, framed (a quoted field cannot fake it). */
async function journalCounterNear(path: string): Promise<number | null> {
  const fh = await openIfExists(path)
  if (fh === null) return null
  try {
    // Not a file (a FIFO, a directory): no counter record; opening it as the live journal says what it is.
    if (!(await fh.stat()).isFile()) return null
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
  const bytes = head.subarray(0, COUNTER_SEARCH_BYTES)
  // A counter record holds COUNTER_TAG and ends within COUNTER_RECORD_MAX_BYTES of it: past the last place
  // one could end, framing more cannot change `counter`, and `whole` once true stays true. So the look
  // frames a step at a time and stops there: at a start, the framer's code is still cold (interpreted),
  // and framing all 64 KiB cost 1-8 ms, three times per start (the start point, the cursor, the caller).
  const lastTag = bytes.lastIndexOf(COUNTER_TAG)
  const enough = lastTag < 0 ? 0 : lastTag + COUNTER_RECORD_MAX_BYTES
  let found: number | null = null
  let whole = false
  const framer = new JournalFramer({ skipMalformed: true, skipOversize: true, file: path })
  framer.onSkip = () => {
    whole = true
  }
  const sink = (source: Buffer, start: number, end: number): void => {
    whole = true
    found ??= journalCounterOf(source, start, end)
  }
  for (let at = 0; at < bytes.length; at += COUNTER_LOOK_STEP_BYTES) {
    framer.push(bytes.subarray(at, at + COUNTER_LOOK_STEP_BYTES), sink)
    if (whole && (found !== null || at + COUNTER_LOOK_STEP_BYTES >= enough)) break
  }
  return { counter: found, whole }
}

/** The value of a journal counter record `source[start..end)`, or null for any other record. */
function journalCounterOf(source: Buffer, start: number, end: number): number | null {
  // Cheap test first: only short db.counters records are decoded.
  if (end - start >= COUNTER_RECORD_MAX_BYTES || source[start + 2] !== 0x76 || !source.toString('latin1', start + 5, start + 24).includes('@db.counters@'))
    return null
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
