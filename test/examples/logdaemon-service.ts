import t from 'tap'
import { readFileSync } from 'node:fs'

const unit = readFileSync(new URL('../../examples/logdaemon.service', import.meta.url), 'utf8')

t.test('the systemd unit creates files for the service user only', async (t) => {
  t.match(unit, /^UMask=0077$/m)
})

t.test('the unit runs check before run, and does not restart on a usage error', async (t) => {
  t.match(unit, /^ExecStartPre=.* check /m)
  t.match(unit, /^RestartPreventExitStatus=2$/m)
})
