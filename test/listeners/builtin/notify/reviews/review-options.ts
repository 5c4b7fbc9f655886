import t from 'tap'
import { optionsSchema, reviewsOptionsOf } from '../../../../../lib/listeners/builtin/notify/notify-options.js'
import { parseConfig } from '../../../../../lib/daemon/config.js'

const smtp = { host: '127.0.0.1', from: 'P4 <p4@example.com>' }

t.test('reviews: true needs smtp but no fixed recipients; defaults filled', async (t) => {
  const o = optionsSchema.parse({ reviews: true, smtp })
  t.same(reviewsOptionsOf(o), { case: 'auto', includeAuthor: false, groupIdentical: false, cc: [] })
  t.equal(reviewsOptionsOf(optionsSchema.parse({ smtp: { ...smtp, to: ['a@b'] } })), null, 'off unless asked')
  t.throws(() => optionsSchema.parse({ reviews: true, webhook: { url: 'https://x/', secret: 'x'.repeat(16) } }), /reviews needs/)
  t.throws(() => optionsSchema.parse({ smtp }), /smtp needs/, 'without reviews a recipient list is required')
  t.throws(() => optionsSchema.parse({ reviews: { case: 'maybe' }, smtp }))
  t.throws(() => optionsSchema.parse({ reviews: { unknown: 1 }, smtp }), 'strict')
})

t.test('the daemon configuration reports review option errors by key', async (t) => {
  await t.rejects(parseConfig({ server: { root: '/r' }, listeners: [{ type: 'notify', options: { reviews: { includeAuthor: 'yes' }, smtp } }] }), {
    code: 'ERR_CONFIG_INVALID',
    message: /listeners\[0\]\.options\.reviews/,
  })
})
