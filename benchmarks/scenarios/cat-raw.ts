/**
 * Ours, end to end: `logdaemon-cat --format raw FILE > /dev/null`, the
 * built bin in its own process (Node's startup included), the records'
 * exact bytes written back out.
 */
import { runCat } from '../harness/spawn-cat.js'
import { runScenario } from '../harness/scenario.js'

runScenario('cat-raw', ({ input, options }) => runCat(input, ['--format', 'raw'], options.verify === 'true'))
