import { readlink, realpath, stat } from 'node:fs/promises'
import { basename, dirname, join, resolve } from 'node:path'

/** Symlinks followed at most by canonicalPath, as the kernel's own limit (ELOOP). */
const MAX_LINKS = 40

/**
 * Whether two directories are one: by path, by canonical path (which
 * follows symlinks, also in the parents of a directory not made yet), or
 * by device and inode (a bind mount shows one directory under two real
 * paths; bigints: a 64-bit inode number, NFS and some file systems, does
 * not fit a double).
 */
export async function sameDir(a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true
  if ((await canonicalPath(a)) === (await canonicalPath(b))) return true
  return sameInode(a, b)
}

/**
 * Whether two paths name one file, which need not exist yet: the same
 * canonical path (a symlink to the other, a dangling one included, or a
 * symlinked parent directory), the same name in one directory (by
 * sameDir: a bind mount), or one device and inode (a hard link).
 */
export async function sameFile(a: string, b: string): Promise<boolean> {
  if ((await canonicalPath(a)) === (await canonicalPath(b))) return true
  if (basename(a) === basename(b) && (await sameDir(dirname(resolve(a)), dirname(resolve(b))))) return true
  return sameInode(a, b)
}

/**
 * Whether `path` is a file many may write at once: a character device
 * (`/dev/null`, a terminal), a FIFO or a socket, as `/dev/stdout` is.
 */
export async function isSharedSpecialFile(path: string): Promise<boolean> {
  const s = await stat(path).catch(() => null)
  return s !== null && (s.isCharacterDevice() || s.isFIFO() || s.isSocket())
}

/**
 * The path with every symlink resolved, for a file or directory that need
 * not exist: the real path of the longest part that does, the rest
 * appended; a dangling symlink is followed to where it points.
 */
export async function canonicalPath(path: string, links = 0): Promise<string> {
  const abs = resolve(path)
  const real = await realpath(abs).catch(() => null)
  if (real !== null) return real
  if (links < MAX_LINKS) {
    const target = await readlink(abs).catch(() => null)
    if (target !== null) return canonicalPath(resolve(dirname(abs), target), links + 1)
  }
  const parent = dirname(abs)
  return parent === abs ? abs : join(await canonicalPath(parent, links), basename(abs))
}

async function sameInode(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([stat(a, { bigint: true }).catch(() => null), stat(b, { bigint: true }).catch(() => null)])
  return sa !== null && sb !== null && sa.dev === sb.dev && sa.ino === sb.ino
}
