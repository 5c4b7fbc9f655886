import { ErrorCodes, LogdaemonError } from './errors.js'

/**
 * A place in the journal set: journal number and byte offset in that
 * journal's (decompressed) bytes. Text form `N/offset`, as `p4 replicate`
 * and `p4 export -j` write it.
 */
export interface JournalPosition {
  readonly journal: number
  readonly offset: number
}

const POSITION_RE = /^(\d+)\/(\d+)$/

/** Parses `N/offset`; throws ERR_BAD_POSITION on anything else. */
export function parsePosition(text: string): JournalPosition {
  const m = POSITION_RE.exec(text.trim())
  if (!m) {
    throw new LogdaemonError(
      ErrorCodes.BAD_POSITION,
      `position ${JSON.stringify(text)} is not of the form N/offset (journal number / byte offset), e.g. 41/1024`,
    )
  }
  const journal = Number(m[1])
  const offset = Number(m[2])
  if (!Number.isSafeInteger(journal) || !Number.isSafeInteger(offset)) {
    throw new LogdaemonError(ErrorCodes.BAD_POSITION, `position ${JSON.stringify(text)} is out of range`)
  }
  return { journal, offset }
}

export function formatPosition(p: JournalPosition): string {
  return `${p.journal}/${p.offset}`
}

/** Orders positions by journal number, then offset. */
export function comparePositions(a: JournalPosition, b: JournalPosition): number {
  return a.journal - b.journal || a.offset - b.offset
}

/** Whether `v` is a position: a whole journal number and a whole, non-negative offset. */
export function isPosition(v: unknown): v is JournalPosition {
  if (typeof v !== 'object' || v === null) return false
  const { journal, offset } = v as Partial<JournalPosition>
  return Number.isSafeInteger(journal) && Number.isSafeInteger(offset) && (offset as number) >= 0
}
