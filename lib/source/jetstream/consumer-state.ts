import { writeFileAtomic } from '../../files/atomic-write.js'
import { JETSTREAM_STATE_FORMAT, readStateJson, STATE_FORMAT } from '../../files/state-file.js'
import { StateLock } from '../../files/state-lock.js'
import { ErrorCodes, LogdaemonError, toError } from '../../errors.js'
import { formatPosition, parsePosition, type JournalPosition } from '../../position.js'

const FORMAT = JETSTREAM_STATE_FORMAT
const VERSION = 1

/** Which consumer a state file belongs to. */
export interface ConsumerIdentity {
  readonly stream: string
  readonly durable: string
}

/** What the file records: the journal position the reader's listeners committed through, and when. */
export interface ConsumerSaved extends JournalPosition {
  /** When the stream it was read from was made (the stream's `created`), to say in a message that it was made again. */
  readonly streamCreated: string | null
  readonly savedAt: string
}

/**
 * A JetStream reader's own record, on its own host, of the journal
 * position its listeners committed through (the daemon keeps it beside its
 * `state`: consumerStatePath). Why: the consumer's acknowledgements, and
 * logdaemon's record of them (AckRecord), live in the nats-server's store
 * with the stream. When that store is lost, the publisher makes the stream
 * again from its own committed position, and a new durable consumer starts
 * at its first message with nothing to compare it with: a consumer that
 * was behind lost the records between, without an error. This file
 * survives that: reading goes on from its position, and the first record
 * must start there (ERR_JETSTREAM_GAP otherwise); the records up to it
 * that a new consumer is sent again are not handed out again.
 *
 * Saved (atomically, fsynced) before each acknowledgement, so it is never
 * behind what the consumer acknowledged. Locked (STATE.lock) while open:
 * one reader per file.
 */
export class ConsumerState {
  readonly path: string
  /** What the file held at open; null when there was none. */
  readonly saved: ConsumerSaved | null
  readonly #identity: ConsumerIdentity
  readonly #lock: StateLock
  #streamCreated: string | null

  private constructor(path: string, identity: ConsumerIdentity, lock: StateLock, saved: ConsumerSaved | null) {
    this.path = path
    this.#identity = identity
    this.#lock = lock
    this.saved = saved
    this.#streamCreated = saved?.streamCreated ?? null
  }

  /**
   * Takes the file's lock (ERR_LOCKED when another live process has it) and
   * reads it. ERR_STATE_CORRUPT when it cannot be read or makes no sense,
   * ERR_STATE_MISMATCH when it is another consumer's, or a state of the
   * journal files: never replaced silently, as it decides what is skipped.
   */
  static async open(path: string, identity: ConsumerIdentity): Promise<ConsumerState> {
    const lock = await StateLock.acquire(path)
    try {
      return new ConsumerState(path, identity, lock, await ConsumerState.read(path, identity))
    } catch (err) {
      await lock.release()
      throw err
    }
  }

  /** What the file at `path` holds (null: no file), without its lock: `logdaemon check`. Fails as `open` does. */
  static async read(path: string, identity: ConsumerIdentity): Promise<ConsumerSaved | null> {
    const data = await readStateJson(path, (what, cause) => corrupt(path, what, cause))
    return data === null ? null : validate(path, data, identity)
  }

  /** The stream's `created` as the reader found it at open: saved with each position. */
  set streamCreated(created: string | null) {
    this.#streamCreated = created
  }

  /** Records that the listeners committed through `p`; resolves once it is on disk. ERR_STATE_WRITE on failure. */
  async save(p: JournalPosition): Promise<void> {
    const body =
      JSON.stringify({
        format: FORMAT,
        version: VERSION,
        stream: this.#identity.stream,
        durable: this.#identity.durable,
        position: formatPosition(p),
        streamCreated: this.#streamCreated,
        savedAt: new Date().toISOString(),
      }) + '\n'
    try {
      await writeFileAtomic(this.path, body)
    } catch (err) {
      throw Object.assign(
        new LogdaemonError(
          ErrorCodes.STATE_WRITE,
          `${this.path}: cannot save the position ${formatPosition(p)} (${toError(err).message}); ` +
            'fix the disk or permissions, then restart: nothing past the last saved position was acknowledged',
          { file: this.path, journal: p.journal, offset: p.offset, cause: err },
        ),
        { retryable: false },
      )
    }
  }

  #closed = false

  /** Whether close() was called: the lock is given back, and nothing may be saved any more. */
  get closed(): boolean {
    return this.#closed
  }

  /** Gives the lock back. Idempotent. */
  close(): Promise<void> {
    this.#closed = true
    return this.#lock.release()
  }
}

function corrupt(path: string, what: string, cause?: unknown): LogdaemonError {
  return Object.assign(
    new LogdaemonError(
      ErrorCodes.STATE_CORRUPT,
      `state file ${path} ${what}: it was left as it is. Repair it, or move it away: the reader then goes on from ` +
        "the durable consumer's own acknowledgements, without the check this file gives against a nats-server that lost its store",
      { file: path, cause },
    ),
    { retryable: false },
  )
}

function validate(path: string, data: unknown, identity: ConsumerIdentity): ConsumerSaved {
  const record = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : null
  if (record?.format === STATE_FORMAT) {
    throw Object.assign(
      new LogdaemonError(
        ErrorCodes.STATE_MISMATCH,
        `state file ${path} is the state of a daemon that reads journal files, not of a JetStream reader: ` +
          'give this daemon its own state file (the `state` key)',
        { file: path },
      ),
      { retryable: false },
    )
  }
  if (record === null || record.format !== FORMAT) throw corrupt(path, `is not a ${FORMAT} file`)
  if (record.version !== VERSION) throw corrupt(path, `has version ${String(record.version)}; this logdaemon reads version ${VERSION}`)
  let position: JournalPosition
  try {
    position = parsePosition(typeof record.position === 'string' ? record.position : '')
  } catch (err) {
    throw corrupt(path, `has no valid position (${toError(err).message})`, err)
  }
  if (typeof record.stream !== 'string' || typeof record.durable !== 'string') throw corrupt(path, 'names no stream and durable consumer')
  if (record.stream !== identity.stream || record.durable !== identity.durable) {
    throw Object.assign(
      new LogdaemonError(
        ErrorCodes.STATE_MISMATCH,
        `state file ${path} is of durable consumer ${record.durable} of stream ${record.stream}, ` +
          `but this reader reads durable consumer ${identity.durable} of stream ${identity.stream}: ` +
          'give each its own state file, or move this one away if the consumer was renamed',
        { file: path },
      ),
      { retryable: false },
    )
  }
  const streamCreated = typeof record.streamCreated === 'string' ? record.streamCreated : null
  const savedAt = typeof record.savedAt === 'string' ? record.savedAt : ''
  return { ...position, streamCreated, savedAt }
}
