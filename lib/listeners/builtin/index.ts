import type { z } from 'zod'
import type { Listener } from '../listener.js'

/** Where a built-in listener may resolve relative paths in its options. */
export interface BuiltinContext {
  /** The listener's name (from the configuration, or its type). */
  name: string
  /** Directory relative paths in the options are taken from: the configuration file's. Default: the working directory. */
  baseDir?: string
  /** The server the daemon reads (root, live journal, prefix), for listeners that read its files (review mode's checkpoint). */
  server?: { root: string; journal?: string; prefix?: string }
  /** The daemon's state file: listeners keep their own state beside it, named after it. */
  statePath?: string
  /**
   * Permission bits of the server's live journal, when known: files a
   * listener creates with journal content (the mirror's) take them, so they
   * are no more readable than the journal (it holds db.user rows).
   */
  journalMode?: number
}

/** What every built-in listener module exports. */
export interface BuiltinListenerModule {
  /** Its options, validated with the configuration (strict, with defaults). */
  optionsSchema: z.ZodType
  create(options: never, context: BuiltinContext): Listener | Promise<Listener>
}

/**
 * The built-in listeners by configuration `type`. Loaded on demand, so a
 * daemon that mirrors does not load the SMTP client.
 */
export const BUILTIN_LISTENERS = {
  mirror: () => import('./mirror/mirror.js'),
  print: () => import('./print/print.js'),
  'hot-backup': () => import('./hot-backup/hot-backup.js'),
  notify: () => import('./notify/notify.js'),
  sql: () => import('./sql/sql.js'),
  jetstream: () => import('./jetstream/jetstream.js'),
} satisfies Record<string, () => Promise<BuiltinListenerModule>>

export type BuiltinListenerType = keyof typeof BUILTIN_LISTENERS

export const BUILTIN_LISTENER_TYPES = Object.keys(BUILTIN_LISTENERS) as BuiltinListenerType[]

export function isBuiltinListenerType(type: string): type is BuiltinListenerType {
  return Object.hasOwn(BUILTIN_LISTENERS, type)
}

/** Loads a built-in listener's module. */
export async function loadBuiltin(type: BuiltinListenerType): Promise<BuiltinListenerModule> {
  return BUILTIN_LISTENERS[type]()
}
