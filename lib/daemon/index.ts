// logdaemon/daemon: the daemon, its configuration and the built-in listeners.

export { BUILTIN_LISTENERS, BUILTIN_LISTENER_TYPES, type BuiltinListenerModule, type BuiltinContext, type BuiltinListenerType } from '../listeners/builtin/index.js'
export { MirrorListener, type MirrorOptions } from '../listeners/builtin/mirror/mirror.js'
export { PrintListener, type PrintOptions } from '../listeners/builtin/print/print.js'
export { HotBackupListener } from '../listeners/builtin/hot-backup/hot-backup.js'
export { NotifyListener } from '../listeners/builtin/notify/notify.js'
export { Daemon, createListeners, createLogger, type DaemonOptions } from './daemon.js'
export { loadConfig, parseConfig, configSchema, formatIssues, DEFAULT_STATUS_PORT, type ConfigInput, type DaemonConfig, type ListenerConfig } from './config.js'
export { initConfig, renderInitConfig, guessStart, DEFAULT_CONFIG_FILE, type InitInfo, type InitOptions } from '../cli/init.js'
export { checkConfig, type CheckReport } from '../cli/check.js'
export { runDemo, type DemoOptions, type DemoSummary } from '../cli/demo.js'
export { StatusTracker } from '../status/status-tracker.js'
export { StatusServer } from '../status/status-server.js'
