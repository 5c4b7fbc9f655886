import { ErrorCodes, LogdaemonError } from '../errors.js'
import { isDataOp, type JournalEntry } from '../journal/entry.js'
import { parsePosition, type JournalPosition } from '../position.js'

/** The headers of a journal message in the stream. */
export const Headers = {
  /** `SERVER:N/offset`: JetStream drops a second message with the same id inside the duplicate window. */
  msgId: 'Nats-Msg-Id',
  /** `N/offset`: where the record starts in journal N. */
  position: 'Logdaemon-Position',
  /** The record's first line number in its journal. */
  line: 'Logdaemon-Line',
  /** `N/offset` on the first record of a journal reached by rotation: journal N ended at offset. */
  journalEnd: 'Logdaemon-Journal-End',
  /** `1` on a record that ends a consistency point (no transaction open after it). */
  consistent: 'Logdaemon-Consistent',
} as const

/** A subject token: NATS subjects are `.`-separated tokens without spaces, `*` or `>`. */
function token(text: string): string {
  const t = text.replace(/[^A-Za-z0-9_-]/g, '_')
  return t === '' ? '_' : t
}

/**
 * The subject of an entry: `PREFIX.OP.TABLE` for data records (the table's
 * dots make more tokens: `p4.journal.pv.db.rev`), `PREFIX.OP` otherwise.
 * Characters a subject token cannot hold become `_`.
 */
export function subjectOf(prefix: string, entry: JournalEntry): string {
  const op = entry.op
  const table = isDataOp(op) ? entry.table : null
  if (table === null) return `${prefix}.${token(op)}`
  return `${prefix}.${token(op)}.${table.split('.').map(token).join('.')}`
}

/** The message id of the record at `position` of `server`'s journal. */
export function msgIdOf(server: string, position: JournalPosition): string {
  return `${server}:${position.journal}/${position.offset}`
}

/** What a message's headers say about its record. */
export interface MessagePosition {
  readonly journal: number
  readonly offset: number
  readonly line: number
  /** Where the previous journal ended, on the first record of a journal reached by rotation. */
  readonly journalEnd: JournalPosition | null
  readonly consistent: boolean
  /** The server part of the message id, or null without one. */
  readonly server: string | null
}

/** A header reader: nats.js MsgHdrs has `get(name)` returning '' when missing. */
export interface HeaderReader {
  get(name: string): string
}

function bad(where: string, why: string): LogdaemonError {
  const err = new LogdaemonError(
    ErrorCodes.JETSTREAM_MISMATCH,
    `${where} ${why}: it was not published by the logdaemon jetstream listener. Read a stream that only the listener writes to (one server's journal per stream)`,
  )
  return Object.assign(err, { retryable: false })
}

/** Reads the position headers of a message; throws ERR_JETSTREAM_MISMATCH when they are missing or malformed. */
export function readMessagePosition(headers: HeaderReader | undefined, where: string): MessagePosition {
  const text = headers?.get(Headers.position) ?? ''
  if (!text) throw bad(where, `has no ${Headers.position} header`)
  let p: JournalPosition
  let end: JournalPosition | null = null
  try {
    p = parsePosition(text)
    const endText = headers?.get(Headers.journalEnd) ?? ''
    if (endText) end = parsePosition(endText)
  } catch {
    throw bad(where, `has a malformed ${Headers.position} or ${Headers.journalEnd} header`)
  }
  const lineText = headers?.get(Headers.line) ?? ''
  const line = lineText ? Number(lineText) : 0
  if (!Number.isSafeInteger(line) || line < 0) throw bad(where, `has a malformed ${Headers.line} header`)
  const id = headers?.get(Headers.msgId) ?? ''
  const colon = id.lastIndexOf(':')
  return {
    journal: p.journal,
    offset: p.offset,
    line,
    journalEnd: end,
    consistent: headers?.get(Headers.consistent) === '1',
    server: colon > 0 ? id.slice(0, colon) : null,
  }
}
