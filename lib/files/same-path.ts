import { realpath, stat } from 'node:fs/promises'
import { basename, dirname, resolve } from 'node:path'

/**
 * Whether two directories are one: by path, by real path, or by device and
 * inode (a bind mount shows one directory under two real paths; bigints: a
 * 64-bit inode number, NFS and some file systems, does not fit a double).
 */
export async function sameDir(a: string, b: string): Promise<boolean> {
  if (resolve(a) === resolve(b)) return true
  const [ra, rb] = await Promise.all([realpath(a).catch(() => null), realpath(b).catch(() => null)])
  if (ra !== null && ra === rb) return true
  const [sa, sb] = await Promise.all([stat(a, { bigint: true }).catch(() => null), stat(b, { bigint: true }).catch(() => null)])
  return sa !== null && sb !== null && sa.dev === sb.dev && sa.ino === sb.ino
}

/**
 * Whether two paths name one file, which need not exist yet: the same name
 * in the same directory (by sameDir), or, for files that exist, one real
 * path (a symlink to the other) or one device and inode (a hard link).
 */
export async function sameFile(a: string, b: string): Promise<boolean> {
  if (basename(a) === basename(b) && (await sameDir(dirname(resolve(a)), dirname(resolve(b))))) return true
  const [ra, rb] = await Promise.all([realpath(a).catch(() => null), realpath(b).catch(() => null)])
  if (ra !== null && ra === rb) return true
  const [sa, sb] = await Promise.all([stat(a, { bigint: true }).catch(() => null), stat(b, { bigint: true }).catch(() => null)])
  return sa !== null && sb !== null && sa.dev === sb.dev && sa.ino === sb.ino
}
