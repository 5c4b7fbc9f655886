/**
 * Ours, end to end: cat-raw-gz with `LOGDAEMON_INFLATER=node-worker`,
 * node:zlib on the inflate worker: what `logdaemon-cat` does on a `.gz`
 * where the optional ISA-L addon was not built (no libisal-dev at install).
 */
import { INFLATER_ENV } from '../../lib/files/inflater.js'
import { plainOf, runCat } from '../harness/spawn-cat.js'
import { runScenario } from '../harness/scenario.js'

runScenario('cat-raw-gz-node', ({ input, options }) =>
  runCat(input, ['--format', 'raw'], options.verify === 'true', { ...plainOf(options), env: { [INFLATER_ENV]: 'node-worker' } }),
)
