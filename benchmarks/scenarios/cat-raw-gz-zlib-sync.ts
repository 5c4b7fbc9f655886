/**
 * Ours, end to end: cat-raw-gz with `LOGDAEMON_INFLATER=zlib-sync`, the
 * optional native inflater on the main thread (the default is node:zlib):
 * its speed, and its peak RSS against the memory bar.
 */
import { INFLATER_ENV } from '../../lib/files/inflater.js'
import { plainOf, runCat } from '../harness/spawn-cat.js'
import { runScenario } from '../harness/scenario.js'

runScenario('cat-raw-gz-zlib-sync', ({ input, options }) =>
  runCat(input, ['--format', 'raw'], options.verify === 'true', { ...plainOf(options), env: { [INFLATER_ENV]: 'zlib-sync' } }),
)
