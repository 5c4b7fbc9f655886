import t from 'tap'
import { join } from 'node:path'
import { suite } from './sql-suite.js'

let n = 0
suite(t, async (t) => `sqlite:${join(t.testdir(), `replica-${++n}.db`)}`)
