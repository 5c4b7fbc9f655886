// logdaemon: the streaming library (re-exports only). The daemon, its
// configuration and the built-in listeners are in `logdaemon/daemon`; the
// simulated p4d in `logdaemon/sim`.

// errors
export { ErrorCodes, LogdaemonError, isLogdaemonError, type ErrorCode, type ErrorWhere, type LogdaemonErrorOptions } from './errors.js'

// positions
export { parsePosition, formatPosition, comparePositions, type JournalPosition } from './position.js'

// the format: bytes <-> entries
export { JournalEntry, isDataOp, type EntryPosition, type FieldEncoding, type JournalEntryOptions } from './journal/entry.js'
export { DEFAULT_MAX_ENTRY_BYTES, type SkipReport } from './journal/framer.js'
export { JournalEntryTransform, type JournalEntryTransformOptions } from './journal/journal-entry-transform.js'
export { createJournalReader, type JournalReaderOptions } from './journal/read-journal.js'
export { encodeEntry, encodeRecord, type FieldValue, type RecordSpec } from './journal/encoder.js'
export { createEntryFilter, type EntryFilterOptions, type WhereClause } from './journal/entry-filter.js'
export { entryToJson, type EntryJson } from './journal/entry-json.js'
export { entryToRowJson, type EntryRowJson } from './journal/entry-row.js'

// what records mean: layouts, keys, types, releases
export { layoutOf, layoutsOf, schemaTables, tableVersions, type Layout, type Column, type ColumnKind } from './schema/layout.js'
export { nameRow, type NamedRow, type Row } from './schema/row.js'
export { typedValue, type RowValue } from './schema/typed-value.js'
export { releaseRange, releasesOf, type ReleaseRange, type TableVersion } from './schema/releases.js'
export { dateOf, isoDate } from './schema/dates.js'
export { flagName, flagNames, changeStatusNames } from './schema/flags.js'

// where journals live on disk
export { createGunzip, maybeGunzip, type GunzipOptions } from './files/gunzip.js'
export { describeJournalChain, type JournalChain, type ArchivedJournal, type ArchiveFile } from './files/journal-set.js'
export type { JournalLayout } from './files/journal-name.js'

// following
export { RotatingJournalSource } from './source/rotating-journal-source.js'
export type { RotatingJournalSourceOptions, RotateEvent, SourceStatus, SourceSkipReport, RotationMode, StartPoint } from './source/source-options.js'
export {
  JetStreamJournalSource,
  type JetStreamJournalSourceOptions,
  type JetStreamStart,
  type JetStreamStateAhead,
} from './source/jetstream/jetstream-journal-source.js'

// listeners
export { BaseListener, isListener, type Listener, type ListenerContext, type ListenerFactory, type ListenerLogger } from './listeners/listener.js'
export { ListenerWritable, type ListenerWritableOptions, type ListenerObserver } from './listeners/listener-writable.js'
export { ListenerChain, type ListenerChainOptions, type ListenerSpec, type ChainObserver } from './listeners/listener-chain.js'
export { DEFAULT_RETRY, type RetryOptions } from './retry.js'
