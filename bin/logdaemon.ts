#!/usr/bin/env node
import { EarlySignals } from '../lib/cli/early-signals.js'

// Held from here: a SIGTERM while the modules load would otherwise end the process with 143 (early-signals.ts).
const early = new EarlySignals()
const { main } = await import('../lib/cli/logdaemon.js')

// A closed stdout must not crash the process: a print listener on it sees the error and fails
// (the daemon then stops with ERR_LISTENER_FAILED and exit code 1).
process.stdout.on('error', () => {})
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stderrIsTTY: process.stderr.isTTY === true,
  // A stop that timed out or a second signal: listener calls that never settle may hold the process.
  exit: (code) => process.exit(code),
  early,
})
