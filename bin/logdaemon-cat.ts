#!/usr/bin/env node
import { main } from '../lib/cli/cat.js'
import { wholeWritesTo } from '../lib/files/file-output.js'

process.exitCode = await main(process.argv.slice(2), {
  stdin: process.stdin,
  // A regular file is written whole: process.stdout drops what a full disk did not take (lib/cli/file-output.ts).
  stdout: wholeWritesTo(process.stdout),
  stderr: process.stderr,
  stderrIsTTY: process.stderr.isTTY === true,
})
