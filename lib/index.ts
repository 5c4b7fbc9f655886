// The public API of logdaemon: re-exports only.

// errors
export { ErrorCodes, LogdaemonError, isLogdaemonError, formatWhere, type ErrorCode, type ErrorWhere } from './errors.js'

// the format: bytes <-> entries
export { JournalEntry, isDataOp, type EntryPosition, type FieldEncoding, type JournalEntryOptions } from './journal/entry.js'
export { JournalFramer, DEFAULT_MAX_ENTRY_BYTES, type FramerOptions, type RecordSink, type SkipReport } from './journal/framer.js'
export { JournalEntryTransform, type JournalEntryTransformOptions } from './journal/journal-entry-transform.js'
export { createJournalReader, type JournalReaderOptions } from './journal/read-journal.js'
export { encodeEntry, encodeRecord, quoteValue, type FieldValue, type RecordSpec } from './journal/encoder.js'
export { parsePosition, formatPosition, comparePositions, type JournalPosition } from './journal/position.js'
export { createEntryFilter, type EntryFilterOptions } from './journal/entry-filter.js'
export { entryToJson, entryToJsonLine, type EntryJson } from './journal/entry-json.js'

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
export { BUILTIN_LISTENERS, BUILTIN_LISTENER_TYPES, type BuiltinListenerModule, type BuiltinContext, type BuiltinListenerType } from './listeners/builtin.js'
export { MirrorListener, type MirrorOptions } from './listeners/mirror.js'
export { PrintListener, type PrintOptions } from './listeners/print.js'
export { HotBackupListener } from './listeners/hot-backup.js'
export { NotifyListener } from './listeners/notify.js'

// the daemon
export { Daemon, createListeners, createLogger, type DaemonOptions } from './daemon/daemon.js'
export { loadConfig, parseConfig, configSchema, formatIssues, DEFAULT_STATUS_PORT, type ConfigInput, type DaemonConfig, type ListenerConfig } from './daemon/config.js'
export { initConfig, renderInitConfig, guessStart, DEFAULT_CONFIG_FILE, type InitInfo, type InitOptions } from './daemon/init.js'
export { checkConfig, type CheckReport } from './daemon/check.js'
export { runDemo, type DemoOptions, type DemoSummary } from './daemon/demo.js'
export { StatusTracker } from './daemon/status-tracker.js'
export { StatusServer } from './daemon/status-server.js'

// a simulated server, for demos and tests of your own listeners
export { SimulatedP4d, type SimulatedP4dOptions, type RotateMode } from './sim/simulated-p4d.js'
export { RecordGenerator } from './sim/record-generator.js'
