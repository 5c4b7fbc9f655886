import { PassThrough, Readable } from 'node:stream'

/** Fake stdio for in-process CLI tests: stdout/stderr collect what is written. */
export function fakeIO(stdinData: Buffer | string = '') {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  const out: Buffer[] = []
  const err: Buffer[] = []
  stdout.on('data', (c: Buffer) => out.push(c))
  stderr.on('data', (c: Buffer) => err.push(c))
  return {
    io: { stdin: Readable.from([Buffer.from(stdinData)]), stdout, stderr },
    stdout: () => Buffer.concat(out),
    stderr: () => Buffer.concat(err).toString(),
    /** Standard output as JSON lines, one value each. */
    // biome-ignore lint/suspicious/noExplicitAny: what tests read of a line is checked by their assertions.
    jsonLines: (): any[] =>
      Buffer.concat(out)
        .toString()
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l)),
  }
}
