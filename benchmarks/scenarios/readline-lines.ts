/**
 * Baseline: node:readline over the file, the built-in way to read lines.
 * Uses the `line` event (faster than `for await` over the interface).
 * Counts physical lines.
 */
import { once } from 'node:events'
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { runScenario } from '../harness/scenario.js'

runScenario('readline-lines', async ({ input }) => {
  let lines = 0
  const rl = createInterface({ input: createReadStream(input), crlfDelay: Infinity })
  rl.on('line', () => lines++)
  await once(rl, 'close')
  return { bytes: (await stat(input)).size, records: lines, unit: 'lines' }
})
