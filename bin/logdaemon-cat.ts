#!/usr/bin/env node
import { EarlySignals } from '../lib/cli/early-signals.js'

// Held from here: a SIGTERM while the modules load would end a follower with 143 (early-signals.ts); a plain
// cat gets its signals back at once, a follower stops on them with exit 0, as later.
const early = new EarlySignals(process, { crashes: false })
const [{ main }, { wholeWritesTo }] = await Promise.all([import('../lib/cli/cat.js'), import('../lib/files/file-output.js')])

process.exitCode = await main(process.argv.slice(2), {
  stdin: process.stdin,
  // A regular file is written whole: process.stdout drops what a full disk did not take (lib/cli/file-output.ts).
  stdout: wholeWritesTo(process.stdout),
  stderr: process.stderr,
  stderrIsTTY: process.stderr.isTTY === true,
  early,
})
