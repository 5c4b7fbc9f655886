import { type FileHandle, open, readFile } from 'node:fs/promises'
import { isErrnoException } from '../errors.js'

/** The file opened for reading, or null when there is none (ENOENT); any other failure is thrown. */
export async function openIfExists(path: string): Promise<FileHandle | null> {
  try {
    return await open(path, 'r')
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
