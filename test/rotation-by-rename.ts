import t from 'tap'
import { rotationWhileReading } from './helpers/rotation-scenario.js'

t.test('rename rotations while the follower keeps up', async (t) => {
  const rotations = await rotationWhileReading(t, { mode: 'rename', seed: 1101 })
  t.ok(
    rotations.some((r) => r.mode === 'rename'),
    'rotations seen as renames',
  )
})

t.test('rename rotations while the follower lags and stops reading', async (t) => {
  await rotationWhileReading(t, { mode: 'rename', seed: 1102, slow: true })
})
