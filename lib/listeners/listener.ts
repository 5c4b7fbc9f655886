import type { JournalEntry } from '../journal/entry.js'
import type { JournalPosition } from '../position.js'

/** A minimal structured logger (pino's shape), so listeners need not import pino. */
export interface ListenerLogger {
  debug(obj: object | string, msg?: string): void
  info(obj: object | string, msg?: string): void
  warn(obj: object | string, msg?: string): void
  error(obj: object | string, msg?: string): void
}

/** What a listener is told when the daemon opens it. */
export interface ListenerContext {
  /** The position the daemon resumes from (entries at or after it will follow), or null when unknown. */
  readonly start: JournalPosition | null
  /**
   * Whether `start` is a consistency point the daemon saved after a
   * transaction marker (`@ex@`): the journal has markers, though the
   * listener has read none yet (the records after it may be half a
   * transaction p4d is still writing). Absent or false: not known.
   */
  readonly startsAfterMarker?: boolean
  /**
   * Where the journal before `start` ended (its number and length), when
   * `start` is the start of a journal (N/0) resumed from the state file,
   * as the state recorded it. A listener that checks the continuity of
   * positions across journals (jetstream) takes the step from there over
   * journals that hold no record. Absent: not known.
   */
  readonly previousEnd?: JournalPosition
  readonly logger: ListenerLogger
  /** Aborted when the daemon stops: long waits inside a listener should end. */
  readonly signal: AbortSignal
}

/**
 * A journal listener, the original logDaemon's API. The daemon calls, in
 * journal order and one at a time:
 *
 * - `isHandled(entry)`: should this listener see the entry?
 * - `listen(entry)`: handle it (may be async; a rejection is retried with backoff);
 * - `noData(hadData)`: after a quiet period; `hadData` is true on the first
 *   call after activity and false on the following quiet calls;
 * - `sync(position)`: make everything up to `position` durable (fsync,
 *   remote acknowledgement): the daemon commits `position` only after every
 *   listener's `sync` has resolved. A listener that cannot make exactly
 *   `position` durable yet without making later records durable too (a
 *   database transaction that already holds them) returns the earlier
 *   position it has made durable: the daemon then commits no later;
 * - `close()`: once, at shutdown, after the last `sync`.
 */
export interface Listener {
  /** Names the listener in logs, errors and the status page. */
  readonly name: string
  open?(context: ListenerContext): void | Promise<void>
  isHandled(entry: JournalEntry): boolean
  listen(entry: JournalEntry): void | Promise<void>
  noData(hadData: boolean): void | Promise<void>
  // biome-ignore lint/suspicious/noConfusingVoidType: listeners written as `async sync(): Promise<void>` must still fit
  sync?(position: JournalPosition): void | JournalPosition | Promise<void | JournalPosition>
  close(): void | Promise<void>
  /**
   * Optional, for the status page: how far this listener's destination has
   * durably taken the journal, as `N/offset` (every byte of journal N before
   * `offset` is there: the mirror's synced length, the standby's acknowledged
   * size, a database's stored position), or null while unknown. Called when
   * the status is read, so it must be cheap and must not throw; it reports
   * what the listener already knows and never asks its peer.
   */
  acknowledged?(): string | null
}

/** Sensible defaults: handles every entry, does nothing when quiet, nothing to close. */
export abstract class BaseListener implements Listener {
  readonly name: string

  constructor(name?: string) {
    this.name = name ?? this.constructor.name
  }

  isHandled(_entry: JournalEntry): boolean {
    return true
  }

  abstract listen(entry: JournalEntry): void | Promise<void>

  noData(_hadData: boolean): void | Promise<void> {}

  close(): void | Promise<void> {}
}

/**
 * The module form of a custom listener, loaded by specifier or path from the
 * configuration: the module's default export (or its `createListener`
 * export) is called with the listener's options from the configuration.
 */
export type ListenerFactory = (options: Record<string, unknown>, context: { name: string }) => Listener | Promise<Listener>

/** Whether a value has the listener methods. */
export function isListener(value: unknown): value is Listener {
  if (typeof value !== 'object' || value === null) return false
  const v = value as Record<string, unknown>
  return typeof v.isHandled === 'function' && typeof v.listen === 'function'
}
