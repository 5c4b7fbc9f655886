// The public API of logdaemon: re-exports only.

// errors
export { ErrorCodes, LogdaemonError, isLogdaemonError, formatWhere, type ErrorCode, type ErrorWhere } from './errors.js'

// the format: bytes <-> entries
export { JournalEntry, isDataOp, type EntryPosition, type FieldEncoding, type JournalEntryOptions } from './journal/entry.js'
export { JournalFramer, DEFAULT_MAX_ENTRY_BYTES, type FramerOptions, type RecordSink, type SkipReport } from './journal/framer.js'
export { JournalEntryTransform, type JournalEntryTransformOptions } from './journal/journal-entry-transform.js'
export { createJournalReader, type JournalReaderOptions } from './journal/read-journal.js'
export { encodeEntry, encodeRecord, quoteValue, type FieldValue, type RecordSpec } from './journal/encoder.js'
export { parsePosition, formatPosition, comparePositions, type JournalPosition } from './position.js'
export { createEntryFilter, type EntryFilterOptions } from './journal/entry-filter.js'
export { entryToJson, entryToJsonLine, type EntryJson } from './journal/entry-json.js'

// what records mean: layouts, keys, types, releases
export { layoutOf, layoutsOf, schemaTables, tableVersions, type Layout, type Column, type ColumnKind } from './schema/layout.js'
export { nameRow, keyOf, type NamedRow, type Row } from './schema/row.js'
export { typedValue, isExactInteger, positionalName, type RowValue } from './schema/typed-value.js'
export { releaseRange, releasesOf, documentedReleases, type ReleaseRange, type TableVersion } from './schema/releases.js'
export { dateOf, isoDate, isDateColumn } from './schema/dates.js'
export { flagName, flagNames, changeStatusNames } from './schema/flags.js'
export { SCHEMA_SOURCE } from './schema/p4-schema-data.js'

// where journals live on disk
export { createGunzip, maybeGunzip, isGzip, inflaterName, type GunzipOptions, type InflaterChoice, type InflaterName } from './files/gunzip.js'
export { journalNumberOf, liveJournalPath, archiveCandidates, type JournalLayout } from './files/journal-name.js'
export { describeJournalChain, type JournalChain, type ArchivedJournal, type ArchiveFile } from './files/journal-set.js'

// following
export { RotatingJournalSource } from './source/rotating-journal-source.js'
export type { RotatingJournalSourceOptions, RotateEvent, SourceStatus, SourceSkipReport, RotationMode, StartPoint } from './source/source-options.js'

// listeners
export { BaseListener, isListener, type Listener, type ListenerContext, type ListenerFactory, type ListenerLogger } from './listeners/listener.js'
export { ListenerWritable, DEFAULT_RETRY, type ListenerWritableOptions, type ListenerObserver, type RetryOptions } from './listeners/listener-writable.js'
export { ListenerChain, type ListenerChainOptions, type ListenerSpec, type ChainObserver } from './listeners/listener-chain.js'
export { loadListener, checkListenerModule, withName, type ListenerModuleRef, type LoadListenerOptions } from './listeners/load-listener.js'
