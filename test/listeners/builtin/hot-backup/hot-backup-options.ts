import t from 'tap'
import { DEFAULT_MAX_BUFFER_BYTES, optionsSchema } from '../../../../lib/listeners/builtin/hot-backup/hot-backup-options.js'

t.test('defaults', async (t) => {
  const o = optionsSchema.parse({ host: 'standby', remoteDir: '/p4/hot' })
  t.same(o, {
    host: 'standby',
    user: null,
    port: null,
    identityFile: null,
    knownHostsFile: null,
    sshConfigFile: null,
    sshOptions: {},
    ssh: 'ssh',
    remoteDir: '/p4/hot',
    replay: null,
    remoteCommand: null,
    fsync: true,
    maxBufferBytes: DEFAULT_MAX_BUFFER_BYTES,
    connectTimeout: 15,
    answerTimeout: 600,
    reconnect: {},
  })
  t.equal(DEFAULT_MAX_BUFFER_BYTES, 16 * 1024 * 1024)
  t.same(optionsSchema.parse({ host: 'h', remoteDir: 'd', reconnect: { retries: 1 } }).reconnect, { retries: 1 })
})

t.test('every error names the key', async (t) => {
  const bad = (input: unknown, path: string) => {
    const r = optionsSchema.safeParse(input)
    t.notOk(r.success, `${JSON.stringify(input)} is refused`)
    if (!r.success)
      t.ok(
        r.error.issues.some((i) => i.path.join('.') === path || (path === '' && i.code === 'unrecognized_keys')),
        `names ${path || 'the unknown key'}`,
      )
  }
  bad({ host: 'standby' }, 'remoteDir')
  bad({ host: 'standby', remoteDir: 'd', colour: 1 }, '')
  bad({ host: '-oProxyCommand=x', remoteDir: 'd' }, 'host')
  bad({ host: 'h', remoteDir: 'd', sshOptions: { batchmode: 'no' } }, 'sshOptions')
  bad({ host: 'h', remoteDir: 'd', sshOptions: { StrictHostKeyChecking: 'no' } }, 'sshOptions')
  bad({ host: 'h', remoteDir: 'd', port: 70000 }, 'port')
  bad({ host: 'h', remoteDir: 'd', maxBufferBytes: 0 }, 'maxBufferBytes')
  bad({ host: 'h', remoteDir: 'd', answerTimeout: -1 }, 'answerTimeout')
  bad({ host: 'h', remoteDir: 'd', answerTimeout: 1.5 }, 'answerTimeout')
  bad({ host: 'h', remoteDir: 'd', answerTimeout: 2147484 }, 'answerTimeout')
  bad({ host: 'h', remoteDir: 'd', reconnect: { tries: 3 } }, 'reconnect')
  t.ok(optionsSchema.safeParse({ host: 'standby', remoteCommand: '/usr/local/bin/hot-backup-receiver' }).success, 'remoteCommand instead of remoteDir')
})

t.test('the listener validates its options when constructed, not when it runs', async (t) => {
  const { HotBackupListener } = await import('../../../../lib/listeners/builtin/hot-backup/hot-backup.js')
  t.throws(() => new HotBackupListener({ host: 'standby' }, 'hb'), { code: 'ERR_CONFIG_INVALID', message: /^listener "hb": invalid options:\n.*remoteDir/s })
  t.throws(() => new HotBackupListener({ host: '-oProxyCommand=x', remoteDir: 'd' }), { code: 'ERR_CONFIG_INVALID', message: /host/ })
  t.doesNotThrow(() => new HotBackupListener({ host: 'standby', remoteDir: '/p4/hot', reconnect: { retries: 1 } }))
})
