import { setTimeout as sleep } from 'node:timers/promises'
import { RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'
import { ErrorCodes, LogdaemonError } from '../../errors.js'
import { currentHolder, liveness, parseHolder, type LockHolder } from '../../files/state-lock.js'

/** The stream that holds one lock message per durable consumer in use. */
export const LOCK_STREAM = 'LOGDAEMON_LOCKS'

/** Subjects of the lock stream: `logdaemon.lock.STREAM.DURABLE` (neither name may hold a dot). */
const LOCK_SUBJECTS = 'logdaemon.lock.>'

/**
 * How long a lock lives without being renewed: the max age the lock stream
 * is created with (an existing stream's own max age is used instead). A
 * holder renews it three times as often, so a holder is judged dead only
 * after missing three renewals; a new reader that finds a holder it cannot
 * check (another host or PID namespace) waits this long at most.
 */
export const LOCK_TTL_MS = 15_000

/** JetStream's "wrong last sequence" error: another process wrote the lock first. */
const WRONG_LAST_SEQUENCE = 10071

export interface DurableLockSpec {
  readonly stream: string
  readonly durable: string
  /** Replicas of the lock stream when it is created (the data stream's). */
  readonly replicas: number
  /** Called when the lock is found taken by another process while held (it expired unrenewed): the reader must stop. */
  readonly onLost: (err: LogdaemonError) => void
  readonly signal: AbortSignal
}

function lockedError(spec: { stream: string; durable: string }, h: LockHolder, why: string): LogdaemonError {
  const who = `process ${h.pid} (${h.command} on ${h.host}, since ${h.since})`
  return Object.assign(
    new LogdaemonError(
      ErrorCodes.LOCKED,
      `durable consumer ${spec.durable} of stream ${spec.stream} is in use by ${who}${why}: two readers sharing one durable consumer would ` +
        'each get part of the records and acknowledge the other\'s. Stop that reader first, or give this one its own "durable" name',
      { details: { stream: spec.stream, durable: spec.durable, pid: h.pid, host: h.host, command: h.command, since: h.since } },
    ),
    { retryable: false },
  )
}

function isWrongLastSequence(err: unknown): boolean {
  const e = err as { api_error?: { err_code?: unknown }; code?: unknown; message?: unknown }
  return e.api_error?.err_code === WRONG_LAST_SEQUENCE || (typeof e.message === 'string' && /wrong last sequence/i.test(e.message))
}

/**
 * One reader per durable consumer. JetStream lets any number of clients
 * pull from one durable consumer, each then getting part of the records
 * and acknowledging (AckPolicy All) records the others have not processed;
 * and the server's own view (pending pull requests, `num_waiting`) is empty
 * whenever a reader is between pulls, so it cannot tell. The lock is a
 * lease in a small stream of the same server (`LOGDAEMON_LOCKS`, one
 * message per subject, max age {@link LOCK_TTL_MS}): taken by publishing
 * with "expected last subject sequence" (compare and set), renewed the same
 * way, and gone when its holder stops renewing it.
 *
 * A lock found held: a holder on this host and PID namespace is checked by
 * pid and start time (as STATE.lock), so a reader killed with `kill -9`
 * is replaced at once; any other holder is alive unless it stops renewing
 * within the max age, which this reader waits for. A lock that expired
 * while its holder could not reach the server (a partition longer than the
 * max age) may be taken by another reader; the first holder finds out at
 * its next renewal and stops (`onLost`).
 */
export class DurableLock {
  readonly #jsm: JetStreamManager
  readonly #js: JetStreamClient
  readonly #spec: DurableLockSpec
  readonly #subject: string
  readonly #holder: LockHolder
  readonly #data: string
  #seq = 0
  #ttlMs = LOCK_TTL_MS
  #timer: NodeJS.Timeout | null = null
  #released = false

  private constructor(jsm: JetStreamManager, js: JetStreamClient, spec: DurableLockSpec) {
    this.#jsm = jsm
    this.#js = js
    this.#spec = spec
    this.#subject = `logdaemon.lock.${spec.stream}.${spec.durable}`
    this.#holder = currentHolder(undefined, null)
    this.#data = JSON.stringify({ format: 'logdaemon-lock', ...this.#holder })
  }

  /** Takes the lock of `spec.durable`, or rejects with ERR_LOCKED (not retryable) naming the holder. */
  static async acquire(jsm: JetStreamManager, js: JetStreamClient, spec: DurableLockSpec): Promise<DurableLock> {
    const lock = new DurableLock(jsm, js, spec)
    lock.#ttlMs = await lock.#ensureStream()
    await lock.#take()
    lock.#timer = setInterval(() => void lock.#renew(), lock.#ttlMs / 3)
    lock.#timer.unref()
    return lock
  }

  /** Removes the lock if it is still this one. Idempotent; never fails. */
  async release(): Promise<void> {
    if (this.#released) return
    this.#released = true
    if (this.#timer) clearInterval(this.#timer)
    try {
      const cur = await this.#current()
      if (cur && cur.seq === this.#seq) await this.#jsm.streams.purge(LOCK_STREAM, { filter: this.#subject })
    } catch {
      // The lease ends by itself within LOCK_TTL_MS.
    }
  }

  /** Creates the lock stream when missing; returns its max age in ms (the lease's length). */
  async #ensureStream(): Promise<number> {
    try {
      const info = await this.#jsm.streams.info(LOCK_STREAM)
      return info.config.max_age > 0 ? Math.max(1000, Math.round(info.config.max_age / 1e6)) : LOCK_TTL_MS
    } catch (err) {
      if ((err as { name?: unknown }).name !== 'StreamNotFoundError') throw err
    }
    // Two readers creating it at once both succeed: the server takes an identical configuration again.
    await this.#jsm.streams.add({
      name: LOCK_STREAM,
      subjects: [LOCK_SUBJECTS],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      max_msgs_per_subject: 1,
      max_age: nanos(LOCK_TTL_MS),
      num_replicas: this.#spec.replicas,
    })
    return LOCK_TTL_MS
  }

  /** The lock message there now, or null (the client answers null for "no message found"). */
  async #current(): Promise<StoredMsg | null> {
    return this.#jsm.streams.getMessage(LOCK_STREAM, { last_by_subj: this.#subject })
  }

  /** Publishes this holder over `expected` (0: no lock there); false when someone else wrote first. */
  async #write(expected: number): Promise<boolean> {
    try {
      const ack = await this.#js.publish(this.#subject, this.#data, { expect: { lastSubjectSequence: expected } })
      this.#seq = ack.seq
      return true
    } catch (err) {
      if (isWrongLastSequence(err)) return false
      throw err
    }
  }

  async #take(): Promise<void> {
    const spec = this.#spec
    for (;;) {
      spec.signal.throwIfAborted()
      const cur = await this.#current()
      if (!cur) {
        if (await this.#write(0)) return
        continue
      }
      const h = parseHolder(new TextDecoder().decode(cur.data))
      if (h === null) {
        if (await this.#write(cur.seq)) return // not a logdaemon lock: ours now
        continue
      }
      const verdict = await liveness(h)
      if (verdict === 'alive') throw lockedError(spec, h, '')
      if (verdict === 'dead') {
        if (await this.#write(cur.seq)) return
        continue
      }
      // Another host or PID namespace: alive while it renews. Watch the lock for one max age.
      const renewed = await this.#watch(cur.seq)
      if (renewed) throw lockedError(spec, h, `, which renewed its lock within ${this.#ttlMs / 1000} s`)
    }
  }

  /** Whether the lock at `seq` is renewed (a newer message by its holder) before it expires. */
  async #watch(seq: number): Promise<boolean> {
    const end = Date.now() + this.#ttlMs + 1000
    while (Date.now() < end) {
      await sleep(Math.min(1000, this.#ttlMs / 6), undefined, { signal: this.#spec.signal })
      const cur = await this.#current()
      if (!cur) return false
      if (cur.seq !== seq) return true
    }
    return false
  }

  async #renew(): Promise<void> {
    if (this.#released) return
    try {
      if (await this.#write(this.#seq)) return
      // Not ours any more: expired while the server could not be reached (taken again if nobody has it), or taken.
      const cur = await this.#current()
      if (cur === null) {
        await this.#write(0)
        return
      }
      const h = parseHolder(new TextDecoder().decode(cur.data))
      if (h?.nonce === this.#holder.nonce) {
        this.#seq = cur.seq // our last renewal was stored, its acknowledgement lost
        return
      }
      if (this.#released) return
      this.#released = true
      if (this.#timer) clearInterval(this.#timer)
      const thief = h ?? { ...this.#holder, pid: 0, command: 'something that is not logdaemon', host: 'an unknown host', since: 'unknown' }
      this.#spec.onLost(lockedError(this.#spec, thief, ' (it took the lock after this reader failed to renew it in time)'))
    } catch {
      // The server cannot be reached now: renewed at the next tick, if the lease has not expired meanwhile.
    }
  }
}
