import { open, rename, unlink } from 'node:fs/promises'
import { dirname } from 'node:path'

/**
 * Replaces `path` with `body` atomically: write a temporary file beside it,
 * fsync it, rename it over the old one, fsync the directory. A crash (or
 * `kill -9`) leaves either the old content or the new one, never a mix.
 * With `fsync: false` (tests only) the two fsyncs are skipped.
 */
export async function writeFileAtomic(path: string, body: string | Buffer, options: { fsync?: boolean } = {}): Promise<void> {
  const fsync = options.fsync ?? true
  const tmp = `${path}.${process.pid}.tmp`
  try {
    const fh = await open(tmp, 'w', 0o644)
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

/** fsyncs a file or directory by path. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r')
  try {
    await fh.sync()
  } finally {
    await fh.close()
  }
}
