import t from 'tap'
import { rotationWhileReading } from './helpers/rotation-scenario.js'

t.test('rename-then-gzip rotations while the follower keeps up', async (t) => {
  await rotationWhileReading(t, { mode: 'rename-gzip', seed: 3301 })
})

t.test('rename-then-gzip rotations while the follower lags and stops reading', async (t) => {
  await rotationWhileReading(t, { mode: 'rename-gzip', seed: 3302, slow: true })
})

t.test('all three modes mixed at random, lagging follower', async (t) => {
  await rotationWhileReading(t, { mode: 'random', seed: 3303, slow: true, transactions: 400 })
})
