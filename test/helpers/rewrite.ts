import { closeSync, openSync, writeSync } from 'node:fs'

/** Overwrites `path` from its start with `bytes`: the same inode, no truncation (a journal rewritten in place). */
export function rewriteInPlace(path: string, bytes: Buffer): void {
  const fd = openSync(path, 'r+')
  try {
    writeSync(fd, bytes, 0, bytes.length, 0)
  } finally {
    closeSync(fd)
  }
}
