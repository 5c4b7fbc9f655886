// logdaemon/sim: a simulated p4d, for demos and tests of your own listeners (re-exports only).

export {
  SimulatedP4d,
  type SimulatedP4dOptions,
  type RotateMode,
  type AppendResult,
  type TransactionAppend,
  type RotateResult,
  type RunOptions,
  type RunSummary,
} from './simulated-p4d.js'
export { RecordGenerator, type RecordGeneratorOptions } from './record-generator.js'
