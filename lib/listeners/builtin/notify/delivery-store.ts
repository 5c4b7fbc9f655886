import { isAbsolute, resolve } from 'node:path'
import { ErrorCodes, LogdaemonError } from '../../../errors.js'
import { writeFileAtomic } from '../../../files/atomic-write.js'
import { readTextIfExists } from '../../../files/if-exists.js'
import { DeliveryState, type DeliveryJson } from './delivery-state.js'
import type { JournalLayout } from '../../../files/journal-name.js'
import { formatPosition, type JournalPosition } from '../../../position.js'
import { liveJournalNumber } from '../../../source/start-point.js'

/** The delivery state file's shape (version 1): the delivery fields, and the server they belong to. */
export interface DeliveryStateJson extends DeliveryJson {
  readonly version: 1
  readonly kind: 'notify-delivery'
  /** The server root (P4ROOT) the state belongs to, or null. */
  readonly server: string | null
  /** The listener it belongs to (absent in files written before it was recorded). */
  readonly listener?: string
}

/** A delivery state and the server it belongs to, as read from its file. */
export interface StoredDelivery {
  readonly state: DeliveryState
  readonly server: string | null
  readonly listener: string | null
}

/**
 * Where a notify listener without `reviews` keeps what it delivered:
 * `deliveryState` (relative to the configuration's directory), else beside
 * the daemon's state file and named after it and the listener, so two
 * daemons (two servers) never share one; null (kept in memory only) when
 * neither is known (a listener made by library code, not by the daemon).
 */
export function deliveryStatePath(option: string | undefined, where: { baseDir: string; daemonState?: string | null; name: string }): string | null {
  if (option !== undefined) return isAbsolute(option) ? option : resolve(where.baseDir, option)
  // Every character a file name should not hold as its code, `%` included: two names never map to one file.
  const name = where.name.replace(/[^\w.-]/g, (c) => `%${(c.codePointAt(0) as number).toString(16)}`)
  if (where.daemonState) return `${where.daemonState.replace(/\.json$/, '')}.${name}-delivery.json`
  return null
}

/** Reads a delivery state file; null when it does not exist. Unreadable is an error, never silently replaced. */
export async function readDeliveryState(path: string): Promise<StoredDelivery | null> {
  const text = await readTextIfExists(path)
  if (text === null) return null
  const corrupt = (why: string) =>
    new LogdaemonError(
      ErrorCodes.STATE_CORRUPT,
      `notify: the delivery state file ${path} ${why}: restore it, or move it away (the listener then knows of no delivered change, ` +
        'and changes the daemon replays are sent again)',
      { file: path },
    )
  let json: Partial<DeliveryStateJson> | null
  try {
    json = JSON.parse(text) as Partial<DeliveryStateJson> | null
  } catch {
    // Never quote the file: a state path that points at another file must not echo its content.
    throw corrupt('is not valid JSON')
  }
  if (json === null || typeof json !== 'object' || json.version !== 1 || json.kind !== 'notify-delivery')
    throw corrupt('is not a notify delivery state (version 1)')
  try {
    const server = json.server ?? null
    if (server !== null && typeof server !== 'string') throw new TypeError('the server root is not a string')
    const listener = json.listener ?? null
    if (listener !== null && typeof listener !== 'string') throw new TypeError('the listener is not a string')
    return { state: DeliveryState.fromJSON(json as DeliveryStateJson), server, listener }
  } catch (err) {
    throw corrupt(`is not a notify delivery state (${(err as Error).message})`)
  }
}

/** Writes the state atomically and durably (temporary file, fsync, rename, fsync of the directory). */
export async function writeDeliveryState(path: string, state: DeliveryState, server: string | null, listener: string): Promise<void> {
  // Marked saved as the body is taken, not after the write: a change made while it is written is saved by the next call.
  const json: DeliveryStateJson = { version: 1, kind: 'notify-delivery', server, listener, ...state.toJSON() }
  const body = `${JSON.stringify(json)}\n`
  state.markSaved()
  try {
    await writeFileAtomic(path, body)
  } catch (err) {
    state.markDirty()
    throw err
  }
}

/**
 * ERR_STATE_MISMATCH for a notify state (`path`) that delivered through
 * `through` on a server whose live journal (liveJournalNumber) is now an
 * earlier one, or null: what the listener refuses at open
 * (#checkJournalNumbers) and `logdaemon check` reports as a problem.
 * Null too when the server's files do not say their number.
 */
export async function journalNumberMismatch(server: JournalLayout, through: JournalPosition | null, path: string): Promise<LogdaemonError | null> {
  if (through === null) return null
  const live = await liveJournalNumber(server)
  if (live === null || live.journal >= through.journal) return null
  return new LogdaemonError(
    ErrorCodes.STATE_MISMATCH,
    `notify: ${path} says changes were delivered through ${formatPosition(through)}, but the live journal of the server at ${server.root} ` +
      `is journal ${live.journal} (${live.why}): the server was reset or restored from an older checkpoint since, and the changes of its new ` +
      `journals would be taken for delivered and never sent. Move ${path} away and restart (the changes the daemon reads are then sent), ` +
      'or give the daemon the journals the state was saved from',
    { file: path, journal: through.journal, offset: through.offset, retryable: false },
  )
}
