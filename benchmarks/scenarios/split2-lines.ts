/**
 * Baseline: split2 splitting the input into lines (strings), what a user
 * would write first to read a journal line by line. The bars are stated
 * against this one. Counts physical lines.
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import { pipeline } from 'node:stream/promises'
import split2 from 'split2'
import { counter, runScenario } from '../harness/scenario.js'

runScenario('split2-lines', async ({ input }) => {
  let lines = 0
  await pipeline(
    createReadStream(input),
    split2(),
    counter<string>(() => lines++),
  )
  return { bytes: (await stat(input)).size, records: lines, unit: 'lines' }
})
