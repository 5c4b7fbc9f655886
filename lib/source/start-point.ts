import { createReadStream } from 'node:fs'
import { ErrorCodes, isErrnoException, LogdaemonError } from '../errors.js'
import { liveJournalPath, type JournalLayout } from '../files/journal-name.js'
import { describeJournalChain, journalGapError } from '../files/journal-set.js'
import { tailFingerprint, type SavedState, type StateFileIdentity } from '../files/state-file.js'
import { JournalFramer } from '../journal/framer.js'
import { formatPosition } from '../position.js'
import type { OpenedAt } from './journal-cursor.js'

/** Where reading starts, and why. */
export interface StartPoint {
  readonly journal: number
  readonly offset: number
  /** Line number of the byte at `offset`. */
  readonly line: number
  /** `state`: resumed from the state file; `from`: journal N from its start; `end`: the live journal's end. */
  readonly how: 'state' | 'from' | 'end'
}

/**
 * The start point: the saved state if there is one; otherwise journal
 * `from` from its start, or with `from: 'end'` the end of the last whole
 * record of the live journal. Fails with ERR_NO_START when there is
 * nothing to go on, and with ERR_JOURNAL_GAP when a journal between the
 * start and the live one is missing.
 */
export async function resolveStart(layout: JournalLayout, state: SavedState | null, from: number | 'end' | undefined): Promise<StartPoint> {
  if (state) {
    await checkChain(layout, state.journal)
    return { journal: state.journal, offset: state.offset, line: state.line, how: 'state' }
  }
  if (typeof from === 'number') {
    await checkChain(layout, from)
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
    'no saved state and no start point: say where to start with --from N (journal N from its start, ' +
      'e.g. the number of the checkpoint the replica was restored from) or --from end (only records written from now on)',
  )
}

/**
 * Checks a saved state against the journal found at its position: the
 * journal must reach the offset, and the bytes just before it must be the
 * ones saved. Throws ERR_STATE_MISMATCH saying what was found instead.
 */
export function checkState(state: SavedState, opened: OpenedAt, found: StateFileIdentity | null, statePath: string): void {
  const { before, reached, available } = opened
  const where = `journal ${state.journal} (${found ? describeFile(found) : liveOrArchive(state)})`
  const saved = `the state file ${statePath} says ${formatPosition(state)}` + (state.file ? ` (saved ${state.savedAt} from ${describeFile(state.file)})` : '')
  const advice =
    'The journal on disk is not the one this state was saved from (a restored or reset server, or another server root). ' +
    'Check --root/--journal/--prefix; if the server really was reset, move the state file away and start with --from N or --from end'
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
    // Cheap test first: only short db.counters records are decoded.
    if (end - start < 80 && source[start + 2] === 0x76 && source.toString('latin1', start + 5, start + 24).includes('@db.counters@')) {
      const m = JOURNAL_COUNTER_RE.exec(source.toString('latin1', start, end))
      if (m) journalCounter = Number(m[1])
    }
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

async function checkChain(layout: JournalLayout, from: number): Promise<void> {
  const chain = await describeJournalChain(layout, { from })
  if (chain.gaps.length > 0) throw journalGapError(chain.gaps, from, chain.live.journal)
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
