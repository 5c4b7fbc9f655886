/**
 * Baseline: find every LF with Buffer#indexOf, nothing else. Node's ceiling
 * for anything that frames bytes: no record can be cut faster than its line
 * ends can be found. Counts physical lines.
 */
import { createReadStream } from 'node:fs'
import { runScenario } from '../harness/scenario.js'

const LF = 0x0a

runScenario('indexof-newlines', async ({ input }) => {
  let bytes = 0
  let lines = 0
  for await (const chunk of createReadStream(input)) {
    const buf = chunk as Buffer
    bytes += buf.length
    for (let i = buf.indexOf(LF); i !== -1; i = buf.indexOf(LF, i + 1)) lines++
  }
  return { bytes, records: lines, unit: 'lines' }
})
