// logdaemon/daemon: the daemon, its configuration and the built-in listeners (re-exports only).

export { Daemon, type DaemonOptions } from './daemon.js'
export { loadConfig, parseConfig, configSchema, DEFAULT_STATUS_PORT, type ConfigInput, type DaemonConfig, type ListenerConfig } from './config.js'
export { loadListener, checkListenerModule, type ListenerModuleRef, type LoadListenerOptions } from '../listeners/load-listener.js'
export { BUILTIN_LISTENER_TYPES, type BuiltinListenerType } from '../listeners/builtin/index.js'
export { MirrorListener, type MirrorOptions } from '../listeners/builtin/mirror/mirror.js'
export { PrintListener, type PrintOptions } from '../listeners/builtin/print/print.js'
export { HotBackupListener, type HotBackupOptions, type HotBackupInput } from '../listeners/builtin/hot-backup/hot-backup.js'
export {
  NotifyListener,
  verifySignature,
  type NotifyOptions,
  type NotifyInput,
  type ChangePayload,
  type SubmittedChange,
  type ChangeFile,
} from '../listeners/builtin/notify/notify.js'
export { SqlListener, type SqlOptions } from '../listeners/builtin/sql/sql.js'
export { sqlLoad, type SqlLoadOptions, type SqlLoadSummary } from '../cli/sql-load.js'
export { JetStreamListener, type JetStreamListenerOptions } from '../listeners/builtin/jetstream/jetstream.js'
