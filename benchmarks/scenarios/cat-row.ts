/**
 * Ours, end to end: `logdaemon-cat --format row FILE > /dev/null`, the
 * built bin in its own process (Node's startup included), every data
 * record written with its columns named and typed by the schema (the bar:
 * at least 0.8× the speed of cat-json).
 */
import { runCat } from '../harness/spawn-cat.js'
import { runScenario } from '../harness/scenario.js'

runScenario('cat-row', ({ input, options }) => runCat(input, ['--format', 'row'], options.verify === 'true'))
