import { randomBytes } from 'node:crypto'
import { readFileSync, readlinkSync, unlinkSync } from 'node:fs'
import { constants, link, lstat, open, realpath, rename, unlink } from 'node:fs/promises'
import { connect, createServer, type Server } from 'node:net'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { createTemp, removeStaleTemps } from './atomic-write.js'
import { ErrorCodes, isErrnoException, isLogdaemonError, LogdaemonError } from '../errors.js'

/** Who holds a lock: what the lock file records. */
export interface LockHolder {
  readonly pid: number
  readonly host: string
  /** The kernel's boot id (Linux), so a lock from before a reboot is known stale. */
  readonly bootId: string | null
  /** The process's start time in clock ticks since boot (Linux /proc/PID/stat), so a reused pid is told apart. */
  readonly started: string | null
  /**
   * The holder's PID namespace (`pid:[INODE]`, the link /proc/self/ns/pid),
   * so a holder in another container with the same host name is not judged
   * by a pid that means another process here.
   */
  readonly pidNs: string | null
  /**
   * The name of the holder's liveness socket, beside the lock file: it
   * listens there for its whole life, and the kernel closes it when the
   * holder dies, so a refused connection proves the holder dead from any
   * PID namespace. Null when none could be made (a path too long for a
   * socket, a filesystem without sockets).
   */
  readonly socket: string | null
  /** The program, for messages. */
  readonly command: string
  /** When the lock was taken (ISO 8601). */
  readonly since: string
  /** Tells this lock from any other one the same process may take. */
  readonly nonce: string
}

const FORMAT = 'logdaemon-lock'

/**
 * Mode of the lock file: readable by all (before the umask), so an admin or
 * `logdaemon check` run as another user can see who holds it. It holds
 * nothing but the holder's pid, host and program.
 */
const LOCK_MODE = 0o644

/**
 * How often taking a lock is tried when it changes hands under us (a stale
 * one removed, another taker first). Each try either takes it, finds a
 * live holder, or saw someone else move; more than a few means a storm of
 * starters, and refusing is the safe answer.
 */
const TRIES = 5

/** The longest socket path Linux takes (sun_path is 108 bytes with its NUL). */
const SOCKET_PATH_MAX = 107

/** How long a liveness socket may take to answer before its holder is taken for alive. */
const SOCKET_ANSWER_MS = 2000

/** What a lock's holder is found to be; all but `dead` refuse the lock. */
export type Liveness = 'alive' | 'dead' | 'other-host' | 'other-namespace'

/** The lock file of a state file. */
export function lockPathOf(statePath: string): string {
  return `${statePath}.lock`
}

/**
 * An exclusive lock beside a state file (`STATE.lock`), held for the life
 * of the process that reads with that state: two readers saving one state
 * file would skip or repeat records.
 *
 * The lock file is written in full and fsynced under a temporary name,
 * then hard-linked into place: link() fails if anything is there, so the
 * lock appears atomically, complete, and never through a symlink. It
 * records the holder's pid, host, boot id, process start time and PID
 * namespace. A lock whose holder is gone (ended, `kill -9`, a reboot, or
 * the pid reused by another process) is stale and taken over; a live
 * holder, a holder on another host (which cannot be checked from here) or
 * an unreadable lock file, or anything but a regular file at the lock path
 * (a FIFO, a directory), is refused with ERR_LOCKED naming the holder or
 * the path.
 *
 * A holder in another PID namespace with the same host name (a container
 * sharing the state directory) cannot be judged by its pid, which names
 * another process here or none: it is taken for alive unless its liveness
 * socket proves it dead (the socket file is there but refuses connections,
 * or is gone). The socket is made before the lock appears and removed after
 * it, so a live holder always has it.
 *
 * A state path that is a symlink (to a state file that exists) takes two
 * locks: its own and the one of the file it leads to, so a reader naming
 * the link and one naming its target (or another link to it) never run at
 * once. Its own stays, since a save replaces the link with a file there.
 *
 * Not proper-lockfile: it judges staleness by the lock's mtime, refreshed
 * by a timer, so a holder that is alive but stalled longer than the stale
 * time (a stopped process, a frozen VM, a long fsync) loses its lock while
 * it still reads, and a dead holder's lock blocks a restart until the
 * mtime ages; it cannot name the holder's pid either. A pid + start time
 * check answers "is the holder alive?" exactly on one host.
 *
 * Residual race, documented: taking over a stale lock renames it away and
 * checks it was the stale one (same inode) before removing it; if another
 * starter replaced it in between, it is put back. Only three starters at
 * the same instant over a stale lock could then both see it free.
 */
export class StateLock {
  readonly path: string
  readonly holder: LockHolder
  /** The holder of a stale lock (a process that died holding it) this one replaced, or null: the state's owner ran here before. */
  readonly tookOverFrom: LockHolder | null
  readonly #beacon: Beacon | null
  /** The lock of the state file a symlinked state path leads to, held with this one. */
  #also: StateLock | null = null
  #released = false

  private constructor(path: string, holder: LockHolder, beacon: Beacon | null, tookOverFrom: LockHolder | null) {
    this.path = path
    this.holder = holder
    this.#beacon = beacon
    this.tookOverFrom = tookOverFrom
    process.once('exit', this.#onExit)
  }

  /**
   * An exit that runs no release (the daemon's forced stop: a second signal,
   * a stop past its time) removes the lock and its socket here, synchronously:
   * they were left behind for the next start to take over (a probe).
   */
  readonly #onExit = (): void => {
    if (this.#released) return
    try {
      if ((JSON.parse(readFileSync(this.path, 'utf8')) as { nonce?: unknown }).nonce === this.holder.nonce) unlinkSync(this.path)
    } catch {
      // Gone, or not this lock any more: nothing to remove.
    }
    if (this.#beacon) {
      try {
        unlinkSync(this.#beacon.path)
      } catch {
        // Gone already.
      }
    }
  }

  /**
   * Takes the lock of `statePath`. Rejects with ERR_LOCKED when another
   * live process holds it (`retryable: false`: a listener's open that takes
   * a lock fails at once), and with ERR_STATE_WRITE when the lock file
   * cannot be created (missing directory, permissions).
   */
  static async acquire(statePath: string, options: { command?: string } = {}): Promise<StateLock> {
    const lock = await StateLock.#acquireOne(statePath, options)
    // A state path that is a symlink names another state file, which another reader may name directly: that
    // file's lock is taken too (a probe: both ran, each then saving its own copy). This path's own lock stays
    // taken as well, for the file a save puts here in place of the link.
    const target = await symlinkTarget(statePath)
    if (target === null || lockPathOf(target) === lock.path) return lock
    try {
      lock.#also = await StateLock.#acquireOne(target, options)
    } catch (err) {
      // A target in a directory this process may not write (a read-only seed state): no reader can take its lock
      // there, nor save there; the link's own lock is the one (a probe: the start failed with ERR_STATE_WRITE).
      if (isLogdaemonError(err) && err.code === ErrorCodes.STATE_WRITE) return lock
      await lock.release()
      throw err
    }
    return lock
  }

  static async #acquireOne(statePath: string, options: { command?: string }): Promise<StateLock> {
    // The directory's real path: the same state file reached through a symlinked directory has the same lock.
    const dir = await realpath(dirname(statePath)).catch(() => dirname(statePath))
    const path = lockPathOf(join(dir, basename(statePath)))
    const socketName = `${basename(path)}.${randomBytes(6).toString('hex')}.sock`
    const beacon = await listenBeacon(join(dir, socketName))
    const holder = currentHolder(options.command, beacon ? socketName : null)
    let tookOverFrom: LockHolder | null
    try {
      tookOverFrom = await take(statePath, path, holder)
    } catch (err) {
      await closeBeacon(beacon)
      throw err
    }
    // Held: what processes killed while writing the state or taking the lock left beside them goes (older ones only).
    await removeStaleTemps(join(dir, basename(statePath)), STALE_TEMP_MS)
    await removeStaleTemps(path, STALE_TEMP_MS, { sockets: true, keep: socketName })
    return new StateLock(path, holder, beacon, tookOverFrom)
  }

  /** Removes the lock file if it is still this lock, then its socket. Idempotent; never fails. */
  async release(): Promise<void> {
    if (this.#released) return
    this.#released = true
    process.off('exit', this.#onExit)
    const found = await readLock(this.path).catch(() => null)
    if (found?.holder?.nonce === this.holder.nonce) await unlink(this.path).catch(() => {})
    await closeBeacon(this.#beacon)
    await this.#also?.release()
  }
}

/** The real path of the file the symlink `path` leads to, or null when `path` is no symlink or leads nowhere. */
async function symlinkTarget(path: string): Promise<string | null> {
  try {
    return (await lstat(path)).isSymbolicLink() ? await realpath(path) : null
  } catch {
    return null
  }
}

/**
 * Age past which a temporary file or beacon socket beside a state file or
 * its lock is taken for one left by a killed process: a live writer's
 * lives for milliseconds (write, fsync, rename), a contender's for as long
 * as it takes to find the lock held.
 */
export const STALE_TEMP_MS = 60_000

/** Writes the lock file under a temporary name and links it into place (see StateLock), or throws; returns the dead holder it replaced, if any. */
async function take(statePath: string, path: string, holder: LockHolder): Promise<LockHolder | null> {
  let brokeFrom: LockHolder | null = null
  let tmp: string
  try {
    const made = await createTemp(path, LOCK_MODE)
    tmp = made.tmp
    try {
      await made.fh.writeFile(JSON.stringify({ format: FORMAT, ...holder }) + '\n')
      await made.fh.sync()
    } finally {
      await made.fh.close()
    }
  } catch (err) {
    throw new LogdaemonError(
      ErrorCodes.STATE_WRITE,
      `${path}: cannot create the lock of state file ${statePath} (${describe(err)}): fix the directory or permissions`,
      {
        file: path,
        cause: err,
      },
    )
  }
  try {
    for (let attempt = 1; attempt <= TRIES; attempt++) {
      try {
        await link(tmp, path)
        return brokeFrom
      } catch (err) {
        if (!isErrnoException(err) || err.code !== 'EEXIST') {
          throw new LogdaemonError(ErrorCodes.STATE_WRITE, `${path}: cannot take the lock of state file ${statePath} (${describe(err)})`, {
            file: path,
            cause: err,
          })
        }
      }
      const found = await readLock(path)
      if (found === null) continue // released meanwhile: try again
      if (found.kind !== 'file') throw locked(statePath, path, null, `it is ${found.kind}, not a lock file`)
      if (found.holder === null) throw locked(statePath, path, null, 'it is not a logdaemon lock file (or it is damaged)')
      const verdict = await liveness(found.holder, dirname(path))
      if (verdict !== 'dead') throw locked(statePath, path, found.holder, verdict)
      await breakStale(path, found.ino, found.holder)
      brokeFrom = found.holder
    }
    throw locked(statePath, path, null, 'it changed hands too often while this process tried to take it')
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

/** A holder's liveness socket: the server and its path. */
interface Beacon {
  readonly server: Server
  readonly path: string
}

/**
 * Listens on `path` for the life of the lock (unreferenced: it never keeps
 * the process alive). Null when no socket can be made there; the lock then
 * works as before, and a holder in another namespace is never proven dead.
 */
async function listenBeacon(path: string): Promise<Beacon | null> {
  const server = createServer((socket) => socket.destroy())
  try {
    await viaShortPath(
      path,
      (p) =>
        new Promise<void>((resolve, reject) => {
          server.once('error', reject)
          server.listen(p, () => {
            server.off('error', reject)
            resolve()
          })
        }),
    )
  } catch {
    return null
  }
  server.unref()
  return { server, path }
}

async function closeBeacon(beacon: Beacon | null): Promise<void> {
  if (!beacon) return
  await new Promise<void>((resolve) => beacon.server.close(() => resolve()))
  await unlink(beacon.path).catch(() => {}) // close() removes it; a kill -9'd holder's is removed by breakStale
}

/**
 * Asks a holder's liveness socket: refused, or gone, proves the holder dead
 * (the kernel closes a dead process's sockets; a live holder's socket
 * exists for as long as its lock). Anything else (an answer, a full
 * backlog, no permission, no answer in time) leaves it alive.
 */
async function beaconAnswers(path: string): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    let socket: ReturnType<typeof connect> | null = null
    const done = (alive: boolean): void => {
      clearTimeout(timer)
      socket?.destroy()
      resolve(alive)
    }
    const timer = setTimeout(() => done(true), SOCKET_ANSWER_MS)
    const refused = (err: unknown): boolean => isErrnoException(err) && (err.code === 'ECONNREFUSED' || err.code === 'ENOENT')
    viaShortPath(
      path,
      (p) =>
        new Promise<void>((connected) => {
          const s = connect(p)
          socket = s
          s.once('connect', () => {
            connected()
            done(true)
          })
          s.once('error', (err) => {
            connected()
            done(!refused(err))
          })
        }),
    ).catch((err: unknown) => done(!refused(err)))
  })
}

/**
 * Runs `use` with a path to `path` that fits a socket address: the path
 * itself, or, when it is too long, `/proc/self/fd/N/NAME` through a
 * descriptor of its directory (Linux), held open while `use` runs.
 */
async function viaShortPath<T>(path: string, use: (p: string) => Promise<T>): Promise<T> {
  if (Buffer.byteLength(path) <= SOCKET_PATH_MAX) return use(path)
  const dir = await open(dirname(path), constants.O_RDONLY | (constants.O_DIRECTORY ?? 0))
  try {
    const short = `/proc/self/fd/${dir.fd}/${basename(path)}`
    if (Buffer.byteLength(short) > SOCKET_PATH_MAX) throw new Error(`${path}: too long for a socket`)
    return await use(short)
  } finally {
    await dir.close()
  }
}

/**
 * Who holds the lock of state file `statePath` and whether it still runs,
 * without taking it; null when there is no lock or it is not a logdaemon
 * lock file (`logdaemon check` says whether the daemon it checks runs).
 */
export async function lockHolder(statePath: string): Promise<{ holder: LockHolder; liveness: Liveness } | null> {
  const path = lockPathOf(statePath)
  const lock = await readLock(path)
  if (lock?.holder == null) return null
  return { holder: lock.holder, liveness: await liveness(lock.holder, dirname(path)) }
}

/** Who is asking: this process (also the holder a JetStream durable lock records). */
export function currentHolder(command: string | undefined, socket: string | null): LockHolder {
  return {
    pid: process.pid,
    host: hostname(),
    bootId: bootId(),
    started: startTicks(process.pid),
    pidNs: pidNamespace(),
    socket,
    command: command ?? basename(process.argv[1] ?? process.argv0).replace(/\.[cm]?[jt]s$/, ''),
    since: new Date().toISOString(),
    nonce: randomBytes(12).toString('hex'),
  }
}

/** What is at the lock path, when it is not a regular file. */
type LockKind = 'file' | 'a symlink' | 'a directory' | 'a FIFO' | 'a socket' | 'a device'

/**
 * Reads a lock file without following a symlink and without waiting on a
 * FIFO (O_NONBLOCK): its inode, what it is, and its holder (null when
 * unparsable or not a regular file), or null when gone.
 */
async function readLock(path: string): Promise<{ ino: number; kind: LockKind; holder: LockHolder | null } | null> {
  let fh
  try {
    fh = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0))
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return null
    if (isErrnoException(err) && err.code === 'ELOOP') return { ino: (await lstat(path)).ino, kind: 'a symlink', holder: null }
    // A socket cannot be opened (ENXIO); anything else that is there but unreadable is reported as it is.
    const st = await lstat(path).catch(() => null)
    if (st && !st.isFile()) return { ino: st.ino, kind: kindOf(st), holder: null }
    throw err
  }
  try {
    const st = await fh.stat()
    const ino = st.ino
    if (!st.isFile()) return { ino, kind: kindOf(st), holder: null }
    // A lock file is ~250 bytes; more than 4 KiB is not ours.
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4096), 0, 4096, 0)
    return { ino, kind: 'file', holder: parseHolder(buffer.subarray(0, bytesRead).toString('utf8')) }
  } finally {
    await fh.close()
  }
}

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isSocket(): boolean }): LockKind {
  if (st.isDirectory()) return 'a directory'
  if (st.isFIFO()) return 'a FIFO'
  if (st.isSocket()) return 'a socket'
  return 'a device' // a symlink never gets here: opening it fails with ELOOP first
}

/** A holder from a lock's JSON text, or null when it is not a logdaemon lock. */
export function parseHolder(text: string): LockHolder | null {
  let data: unknown
  try {
    data = JSON.parse(text)
  } catch {
    return null
  }
  if (typeof data !== 'object' || data === null) return null
  const d = data as Record<string, unknown>
  const str = (v: unknown): v is string => typeof v === 'string'
  const orNull = (v: unknown): string | null => (str(v) ? v : null)
  if (d.format !== FORMAT || !Number.isSafeInteger(d.pid) || (d.pid as number) <= 0 || !str(d.host) || !str(d.nonce)) return null
  return {
    pid: d.pid as number,
    host: d.host,
    bootId: orNull(d.bootId),
    started: orNull(d.started),
    pidNs: orNull(d.pidNs),
    // Only a plain file name beside the lock: a lock file never makes this process connect elsewhere.
    socket: str(d.socket) && /^[\w.-]+\.sock$/.test(d.socket) ? d.socket : null,
    command: str(d.command) ? d.command : 'unknown',
    since: str(d.since) ? d.since : 'unknown',
    nonce: d.nonce,
  }
}

/**
 * Whether the holder still runs: `dead` (stale), `alive`, `other-host` or
 * `other-namespace` (cannot be checked from here). `lockDir` is where its
 * liveness socket is.
 */
export async function liveness(h: LockHolder, lockDir?: string): Promise<Liveness> {
  if (h.host !== hostname()) return 'other-host'
  const boot = bootId()
  if (boot !== null && h.bootId !== null && boot !== h.bootId) return 'dead'
  const ns = pidNamespace()
  if (ns !== null && h.pidNs !== null && ns !== h.pidNs) {
    // Its pid means another process here, or none: only its socket can tell.
    if (h.socket === null || lockDir === undefined) return 'other-namespace'
    return (await beaconAnswers(join(lockDir, h.socket))) ? 'other-namespace' : 'dead'
  }
  try {
    process.kill(h.pid, 0)
  } catch (err) {
    // EPERM: it exists, run by another user.
    if (isErrnoException(err) && err.code === 'ESRCH') return 'dead'
  }
  const stat = procStat(h.pid)
  if (stat !== null && h.started !== null && stat.started !== h.started) return 'dead' // the pid now names another process
  // A zombie (killed, not yet reaped by its parent) holds no file and no socket: it reads nothing any more. Judged
  // alive, it kept a restart out with ERR_LOCKED for as long as its parent did not wait for it.
  if (stat !== null && (stat.state === 'Z' || stat.state === 'X')) return 'dead'
  return 'alive'
}

/**
 * Removes a stale lock file: renamed away first, then checked to be the
 * one judged stale (same inode) before it is deleted; if another process
 * had replaced it meanwhile, it is put back.
 */
async function breakStale(path: string, ino: number, stale: LockHolder): Promise<void> {
  const aside = `${path}.stale.${randomBytes(6).toString('hex')}`
  try {
    await rename(path, aside)
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return
    throw err
  }
  if ((await lstat(aside)).ino !== ino) {
    await link(aside, path).catch(() => {})
    await unlink(aside).catch(() => {})
    return
  }
  await unlink(aside).catch(() => {})
  if (stale.socket !== null) await unlink(join(dirname(path), stale.socket)).catch(() => {}) // left by a kill -9
}

function locked(statePath: string, path: string, h: LockHolder | null, why: Liveness | string): LogdaemonError {
  let message: string
  if (h === null) {
    message = `state file ${statePath} is locked by ${path}, but ${why}. If no logdaemon or logdaemon-cat uses this state file, remove ${path} and start again`
  } else {
    const who = `process ${h.pid} (${h.command} on ${h.host}, since ${h.since})`
    message =
      why === 'other-host'
        ? `state file ${statePath} is in use by ${who}, on another host that cannot be checked from here. If that process has ended, remove ${path} and start again`
        : why === 'other-namespace'
          ? `state file ${statePath} is in use by ${who}, in another PID namespace (a container with the same host name), ` +
            `whose pid cannot be checked from here and whose lock socket did not prove it dead. If that process has ended, remove ${path} and start again`
          : `state file ${statePath} is in use by ${who}: two readers saving one state file would skip or repeat records. ` +
            `Stop that process first (its lock ${path} is released when it ends, even by kill -9), or use another state file`
  }
  // Not transient: a retry (a listener's open, the mirror's) would wait for minutes on a holder that runs on.
  return new LogdaemonError(ErrorCodes.LOCKED, message, {
    file: statePath,
    details: { lock: path, ...(h ? { pid: h.pid, host: h.host, command: h.command, since: h.since } : {}) },
    retryable: false,
  })
}

let cachedBootId: string | null | undefined
let cachedPidNs: string | null | undefined

/** This process's PID namespace (`pid:[INODE]`), or null where there is no /proc. */
function pidNamespace(): string | null {
  if (cachedPidNs === undefined) {
    try {
      cachedPidNs = readlinkSync('/proc/self/ns/pid')
    } catch {
      cachedPidNs = null
    }
  }
  return cachedPidNs
}

function bootId(): string | null {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null
    } catch {
      cachedBootId = null
    }
  }
  return cachedBootId
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or null where there is no /proc. */
function startTicks(pid: number): string | null {
  return procStat(pid)?.started ?? null
}

/** The state (field 3: R, S, Z, …) and start time (field 22) of /proc/PID/stat, or null where there is no /proc. */
function procStat(pid: number): { state: string; started: string | null } | null {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  // `pid (comm) state ppid ...`: comm may hold spaces and parentheses; the fields after the last `)` start at field 3.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return { state: fields[0] ?? '', started: fields[19] ?? null }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
