import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { constants, link, lstat, open, realpath, rename, unlink } from 'node:fs/promises'
import { hostname } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { createTemp } from './atomic-write.js'
import { ErrorCodes, isErrnoException, LogdaemonError } from '../errors.js'

/** Who holds a lock: what the lock file records. */
export interface LockHolder {
  readonly pid: number
  readonly host: string
  /** The kernel's boot id (Linux), so a lock from before a reboot is known stale. */
  readonly bootId: string | null
  /** The process's start time in clock ticks since boot (Linux /proc/PID/stat), so a reused pid is told apart. */
  readonly started: string | null
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
 * records the holder's pid, host, boot id and process start time. A lock
 * whose holder is gone (ended, `kill -9`, a reboot, or the pid reused by
 * another process) is stale and taken over; a live holder, a holder on
 * another host (which cannot be checked from here) or an unreadable lock
 * file is refused with ERR_LOCKED naming the holder.
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
  #released = false

  private constructor(path: string, holder: LockHolder) {
    this.path = path
    this.holder = holder
  }

  /**
   * Takes the lock of `statePath`. Rejects with ERR_LOCKED when another
   * live process holds it, and with ERR_STATE_WRITE when the lock file
   * cannot be created (missing directory, permissions).
   */
  static async acquire(statePath: string, options: { command?: string } = {}): Promise<StateLock> {
    // The directory's real path: the same state file reached through a symlinked directory has the same lock.
    const dir = await realpath(dirname(statePath)).catch(() => dirname(statePath))
    const path = lockPathOf(join(dir, basename(statePath)))
    const holder = currentHolder(options.command)
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
          return new StateLock(path, holder)
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
        if (found.holder === null) throw locked(statePath, path, null, 'it is not a logdaemon lock file (or it is damaged)')
        const verdict = liveness(found.holder)
        if (verdict !== 'dead') throw locked(statePath, path, found.holder, verdict)
        await breakStale(path, found.ino)
      }
      throw locked(statePath, path, null, 'it changed hands too often while this process tried to take it')
    } finally {
      await unlink(tmp).catch(() => {})
    }
  }

  /** Removes the lock file if it is still this lock. Idempotent; never fails. */
  async release(): Promise<void> {
    if (this.#released) return
    this.#released = true
    const found = await readLock(this.path).catch(() => null)
    if (found?.holder?.nonce === this.holder.nonce) await unlink(this.path).catch(() => {})
  }
}

/** Who is asking: this process. */
function currentHolder(command?: string): LockHolder {
  return {
    pid: process.pid,
    host: hostname(),
    bootId: bootId(),
    started: startTicks(process.pid),
    command: command ?? basename(process.argv[1] ?? process.argv0).replace(/\.[cm]?[jt]s$/, ''),
    since: new Date().toISOString(),
    nonce: randomBytes(12).toString('hex'),
  }
}

/** Reads a lock file without following a symlink: its inode and holder (null holder when unparsable), or null when gone. */
async function readLock(path: string): Promise<{ ino: number; holder: LockHolder | null } | null> {
  let fh
  try {
    fh = await open(path, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0))
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return null
    if (isErrnoException(err) && err.code === 'ELOOP') return { ino: (await lstat(path)).ino, holder: null }
    throw err
  }
  try {
    const { ino } = await fh.stat()
    // A lock file is ~250 bytes; more than 4 KiB is not ours.
    const { buffer, bytesRead } = await fh.read(Buffer.alloc(4096), 0, 4096, 0)
    return { ino, holder: parseHolder(buffer.subarray(0, bytesRead).toString('utf8')) }
  } finally {
    await fh.close()
  }
}

function parseHolder(text: string): LockHolder | null {
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
    command: str(d.command) ? d.command : 'unknown',
    since: str(d.since) ? d.since : 'unknown',
    nonce: d.nonce,
  }
}

/** Whether the holder still runs: `dead` (stale), `alive`, or `other-host` (cannot be checked from here). */
export function liveness(h: LockHolder): 'alive' | 'dead' | 'other-host' {
  if (h.host !== hostname()) return 'other-host'
  const boot = bootId()
  if (boot !== null && h.bootId !== null && boot !== h.bootId) return 'dead'
  try {
    process.kill(h.pid, 0)
  } catch (err) {
    // EPERM: it exists, run by another user.
    if (isErrnoException(err) && err.code === 'ESRCH') return 'dead'
  }
  const started = startTicks(h.pid)
  if (started !== null && h.started !== null && started !== h.started) return 'dead' // the pid now names another process
  return 'alive'
}

/**
 * Removes a stale lock file: renamed away first, then checked to be the
 * one judged stale (same inode) before it is deleted; if another process
 * had replaced it meanwhile, it is put back.
 */
async function breakStale(path: string, ino: number): Promise<void> {
  const aside = `${path}.stale.${randomBytes(6).toString('hex')}`
  try {
    await rename(path, aside)
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return
    throw err
  }
  if ((await lstat(aside)).ino !== ino) await link(aside, path).catch(() => {})
  await unlink(aside).catch(() => {})
}

function locked(statePath: string, path: string, h: LockHolder | null, why: 'alive' | 'other-host' | string): LogdaemonError {
  let message: string
  if (h === null) {
    message = `state file ${statePath} is locked by ${path}, but ${why}. If no logdaemon or logdaemon-cat uses this state file, remove ${path} and start again`
  } else {
    const who = `process ${h.pid} (${h.command} on ${h.host}, since ${h.since})`
    message =
      why === 'other-host'
        ? `state file ${statePath} is in use by ${who}, on another host that cannot be checked from here. If that process has ended, remove ${path} and start again`
        : `state file ${statePath} is in use by ${who}: two readers saving one state file would skip or repeat records. ` +
          `Stop that process first (its lock ${path} is released when it ends, even by kill -9), or use another state file`
  }
  return new LogdaemonError(ErrorCodes.LOCKED, message, {
    file: statePath,
    details: { lock: path, ...(h ? { pid: h.pid, host: h.host, command: h.command, since: h.since } : {}) },
  })
}

let cachedBootId: string | null | undefined

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
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return null
  }
  // `pid (comm) state ppid ...`: comm may hold spaces and parentheses; the fields after the last `)` start at field 3.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ')
  return fields[19] ?? null
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
