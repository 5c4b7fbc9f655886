/**
 * The scenarios the runner knows, in table order. Each is a script in
 * dist/benchmarks/ run in a fresh `node` process (see scenario.ts); this
 * says which input it gets and how its numbers are read.
 */

/** `baseline`: what a user would otherwise use; `ours`: logdaemon's code. */
export type ScenarioKind = 'baseline' | 'ours'

/**
 * What the runner passes as the scenario's input: the plain checkpoint,
 * its gzip form (with `--plain FILE`, the same bytes uncompressed), a
 * server root whose journal.1 is the checkpoint and whose live journal is
 * empty (`root`), a server root whose live `journal` is the checkpoint and
 * which has no archives (`live`), or an empty scratch directory (follow
 * latency writes its own journal there).
 */
export type InputKind = 'plain' | 'gz' | 'root' | 'live' | 'scratch'

/**
 * Which data sets a scenario runs on: `all` (default), every profile at
 * every size; `small`, every profile at the smallest size only (the
 * expensive SQL and JetStream runs: what they measure does not change
 * with size, and at 1 GiB they would take most of the run); `once`, the
 * first data set only (latency scenarios: their input is a scratch
 * directory, the same whatever the profile and size).
 */
export type ScenarioScope = 'all' | 'small' | 'once'

export interface ScenarioSpec {
  readonly name: string
  readonly kind: ScenarioKind
  readonly input: InputKind
  /** Script path relative to dist/benchmarks/. */
  readonly script: string
  /** `throughput` rows have MB/s and records/s; `latency` rows report in `extra`. */
  readonly measures: 'throughput' | 'latency'
  /**
   * What its count must agree with: `records`, the input's record count (all
   * framing scenarios); `lines`, the other line counters (LF-terminated
   * lines); `lines-cr`, nothing (readline also ends a line at a lone CR,
   * which values may hold); `none`, no count.
   */
  readonly counts: 'records' | 'lines' | 'lines-cr' | 'none'
  /** One line for docs/benchmarks.md and --list. */
  readonly about: string
  /**
   * Counts for the peak RSS bar (default true). False for the JetStream
   * scenarios: their process also runs a NATS client whose garbage V8 lets
   * grow (jetstream-publish peaks near 160 MB; with --max-old-space-size=48
   * it stays near 110 MB, somewhat slower); the bar is about reading the journal.
   */
  readonly rssBar?: boolean
  /** Default `all`. */
  readonly scope?: ScenarioScope
}

const s = (spec: Omit<ScenarioSpec, 'script'> & { script?: string }): ScenarioSpec => ({
  script: `scenarios/${spec.name}.js`,
  ...spec,
})

export const SCENARIOS: readonly ScenarioSpec[] = [
  s({
    name: 'indexof-newlines',
    kind: 'baseline',
    input: 'plain',
    measures: 'throughput',
    counts: 'lines',
    about: 'Buffer#indexOf finds every LF: the ceiling for framing in Node',
  }),
  s({
    name: 'split2-lines',
    kind: 'baseline',
    input: 'plain',
    measures: 'throughput',
    counts: 'lines',
    about: 'split2 splits the file into line strings (the bars are against this)',
  }),
  s({
    name: 'readline-lines',
    kind: 'baseline',
    input: 'plain',
    measures: 'throughput',
    counts: 'lines-cr',
    about: "node:readline's line events (a lone CR ends a line too)",
  }),
  s({
    name: 'gunzip-node-split2',
    kind: 'baseline',
    input: 'gz',
    measures: 'throughput',
    counts: 'lines',
    about: 'the .gz through node:zlib createGunzip, then split2',
  }),
  s({
    name: 'inflate-node-bare',
    kind: 'baseline',
    input: 'gz',
    measures: 'throughput',
    counts: 'none',
    about: "inflate only: node:zlib's createGunzip stream",
  }),
  s({
    name: 'inflate-zlib-sync-bare',
    kind: 'baseline',
    input: 'gz',
    measures: 'throughput',
    counts: 'none',
    about: 'inflate only: zlib-sync alone, no stream',
  }),
  s({
    name: 'framing',
    kind: 'ours',
    input: 'plain',
    measures: 'throughput',
    counts: 'records',
    about: 'JournalEntryTransform: entries with positions and raw bytes, no field decoded',
  }),
  s({
    name: 'framing-batch',
    kind: 'ours',
    input: 'plain',
    measures: 'throughput',
    counts: 'records',
    about: 'framing with { batch: true }: one array of entries per input chunk',
  }),
  s({
    name: 'framing-decode',
    kind: 'ours',
    input: 'plain',
    measures: 'throughput',
    counts: 'records',
    about: 'framing, then op, version, table and every field decoded',
  }),
  s({
    name: 'framing-parallel',
    kind: 'ours',
    input: 'plain',
    measures: 'throughput',
    counts: 'records',
    about: 'the file split into ranges framed by a worker pool and this thread (shareThisThread), boundaries reconciled, entries in order (lib/parallel)',
  }),
  s({
    name: 'for-await-floor',
    kind: 'baseline',
    input: 'plain',
    measures: 'throughput',
    counts: 'records',
    about: 'framing-batch, each batch walked by for await over a bare array iterator: the least any for await over entries costs',
  }),
  s({
    name: 'for-await-reader',
    kind: 'ours',
    input: 'plain',
    measures: 'throughput',
    counts: 'records',
    about: 'for await (const entry of createJournalReader(FILE)): the loop the README teaches',
  }),
  s({
    name: 'cat-raw',
    kind: 'ours',
    input: 'plain',
    measures: 'throughput',
    counts: 'records',
    about: 'logdaemon-cat --format raw FILE > /dev/null (the built bin, end to end)',
  }),
  s({
    name: 'cat-json',
    kind: 'ours',
    input: 'plain',
    measures: 'throughput',
    counts: 'records',
    about: 'logdaemon-cat --format json FILE > /dev/null (the built bin, end to end)',
  }),
  s({
    name: 'cat-row',
    kind: 'ours',
    input: 'plain',
    measures: 'throughput',
    counts: 'records',
    about: 'logdaemon-cat --format row FILE > /dev/null: columns named and typed by the schema',
  }),
  s({
    name: 'cat-json-1thread',
    kind: 'ours',
    input: 'plain',
    measures: 'throughput',
    counts: 'records',
    about: 'logdaemon-cat --format json --threads 1 FILE > /dev/null: the JSON writer on one thread (skipped while the bin has no --threads)',
  }),
  s({
    name: 'cat-raw-gz',
    kind: 'ours',
    input: 'gz',
    measures: 'throughput',
    counts: 'records',
    about:
      'logdaemon-cat --format raw FILE.gz > /dev/null, the default threads and inflater (ISA-L on the main thread, a worker framing chunks, where the addon is built): MB/s of the uncompressed bytes',
  }),
  s({
    name: 'cat-json-gz',
    kind: 'ours',
    input: 'gz',
    measures: 'throughput',
    counts: 'records',
    about: 'logdaemon-cat --format json FILE.gz > /dev/null, the default inflater',
  }),
  s({
    name: 'cat-raw-gz-node',
    kind: 'ours',
    input: 'gz',
    measures: 'throughput',
    counts: 'records',
    about: 'cat-raw-gz with LOGDAEMON_INFLATER=node-worker: node:zlib on the inflate worker, the default without the ISA-L addon',
  }),
  s({
    name: 'cat-raw-gz-zlib-sync',
    kind: 'ours',
    input: 'gz',
    measures: 'throughput',
    counts: 'records',
    about: 'cat-raw-gz with LOGDAEMON_INFLATER=zlib-sync: the optional native inflater, end to end',
  }),
  s({
    name: 'gunzip-zlib-sync',
    kind: 'ours',
    input: 'gz',
    measures: 'throughput',
    counts: 'records',
    about: 'the .gz through createGunzip (zlib-sync), then framing',
  }),
  s({
    name: 'gunzip-node',
    kind: 'ours',
    input: 'gz',
    measures: 'throughput',
    counts: 'records',
    about: 'the .gz through createGunzip (node:zlib), then framing',
  }),
  s({ name: 'inflate-zlib-sync', kind: 'ours', input: 'gz', measures: 'throughput', counts: 'none', about: 'inflate only: createGunzip with zlib-sync' }),
  s({ name: 'inflate-node', kind: 'ours', input: 'gz', measures: 'throughput', counts: 'none', about: 'inflate only: createGunzip with node:zlib' }),
  s({
    name: 'source-catch-up',
    kind: 'ours',
    input: 'root',
    measures: 'throughput',
    counts: 'records',
    about: 'RotatingJournalSource alone catching up through journal.1 (no state, no commits)',
  }),
  s({
    name: 'for-await-source',
    kind: 'ours',
    input: 'live',
    measures: 'throughput',
    counts: 'records',
    about: 'for await over a RotatingJournalSource catching up on a live journal that holds the checkpoint (no archives)',
  }),
  s({
    name: 'daemon-noop-listener',
    kind: 'ours',
    input: 'root',
    measures: 'throughput',
    counts: 'records',
    about: 'RotatingJournalSource → ListenerChain → one async no-op listener, committing',
  }),
  s({
    name: 'sqlite-insert-rows',
    scope: 'small',
    kind: 'baseline',
    input: 'plain',
    measures: 'throughput',
    counts: 'none',
    about: 'SQLite inserting the checkpoint rows already parsed (one transaction, keys after): the sql-load-sqlite bar',
  }),
  s({
    name: 'sql-load-sqlite',
    scope: 'small',
    kind: 'ours',
    input: 'plain',
    measures: 'throughput',
    counts: 'none',
    about: 'logdaemon sql load into SQLite: parse, map, prepared inserts, keys, views, position',
  }),
  s({
    name: 'postgres-copy-tsv',
    scope: 'small',
    kind: 'baseline',
    input: 'plain',
    measures: 'throughput',
    counts: 'none',
    about: 'PostgreSQL COPY FROM of the checkpoint rows already as TSV, then keys: the sql-load-postgres bar',
  }),
  s({
    name: 'sql-load-postgres',
    scope: 'small',
    kind: 'ours',
    input: 'plain',
    measures: 'throughput',
    counts: 'none',
    about: 'logdaemon sql load into PostgreSQL: parse, map, COPY, keys, views, position',
  }),
  s({
    name: 'sql-follow',
    scope: 'small',
    kind: 'ours',
    input: 'root',
    measures: 'throughput',
    counts: 'none',
    about: 'RotatingJournalSource → ListenerChain → sql listener (SQLite), a transaction per commit',
  }),
  s({
    name: 'jetstream-publish',
    scope: 'small',
    kind: 'ours',
    rssBar: false,
    input: 'root',
    measures: 'throughput',
    counts: 'records',
    about: 'RotatingJournalSource → ListenerChain → jetstream listener → nats-server on loopback, every record acknowledged (skipped without nats-server)',
  }),
  s({
    name: 'jetstream-latency',
    scope: 'once',
    kind: 'ours',
    rssBar: false,
    input: 'scratch',
    measures: 'latency',
    counts: 'none',
    about: "append to the live journal → publishing daemon → nats-server → consuming daemon's listener: p50/p99 (skipped without nats-server)",
  }),
  s({
    name: 'follow-latency',
    scope: 'once',
    kind: 'ours',
    input: 'scratch',
    script: 'follow-latency.js',
    measures: 'latency',
    counts: 'none',
    about: 'records appended to a live journal: append-to-listener latency p50/p99, CPU while idle',
  }),
]

export function findScenario(name: string): ScenarioSpec | undefined {
  return SCENARIOS.find((spec) => spec.name === name)
}

/** Whether `spec` runs on the data set at `sizeIndex` of its profile's sizes (0: smallest), `first` being the run's first data set. */
export function inScope(spec: ScenarioSpec, sizeIndex: number, first: boolean): boolean {
  const scope = spec.scope ?? 'all'
  return scope === 'all' || (scope === 'small' && sizeIndex === 0) || (scope === 'once' && first)
}
