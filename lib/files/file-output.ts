import { constants, fstatSync, openSync, statSync, writeSync } from 'node:fs'
import { Writable } from 'node:stream'
import { isErrnoException } from '../errors.js'

/**
 * Standard output as a regular file (`logdaemon-cat journal.12.gz > copy`),
 * written whole. Node's process.stdout is then a SyncWriteStream, which
 * calls writeSync once per chunk and ignores how many bytes it wrote: on a
 * full disk (or past `ulimit -f`) the kernel writes part of the chunk and
 * the rest was dropped with success. `logdaemon-cat checkpoint > copy` with
 * 8 KiB left on the disk exited 0 with 8192 of its 15578 bytes written, and
 * `--follow --state` saved a position past what the output file held (a
 * restart skipped the records in between). This writes every byte, or
 * throws the error of the call that could not go on (ENOSPC, EFBIG) out of
 * write(), as SyncWriteStream does: logdaemon-cat reports it, exit code 1.
 */
export class FileOutput extends Writable {
  readonly fd: number
  readonly #writeSync: typeof writeSync

  /** @param write the system call (tests pass one that writes less than asked) */
  constructor(fd: number, write: typeof writeSync = writeSync) {
    super()
    this.fd = fd
    this.#writeSync = write
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    // An error is thrown out of write(), as SyncWriteStream's is: every caller already handles that.
    for (let done = 0; done < chunk.length; ) {
      const n = this.#writeSync(this.fd, chunk, done, chunk.length - done)
      // A regular file takes at least one byte or fails; a call that takes none would loop forever.
      if (n <= 0) throw Object.assign(new Error(`EIO: the output took no bytes, write`), { code: 'EIO', syscall: 'write' })
      done += n
    }
    callback()
  }
}

/** `stdout` itself, or a {@link FileOutput} on `fd` when that is a regular file (see there why). */
export function wholeWritesTo(stdout: Writable, fd = 1): Writable {
  try {
    return fstatSync(fd).isFile() ? new FileOutput(fd) : stdout
  } catch {
    return stdout
  }
}

/**
 * For an output that is a FIFO (a print output, log.file): a descriptor
 * that writes to it, opened without waiting, to be held while the output
 * opens and closed then; null for anything else. A FIFO with no reader
 * throws at once (ENXIO, saying so): opened the usual way, it waits for a reader in a thread of libuv's pool, which
 * nothing can cancel, and the process could not exit until one came (a
 * probe: a stop that logged its exit code, then hung). Held, this writer
 * keeps the reader's end from seeing an end of file before the output's
 * own descriptor is open.
 */
export function heldFifoWriter(path: string): number | null {
  let fifo: boolean
  try {
    fifo = statSync(path).isFIFO()
  } catch {
    return null
  }
  if (!fifo) return null
  try {
    return openSync(path, constants.O_WRONLY | constants.O_NONBLOCK)
  } catch (err) {
    const alone = isErrnoException(err) && err.code === 'ENXIO'
    throw alone ? Object.assign(new Error(`ENXIO: ${path} is a FIFO that nothing reads: start its reader first`), { code: 'ENXIO', path }) : err
  }
}
