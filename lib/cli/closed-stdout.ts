import { readFileSync, readlinkSync } from 'node:fs'

/** O_ACCMODE and O_RDWR on Linux (asm-generic/fcntl.h). */
const O_ACCMODE = 0o3
const O_RDWR = 0o2

/**
 * Whether file descriptor `fd` (standard output: 1) was closed when the
 * process started (`cmd >&-`). Node never lets a program see that: at
 * start-up it opens /dev/null read-write in place of a closed 0, 1 or 2,
 * and writes then vanish with success. A shell's `> /dev/null` opens it
 * write-only, so /dev/null open read-write on fd 1 is the trace of a closed
 * descriptor (or of a parent that passed /dev/null read-write, as Node's
 * own `stdio: 'ignore'` does: either way nothing written is kept).
 * Linux only (reads /proc); false elsewhere or when /proc is unreadable.
 */
export function fdWasClosed(fd = 1): boolean {
  try {
    if (readlinkSync(`/proc/self/fd/${fd}`) !== '/dev/null') return false
    const m = /^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'latin1'))
    return m !== null && (parseInt(m[1]!, 8) & O_ACCMODE) === O_RDWR
  } catch {
    /* c8 ignore next -- not Linux, or /proc not mounted */
    return false
  }
}
