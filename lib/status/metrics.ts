import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { HealthState, StatusSnapshot } from './status-snapshot.js'
import type { StatusTracker } from './status-tracker.js'

export interface MetricsOptions {
  /** Registry to add the metrics to. Default: a new one (never prom-client's global registry). */
  registry?: Registry
  /** Add prom-client's default process metrics (CPU, memory, event loop, …). Default true. */
  defaultMetrics?: boolean
  /** Metric name prefix. Default `logdaemon_`. */
  prefix?: string
}

const HEALTH_STATES: readonly HealthState[] = ['Failed', 'Retrying', 'Behind', 'Reading', 'Caught up']

type ListenerKey = 'handled' | 'skipped' | 'retries' | 'errors'

/** One snapshot per scrape: every metric of a scrape reads it, then it is dropped. */
function scrapeSnapshot(tracker: StatusTracker): () => StatusSnapshot {
  let cached: StatusSnapshot | undefined
  return () => {
    if (cached === undefined) {
      cached = tracker.snapshot()
      setImmediate(() => {
        cached = undefined
      })
    }
    return cached
  }
}

/** A gauge read from the snapshot at scrape time; an unknown (null) value is left out rather than shown as 0. */
class SnapshotGauge extends Gauge {
  readonly #read: () => number | null

  constructor(registry: Registry, name: string, help: string, read: () => number | null) {
    super({ name, help, registers: [registry] })
    this.#read = read
  }

  override async get(): ReturnType<Gauge['get']> {
    const value = this.#read()
    this.reset()
    if (value !== null) this.set(value)
    const metric = await super.get()
    return value === null ? { ...metric, values: [] } : metric
  }
}

/** The journal (0) or offset (1) of an `N/offset` text. */
const positionPart = (text: string | null, part: 0 | 1): number | null => (text === null ? null : Number(text.split('/')[part]))

/**
 * Prometheus metrics for a StatusTracker, all read from it at scrape time
 * (nothing is counted twice). Names (with the default prefix):
 *
 * - `logdaemon_entries_total`, `logdaemon_errors_total`, `logdaemon_retries_total`
 * - `logdaemon_listener_handled_total`, `_skipped_total`, `_retries_total`,
 *   `_errors_total`, labelled `listener`
 * - `logdaemon_read_journal`, `logdaemon_read_offset_bytes` (end of the last entry read)
 * - `logdaemon_committed_journal`, `logdaemon_committed_offset_bytes`
 * - `logdaemon_live_journal`, `logdaemon_live_journal_size_bytes`, `logdaemon_lag_bytes`
 * - `logdaemon_lag_seconds`, `logdaemon_uncommitted_bytes`, `logdaemon_catch_up_percent`,
 *   `logdaemon_catch_up_seconds_left`, `logdaemon_health{state}` (1 for the current state)
 * - `logdaemon_listener_acknowledged_journal`, `_acknowledged_offset_bytes`, labelled `listener`
 * - `logdaemon_entries_per_second` (10 s average), `logdaemon_quiet` (0 or 1),
 *   `logdaemon_uptime_seconds`, `logdaemon_last_rotation_timestamp_seconds`
 *
 * Gauges whose value is unknown (no commit yet, lag while catching up) have
 * no sample. Plus prom-client's default process metrics, same prefix.
 */
export function createMetricsRegistry(tracker: StatusTracker, options: MetricsOptions = {}): Registry {
  const registry = options.registry ?? new Registry()
  const prefix = options.prefix ?? 'logdaemon_'
  const snap = scrapeSnapshot(tracker)

  const total = (name: string, help: string, read: (s: StatusSnapshot) => number): void => {
    const counter: Counter = new Counter({
      name: prefix + name,
      help,
      registers: [registry],
      collect() {
        counter.reset()
        counter.inc(read(snap()))
      },
    })
  }
  total('entries_total', 'Journal entries read since the daemon started.', (s) => s.entriesTotal)
  total('errors_total', "Errors: listener failures after their retries ran out, and the daemon's own.", (s) => s.errors)
  total('retries_total', 'Listener attempts that failed and were retried.', (s) => s.retries)

  const perListener = (key: ListenerKey, help: string): void => {
    const counter: Counter<'listener'> = new Counter({
      name: `${prefix}listener_${key}_total`,
      help,
      labelNames: ['listener'],
      registers: [registry],
      collect() {
        counter.reset()
        for (const l of snap().listeners) counter.inc({ listener: l.name }, l[key])
      },
    })
  }
  perListener('handled', 'Entries the listener has finished.')
  perListener('skipped', 'Entries the listener declined (isHandled returned false).')
  perListener('retries', 'Failed attempts of the listener that were retried.')
  perListener('errors', 'Failures of the listener after its retries ran out.')

  const gauge = (name: string, help: string, read: (s: StatusSnapshot) => number | null): void => {
    new SnapshotGauge(registry, prefix + name, help, () => read(snap()))
  }
  gauge('read_journal', 'Journal number of the last entry read.', (s) => positionPart(s.position, 0))
  gauge('read_offset_bytes', 'Byte offset just past the last entry read.', (s) => positionPart(s.position, 1))
  gauge('committed_journal', 'Journal number of the last committed position.', (s) => positionPart(s.committed, 0))
  gauge('committed_offset_bytes', 'Byte offset of the last committed position.', (s) => positionPart(s.committed, 1))
  gauge('live_journal', 'Number of the live journal.', (s) => s.liveJournal.number)
  gauge('live_journal_size_bytes', 'Size of the live journal.', (s) => s.liveJournal.size)
  gauge('lag_bytes', 'Bytes on disk after the read position, archives included (gz by their ISIZE trailer).', (s) => s.lagBytes)
  gauge('entries_per_second', 'Entries read per second, averaged over the last 10 seconds.', (s) => s.entriesPerSecond)
  gauge('quiet', '1 while the journal is quiet (no entries for the quiet period), else 0.', (s) => (s.quiet ? 1 : 0))
  gauge('uptime_seconds', 'Seconds since the daemon started.', (s) => s.uptimeSeconds)
  gauge('last_rotation_timestamp_seconds', 'When the last journal rotation was seen, in Unix seconds.', (s) =>
    s.lastRotation === null ? null : Date.parse(s.lastRotation.at) / 1000,
  )

  gauge('lag_seconds', 'Age of the oldest unread or uncommitted byte, in seconds (a lower bound).', (s) => s.lagSeconds)
  gauge('uncommitted_bytes', 'Bytes on disk after the committed position.', (s) => s.uncommittedBytes)
  gauge('catch_up_percent', 'Catch-up progress, 0-100 (absent when caught up).', (s) => s.catchUp?.percent ?? null)
  gauge(
    'catch_up_seconds_left',
    'Estimated seconds to catch up at the current read rate (absent when caught up or unknown).',
    (s) => s.catchUp?.secondsLeft ?? null,
  )

  const health: Gauge<'state'> = new Gauge({
    name: `${prefix}health`,
    help: 'The health state: 1 for the current one (Failed, Retrying, Behind, Reading, Caught up), 0 for the others.',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const now = snap().health
      for (const state of HEALTH_STATES) health.set({ state }, state === now ? 1 : 0)
    },
  })
  const acked = (part: 0 | 1, name: string, help: string): void => {
    const g: Gauge<'listener'> = new Gauge({
      name: prefix + name,
      help,
      labelNames: ['listener'],
      registers: [registry],
      collect() {
        g.reset()
        for (const l of snap().listeners) {
          const v = positionPart(l.acknowledged, part)
          if (v !== null) g.set({ listener: l.name }, v)
        }
      },
    })
  }
  acked(0, 'listener_acknowledged_journal', "Journal number of the listener's acknowledged position (listeners with the acknowledged() hook).")
  acked(1, 'listener_acknowledged_offset_bytes', "Byte offset of the listener's acknowledged position.")

  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix })
  return registry
}
