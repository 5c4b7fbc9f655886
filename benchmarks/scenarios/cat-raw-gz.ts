/**
 * Ours, end to end: `logdaemon-cat --format raw FILE.gz > /dev/null` with
 * the default inflater (zlib-sync when it loads). MB/s counts the
 * uncompressed bytes, so the bar compares it with cat-raw on the same data plain.
 */
import { plainOf, runCat } from '../harness/spawn-cat.js'
import { runScenario } from '../harness/scenario.js'

runScenario('cat-raw-gz', ({ input, options }) => runCat(input, ['--format', 'raw'], options.verify === 'true', plainOf(options)))
