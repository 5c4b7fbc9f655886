/**
 * Ours, end to end: `logdaemon-cat --format json --threads 1 FILE > /dev/null`,
 * the JSON writer on the main thread only: what the worker pool of cat-json
 * adds. Skipped, with the reason, while the bin has no --threads.
 */
import { missingFlag, runCat } from '../harness/spawn-cat.js'
import { runScenario, skipped } from '../harness/scenario.js'

runScenario('cat-json-1thread', async ({ input, options }) => {
  const missing = missingFlag('--threads')
  if (missing) return skipped('records', missing)
  return runCat(input, ['--format', 'json', '--threads', '1'], options.verify === 'true')
})
