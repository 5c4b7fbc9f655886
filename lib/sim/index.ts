// logdaemon/sim: a simulated p4d, for demos and tests of your own listeners.

export { SimulatedP4d, type SimulatedP4dOptions, type RotateMode } from './simulated-p4d.js'
export { RecordGenerator } from './record-generator.js'
