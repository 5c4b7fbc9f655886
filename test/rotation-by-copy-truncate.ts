import t from 'tap'
import { rotationWhileReading } from './helpers/rotation-scenario.js'

t.test('copy-and-truncate rotations while the follower keeps up', async (t) => {
  const rotations = await rotationWhileReading(t, { mode: 'copy-truncate', seed: 2201 })
  t.ok(
    rotations.some((r) => r.mode === 'copy-truncate'),
    'rotations seen as copy and truncate',
  )
})

t.test('copy-and-truncate rotations while the follower lags and stops reading', async (t) => {
  await rotationWhileReading(t, { mode: 'copy-truncate', seed: 2202, slow: true })
})
