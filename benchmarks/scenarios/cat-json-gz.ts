/**
 * Ours, end to end: `logdaemon-cat --format json FILE.gz > /dev/null` with
 * the default inflater; compared with cat-json on the same data plain.
 */
import { plainOf, runCat } from '../harness/spawn-cat.js'
import { runScenario } from '../harness/scenario.js'

runScenario('cat-json-gz', ({ input, options }) => runCat(input, ['--format', 'json'], options.verify === 'true', plainOf(options)))
