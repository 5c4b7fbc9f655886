import { createHash } from 'node:crypto'
import { constants } from 'node:fs'
import { lstat, open, readlink } from 'node:fs/promises'
import { writeFileAtomic } from './atomic-write.js'
import { ErrorCodes, isErrnoException, LogdaemonError } from '../errors.js'
import { formatPosition, parsePosition, type JournalPosition } from '../position.js'
import { type AdviceAs, chooseStartAdvice } from './start-advice.js'

/**
 * How many bytes before the saved offset the state fingerprints. A record
 * ending a transaction (`@ex@ pid time`) is ~25 bytes; 256 bytes take in the
 * end of the data record before it too, which pins the content well enough
 * that a different journal cannot match by accident, and cost one small
 * copy per transaction.
 */
export const STATE_TAIL_BYTES = 256

/** The file a position was read from, as it was when the state was saved. */
export interface StateFileIdentity {
  readonly path: string
  readonly dev: number
  readonly ino: number
  readonly compressed: boolean
}

/** What a state file records: where to resume and what the bytes before that point were. */
export interface SavedState extends JournalPosition {
  /** Line number of the first byte at `offset`. */
  readonly line: number
  /** Fingerprint of the `length` bytes just before `offset` (fewer than STATE_TAIL_BYTES only near a journal's start). */
  readonly tail: { readonly length: number; readonly sha256: string }
  /** The file the position was read from, or null when unknown (for messages). */
  readonly file: StateFileIdentity | null
  /** When the state was written (ISO 8601). */
  readonly savedAt: string
  /**
   * The position is a consistency point: the end of an `@ex@` after which
   * no transaction is open (so the journal has markers). Absent: not known
   * (a first start saved at once, an entry's end, a file written before it
   * was recorded).
   */
  readonly consistent?: boolean
  /**
   * A position at a journal's start (`N/0`) saved when the journal read
   * before it had been read to its end: that journal's number, where it
   * ended, and the fingerprint of its last bytes. At `N/0` there are no
   * bytes before the offset to check, so a restart checks these instead,
   * where that journal is still on disk (see checkPrevious).
   */
  readonly previous?: PreviousJournal
}

/** The journal a start-of-journal position follows (SavedState.previous). */
export interface PreviousJournal {
  /** The number it is archived under (the one before the position's; after a renumbering, the file's real number). */
  readonly journal: number
  /** Its length: where it ended. */
  readonly end: number
  /** Fingerprint of its last `length` bytes (all of it when shorter than STATE_TAIL_BYTES). */
  readonly tail: { readonly length: number; readonly sha256: string }
}

/** The `format` of a journal-file daemon's state, and of a JetStream reader's (ConsumerState): each refuses the other's. */
export const STATE_FORMAT = 'logdaemon-state'
export const JETSTREAM_STATE_FORMAT = 'logdaemon-jetstream-state'
const VERSION = 1

/** The fingerprint of the bytes before a position. */
export function tailFingerprint(bytes: Buffer): SavedState['tail'] {
  return { length: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') }
}

/**
 * Reads a state file. Returns null when there is none. Anything unreadable
 * or unparsable fails with ERR_STATE_CORRUPT: a state file is never
 * silently ignored or replaced, since starting over could skip or replay a
 * whole journal. Its message says how to choose a start instead as
 * `adviceAs` names it: logdaemon-cat's `--from N` (default) or the
 * daemon's `from: N`.
 */
export async function readState(path: string, adviceAs: AdviceAs = 'option'): Promise<SavedState | null> {
  const corrupt = (what: string, cause?: unknown): LogdaemonError => corruptState(path, what, adviceAs, cause)
  const data = await readStateJson(path, corrupt)
  if (isRecord(data) && data.format === JETSTREAM_STATE_FORMAT) {
    // A JetStream reader's file (ConsumerState), which refuses this daemon's the same way: another daemon's, not damaged.
    throw new LogdaemonError(
      ErrorCodes.STATE_MISMATCH,
      `state file ${path} is the state of a JetStream reader (a daemon with a jetstream source), not of a daemon that reads journal files: ` +
        'give this daemon its own state file (the `state` key)',
      { file: path },
    )
  }
  return data === null ? null : validate(data, corrupt)
}

/**
 * The parsed JSON of a state file at `path`, or null when there is none.
 * Fails with what `corrupt` makes of it: a file that cannot be read, is no
 * regular file (a FIFO, a device), is a symlink to nothing, or is no JSON.
 */
export async function readStateJson(path: string, corrupt: (what: string, cause?: unknown) => Error): Promise<unknown> {
  let text: string
  try {
    text = await readRegular(path)
  } catch (err) {
    if (err instanceof NotAState) throw corrupt(err.what)
    if (isErrnoException(err) && err.code === 'ENOENT') {
      // A symlink to nothing is a state that cannot be found (its file system not mounted, the link
      // wrong), not no state: starting over from `from` would replay every journal since.
      const link = await lstat(path).catch(() => null)
      if (link?.isSymbolicLink()) {
        const target = await readlink(path).catch(() => '?')
        throw corrupt(`is a symlink to ${target}, which does not exist: mount or restore it, or remove the link to start over`, err)
      }
      return null
    }
    throw corrupt(`cannot be read (${describe(err)})`, err)
  }
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw corrupt(`is not valid JSON (${text.length} bytes)`, err)
  }
}

/** Largest state file read: a state is a few hundred bytes. */
const MAX_STATE_BYTES = 1 << 20

/** What readRegular found instead of a state: not a regular file, or one far too large. */
class NotAState extends Error {
  constructor(readonly what: string) {
    super(what)
  }
}

/**
 * The text of `path`, refusing anything but a regular file before reading
 * it: opened without blocking and checked on the handle. A FIFO there made
 * `run` and `check` wait for a writer for ever (and SIGTERM could not end
 * the process: its exit waited on the blocked open); a device such as
 * /dev/zero was read until the string length limit.
 */
async function readRegular(path: string): Promise<string> {
  const handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0))
  try {
    const info = await handle.stat()
    // A directory fails to read at once (EISDIR, "cannot be read"); what could block or never end is refused here.
    if (!info.isFile() && !info.isDirectory()) {
      const kind = info.isFIFO() ? 'a FIFO (named pipe)' : info.isCharacterDevice() || info.isBlockDevice() ? 'a device' : 'a socket or something else'
      throw new NotAState(`is not a regular file but ${kind}`)
    }
    // A state is a few hundred bytes: a huge file there (a hostile path, a log named as the state) is refused unread,
    // not taken into memory whole.
    if (info.size > MAX_STATE_BYTES)
      throw new NotAState(`is ${info.size} bytes, not a state (a state file is a few hundred bytes; at most ${MAX_STATE_BYTES} are read)`)
    return await handle.readFile('utf8')
  } finally {
    await handle.close().catch(() => {})
  }
}

/**
 * Writes a state file atomically and durably: a temporary file beside it,
 * fsync, rename over the old one, fsync of the directory. A reader (or a
 * crash) sees the old state or the new one, never a mix. Fails with
 * ERR_STATE_WRITE.
 */
export async function writeState(path: string, state: SavedState): Promise<void> {
  const body =
    JSON.stringify({
      format: STATE_FORMAT,
      version: VERSION,
      position: formatPosition(state),
      line: state.line,
      tail: state.tail,
      file: state.file,
      savedAt: state.savedAt,
      ...(state.consistent ? { consistent: true } : {}),
      ...(state.previous ? { previous: state.previous } : {}),
    }) + '\n'
  try {
    await writeFileAtomic(path, body)
  } catch (err) {
    throw new LogdaemonError(
      ErrorCodes.STATE_WRITE,
      `${path}: cannot save the position ${formatPosition(state)} (${describe(err)}); ` +
        'fix the disk or permissions, then restart: the last saved position still stands',
      { file: path, journal: state.journal, offset: state.offset, cause: err },
    )
  }
}

function validate(data: unknown, corrupt: (what: string, cause?: unknown) => LogdaemonError): SavedState {
  if (!isRecord(data) || data.format !== STATE_FORMAT) throw corrupt(`is not a ${STATE_FORMAT} file`)
  if (data.version !== VERSION) throw corrupt(`has version ${String(data.version)}; this logdaemon reads version ${VERSION}`)
  let position: JournalPosition
  try {
    position = parsePosition(typeof data.position === 'string' ? data.position : '')
  } catch (err) {
    throw corrupt(`has no valid position (${describe(err)})`, err)
  }
  const line = data.line
  if (!isCount(line) || line < 1) throw corrupt('has no valid line number')
  const tail = data.tail
  if (!isFingerprint(tail)) throw corrupt('has no valid tail fingerprint')
  if (tail.length > position.offset) throw corrupt('has a tail fingerprint longer than its offset')
  let previous: PreviousJournal | null = null
  if (data.previous !== undefined) {
    const p = data.previous
    if (position.offset !== 0 || !isRecord(p) || !isCount(p.journal) || !isCount(p.end) || !isFingerprint(p.tail) || p.tail.length > p.end) {
      throw corrupt('has an invalid previous journal')
    }
    previous = { journal: p.journal, end: p.end, tail: { length: p.tail.length, sha256: p.tail.sha256 } }
  }
  const file = data.file
  let identity: StateFileIdentity | null = null
  if (isRecord(file)) {
    if (typeof file.path !== 'string' || !isCount(file.dev) || !isCount(file.ino) || typeof file.compressed !== 'boolean') {
      throw corrupt('has an invalid file identity')
    }
    identity = { path: file.path, dev: file.dev, ino: file.ino, compressed: file.compressed }
  } else if (file !== null && file !== undefined) {
    throw corrupt('has an invalid file identity')
  }
  const savedAt = typeof data.savedAt === 'string' ? data.savedAt : ''
  if (data.consistent !== undefined && typeof data.consistent !== 'boolean') throw corrupt('has an invalid consistent flag')
  return {
    ...position,
    line,
    tail: { length: tail.length, sha256: tail.sha256 },
    file: identity,
    savedAt,
    ...(data.consistent === true ? { consistent: true } : {}),
    ...(previous ? { previous } : {}),
  }
}

function isFingerprint(v: unknown): v is { length: number; sha256: string } {
  return isRecord(v) && isCount(v.length) && typeof v.sha256 === 'string' && /^[0-9a-f]{64}$/.test(v.sha256)
}

function corruptState(path: string, what: string, adviceAs: AdviceAs, cause?: unknown): LogdaemonError {
  return new LogdaemonError(
    ErrorCodes.STATE_CORRUPT,
    `state file ${path} ${what}: it was left as it is. Repair it, or move it away and choose where to start (${chooseStartAdvice(adviceAs)})`,
    { file: path, cause },
  )
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
