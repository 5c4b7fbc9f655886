import { constants, type Stats } from 'node:fs'
import { type FileHandle, open, readFile } from 'node:fs/promises'
import { isErrnoException } from '../errors.js'

/**
 * Opens `path` for reading without waiting: a FIFO there is opened at once
 * (O_NONBLOCK) where a plain open waits, in the thread pool and past any
 * signal, for a writer that may never come; on a regular file the flag
 * changes nothing. The caller looks at what it opened (`stat().isFile()`).
 */
export function openForReading(path: string): Promise<FileHandle> {
  return open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0))
}

/** The file opened for reading (openForReading), or null when there is none (ENOENT); any other failure is thrown. */
export async function openIfExists(path: string): Promise<FileHandle | null> {
  try {
    return await openForReading(path)
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return null
    throw err
  }
}

/** The file's text (UTF-8), or null when there is none (ENOENT); any other failure is thrown. */
export async function readTextIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8')
  } catch (err) {
    if (isErrnoException(err) && err.code === 'ENOENT') return null
    throw err
  }
}

/** What a path that is not a regular file is, for messages. */
export function fileKind(info: Stats): string {
  if (info.isDirectory()) return 'a directory'
  if (info.isFIFO()) return 'a FIFO (named pipe)'
  if (info.isCharacterDevice()) return 'a character device'
  if (info.isBlockDevice()) return 'a block device'
  if (info.isSocket()) return 'a socket'
  return 'something else'
}
