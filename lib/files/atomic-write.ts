import { randomBytes } from 'node:crypto'
import { constants, lstat, open, readdir, rename, unlink, type FileHandle } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { isErrnoException } from '../errors.js'

/** O_NOFOLLOW does not exist on Windows; O_EXCL already refuses a symlink there and everywhere. */
const EXCLUSIVE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (constants.O_NOFOLLOW ?? 0)

/** Mode of new files that hold logdaemon's state: the owner's only (the umask may narrow it further). */
export const PRIVATE_FILE_MODE = 0o600

/**
 * How often a fresh random name is tried when one exists already. 96
 * random bits never collide by chance; an existing name means someone
 * planted it, and a few tries tell that apart from bad luck.
 */
const NAME_TRIES = 5

export interface AtomicWriteOptions {
  /** fsync the file and its directory (default true; tests turn it off). */
  fsync?: boolean
  /** Mode of the new file, before the umask. Default 0600. */
  mode?: number
}

/**
 * Replaces `path` with `body` atomically: write a temporary file beside it,
 * fsync it, rename it over the old one, fsync the directory. A crash (or
 * `kill -9`) leaves either the old content or the new one, never a mix.
 *
 * The temporary file has an unpredictable name in the same directory and
 * is created exclusively (O_CREAT|O_EXCL|O_NOFOLLOW): a file or symlink
 * planted there is never followed or overwritten. A symlink at `path`
 * itself is replaced by the rename, not followed. On failure the temporary
 * file is removed (only ours: never a file someone else made).
 *
 * write-file-atomic was considered: its temporary name is a hash of the
 * pid and a counter (predictable), it opens it with 'w' (follows a planted
 * symlink, truncates an existing file) and it writes through a symlink at
 * the target (realpath). Hence this function.
 */
export async function writeFileAtomic(path: string, body: string | Buffer, options: AtomicWriteOptions = {}): Promise<void> {
  const fsync = options.fsync ?? true
  const { fh, tmp } = await createTemp(path, options.mode ?? PRIVATE_FILE_MODE)
  try {
    try {
      await fh.writeFile(body)
      if (fsync) await fh.sync()
    } finally {
      await fh.close()
    }
    await rename(tmp, path)
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  if (fsync) await fsyncPath(dirname(path))
}

/** A fresh unpredictable name beside `path`: `DIR/.NAME.<24 hex>.tmp`. */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(12).toString('hex')}.tmp`)
}

/**
 * Removes what writers killed mid-way (`kill -9`) left beside `path`: its
 * temporary files (`.NAME.<24 hex>.tmp`) and, with `sockets`, a lock's
 * beacon sockets (`NAME.<12 hex>.sock`), when older than `ageMs`: a
 * younger one may be another process's, at work now. Only regular files
 * and sockets of exactly those names; failures are ignored (it is only
 * tidying). Returns how many it removed.
 */
export async function removeStaleTemps(path: string, ageMs: number, options: { sockets?: boolean; keep?: string } = {}): Promise<number> {
  const dir = dirname(path)
  const name = basename(path).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  const temp = new RegExp(`^\\.${name}\\.[0-9a-f]{24}\\.tmp$`)
  const socket = new RegExp(`^${name}\\.[0-9a-f]{12}\\.sock$`)
  let entries: string[]
  try {
    entries = await readdir(dir)
  } catch {
    return 0
  }
  const before = Date.now() - ageMs
  let removed = 0
  for (const entry of entries) {
    const isTemp = temp.test(entry)
    if (!isTemp && !(options.sockets && socket.test(entry) && entry !== options.keep)) continue
    const file = join(dir, entry)
    try {
      const st = await lstat(file)
      if (!(isTemp ? st.isFile() : st.isSocket()) || st.mtimeMs > before) continue
      await unlink(file)
      removed++
    } catch {
      // Gone meanwhile, or not ours to remove: left as it is.
    }
  }
  return removed
}

/** Creates `path` for writing, failing with EEXIST if anything (a file, a symlink, even a dangling one) is there. */
export function openExclusive(path: string, mode: number): Promise<FileHandle> {
  return open(path, EXCLUSIVE, mode)
}

/** Creates a new temporary file beside `path`. */
export async function createTemp(path: string, mode: number): Promise<{ fh: FileHandle; tmp: string }> {
  for (let attempt = 1; ; attempt++) {
    const tmp = tempPathBeside(path)
    try {
      return { fh: await openExclusive(tmp, mode), tmp }
    } catch (err) {
      if (!(isErrnoException(err) && err.code === 'EEXIST') || attempt >= NAME_TRIES) throw err
    }
  }
}

/** fsyncs a file or directory by path. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
