import { STALLED, unlessStalled } from '../stalled.js'
import { type Stats, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { ErrorCodes, LogdaemonError, toError } from '../errors.js'
import { isListener, type Listener, type ListenerFactory } from './listener.js'

/** A custom listener as the configuration gives it: a module specifier or path, or (in a JS configuration) the factory or listener itself. */
export type ListenerModuleRef = string | ListenerFactory | Listener

export interface LoadListenerOptions {
  /** The name the listener gets (from the configuration). */
  name: string
  /** Options from the configuration, passed to the factory. Default `{}`. */
  options?: Record<string, unknown>
  /** Relative paths and bare specifiers resolve from here: the configuration file's directory. Default: the working directory. */
  baseDir?: string
}

function loadError(module: string, why: string, cause?: unknown): LogdaemonError {
  return new LogdaemonError(ErrorCodes.LISTENER_LOAD, `listener module ${module} ${why}`, { cause, details: { module } })
}

/** `./x.js`, `../x.mjs`, `/abs/x.js`, or a Windows-style absolute path: a file, not a package. */
function isPath(spec: string): boolean {
  return spec.startsWith('./') || spec.startsWith('../') || spec === '.' || isAbsolute(spec)
}

/** Where `import()` should load `spec` from: a file URL for paths, the package's resolved file for bare names. */
function resolveSpecifier(spec: string, baseDir: string): string {
  if (spec.startsWith('file:')) return spec
  if (isPath(spec)) return pathToFileURL(resolve(baseDir, spec)).href
  try {
    // Resolve the package from the configuration's directory, as a user expects of a name there.
    return pathToFileURL(createRequire(join(baseDir, 'noop.js')).resolve(spec)).href
  } catch {
    // ESM-only packages without a `require` condition: let import() resolve them from here.
    return spec
  }
}

function isClass(fn: unknown): fn is new (options: Record<string, unknown>, context: { name: string }) => Listener {
  return typeof fn === 'function' && /^class[\s{]/.test(Function.prototype.toString.call(fn))
}

/**
 * Makes a listener from a module's exports: `createListener`, else the
 * default export, else `listener`; each may be a factory function
 * `(options, { name }) => Listener | Promise<Listener>`, a listener class
 * (constructed with the same arguments), or a listener object.
 */
async function fromExport(value: unknown, options: Record<string, unknown>, name: string, module: string): Promise<Listener> {
  let made: unknown
  try {
    if (isClass(value)) made = new value(options, { name })
    else if (typeof value === 'function') made = await unlessStalled(Promise.resolve((value as ListenerFactory)(options, { name })))
    else made = value
  } catch (err) {
    throw loadError(module, `failed to create the listener "${name}": ${toError(err).message}`, err)
  }
  if (made === STALLED) throw loadError(module, `never created the listener "${name}": the promise its factory returned never settles (${NOTHING_LEFT})`)
  if (!isListener(made)) {
    throw loadError(module, `did not produce a listener for "${name}": the factory must return an object with isHandled() and listen()`)
  }
  return withName(made, name)
}

/**
 * The listener as given, or a view of it: with the configured name when its
 * own differs, and with `noData` and `close` that do nothing when it has
 * none (a module's listener needs only `isHandled` and `listen`; without
 * them it failed the first quiet period or the stop with "l.close is not a
 * function").
 */
export function withName(listener: Listener, name: string): Listener {
  if (listener.name === name && typeof listener.noData === 'function' && typeof listener.close === 'function') return listener
  const view: Listener = {
    name,
    isHandled: (e) => listener.isHandled(e),
    listen: (e) => listener.listen(e),
    noData: (hadData) => (typeof listener.noData === 'function' ? listener.noData(hadData) : undefined),
    close: () => (typeof listener.close === 'function' ? listener.close() : undefined),
  }
  if (listener.open) view.open = (ctx) => listener.open?.(ctx)
  if (listener.sync) view.sync = (p) => listener.sync?.(p)
  if (listener.acknowledged) view.acknowledged = () => listener.acknowledged?.() ?? null
  return view
}

/**
 * Loads a custom listener: imports the module (a path is taken from
 * `baseDir`, a package name resolved from there) and makes the listener
 * from its `createListener`, default or `listener` export. Fails with
 * ERR_LISTENER_LOAD naming the module when the import fails or the module
 * has no listener.
 */
export async function loadListener(ref: ListenerModuleRef, options: LoadListenerOptions): Promise<Listener> {
  const opts = { ...options }
  const config = opts.options ?? {}
  if (typeof ref !== 'string') {
    const label = `(inline listener "${opts.name}")`
    return fromExport(ref, config, opts.name, label)
  }
  const mod = await importModule(ref, opts.baseDir ?? process.cwd())
  for (const key of EXPORTS) {
    const value = mod[key]
    if (value !== undefined && value !== null) return fromExport(value, config, opts.name, ref)
  }
  throw noListener(ref)
}

const EXPORTS = ['createListener', 'default', 'listener'] as const

function noListener(spec: string): LogdaemonError {
  return loadError(
    spec,
    'exports no listener: export a factory `export default (options, { name }) => listener`, a `createListener` function, or a listener object',
  )
}

/** Why a module or factory that never settles is refused: the process had nothing left to wait on (see unlessStalled). */
const NOTHING_LEFT = 'nothing is left that could settle it: no timer, socket or file is pending'

async function importModule(spec: string, baseDir: string): Promise<Record<string, unknown>> {
  const url = resolveSpecifier(spec, baseDir)
  const kind = url.startsWith('file:') ? fileKind(fileURLToPath(url)) : null
  // A FIFO would hold import() in a pool thread for ever (a probe: check hung, and run could not exit).
  if (kind !== null && kind !== 'file') throw loadError(spec, `is ${kind}, not a file: name the listener's module file`)
  let mod: unknown
  try {
    mod = await unlessStalled(import(url))
  } catch (err) {
    throw loadError(spec, `cannot be imported (${toError(err).message}): check the path or install the package`, err)
  }
  if (mod === STALLED) throw loadError(spec, `never finished loading: a top-level await in it never settles (${NOTHING_LEFT})`)
  return mod as Record<string, unknown>
}

/** What is at `path`: 'file', or what else ('a FIFO', 'a directory', …); null when nothing can be looked at there (import() says why). */
function fileKind(path: string): string | null {
  let info: Stats
  try {
    info = statSync(path)
  } catch {
    return null
  }
  if (info.isFile()) return 'file'
  if (info.isFIFO()) return 'a FIFO'
  if (info.isDirectory()) return 'a directory'
  if (info.isSocket()) return 'a socket'
  return 'a device'
}

/**
 * Checks, without creating it, that a custom listener module imports and
 * exports a listener (`createListener`, default or `listener`): what
 * `logdaemon check` can say before the daemon runs. Throws ERR_LISTENER_LOAD.
 */
export async function checkListenerModule(spec: string, baseDir: string = process.cwd()): Promise<void> {
  const mod = await importModule(spec, baseDir)
  const found = EXPORTS.some((k) => typeof mod[k] === 'function' || isListener(mod[k]))
  if (!found) throw noListener(spec)
}
