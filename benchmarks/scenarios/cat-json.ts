/**
 * Ours, end to end: `logdaemon-cat --format json FILE > /dev/null`, the
 * built bin in its own process (Node's startup included), every record
 * decoded and written as one JSON line.
 */
import { runCat } from '../harness/spawn-cat.js'
import { runScenario } from '../harness/scenario.js'

runScenario('cat-json', ({ input, options }) => runCat(input, ['--format', 'json'], options.verify === 'true'))
