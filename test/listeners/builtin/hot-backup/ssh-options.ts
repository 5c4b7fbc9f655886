/**
 * sshOptions cannot turn off what hot-backup fixes (BatchMode, strict host
 * key checking): checked by the schema and by what the real ssh client
 * makes of the arguments (`ssh -G` prints the effective configuration).
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { optionsSchema } from '../../../../lib/listeners/builtin/hot-backup/hot-backup-options.js'
import { sshArgs, type SshTarget } from '../../../../lib/listeners/builtin/hot-backup/ssh-channel.js'

const base: SshTarget = {
  ssh: 'ssh',
  host: 'standby',
  user: null,
  port: null,
  identityFile: null,
  knownHostsFile: '/kh',
  configFile: 'none',
  connectTimeout: 15,
  options: {},
}

let sshFound = true
try {
  execFileSync('ssh', ['-V'], { stdio: 'ignore' })
} catch {
  sshFound = false
}

/** The effective client configuration for these arguments, as ssh itself reads them. */
function effective(args: string[]): Map<string, string> {
  const text = execFileSync('ssh', ['-G', ...args], { encoding: 'utf8' })
  return new Map(
    text
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
  )
}

t.test('keys that are not plain option names, or name a fixed option in any case, are refused', async (t) => {
  const refused = [
    ' StrictHostKeyChecking',
    'StrictHostKeyChecking ',
    '\tBatchMode',
    'stricthostkeychecking',
    'BATCHMODE',
    'BatchMode=no',
    'Strict HostKeyChecking',
    '',
    '-oBatchMode',
    'Ciphers\n',
  ]
  for (const key of refused) {
    const r = optionsSchema.safeParse({ host: 'h', remoteDir: 'd', sshOptions: { [key]: 'no' } })
    t.notOk(r.success, `${JSON.stringify(key)} is refused`)
    if (!r.success)
      t.ok(
        r.error.issues.some((i) => i.path[0] === 'sshOptions'),
        'the error names sshOptions',
      )
  }
  for (const key of ['UserKnownHostsFile', 'userknownhostsfile', 'ConnectTimeout', 'IdentitiesOnly', 'IdentityFile', 'Port', 'User']) {
    t.notOk(optionsSchema.safeParse({ host: 'h', remoteDir: 'd', sshOptions: { [key]: 'x' } }).success, `${key} has its own option and is refused`)
  }
  t.notOk(
    optionsSchema.safeParse({ host: 'h', remoteDir: 'd', sshOptions: { Ciphers: 'aes128-ctr\nStrictHostKeyChecking no' } }).success,
    'a value with a line end is refused',
  )
  t.ok(
    optionsSchema.safeParse({ host: 'h', remoteDir: 'd', sshOptions: { Ciphers: 'aes128-gcm@openssh.com', ServerAliveInterval: '5' } }).success,
    'plain options pass',
  )
})

t.test('the fixed options come first, so ssh keeps them; user options replace defaults, not fixed values', async (t) => {
  const args = sshArgs({ ...base, options: { ' StrictHostKeyChecking': 'no', batchmode: 'no', ServerAliveInterval: '5' } }, 'cmd')
  const opts = args.flatMap((a, i) => (args[i - 1] === '-o' ? [a] : []))
  t.same(opts.slice(0, 2), ['BatchMode=yes', 'StrictHostKeyChecking=yes'], 'first')
  t.notOk(
    opts.some((o) => /^\s*(batchmode|stricthostkeychecking)=no$/i.test(o)),
    'a clashing key never reaches ssh (even unvalidated)',
  )
  t.ok(opts.includes('ServerAliveInterval=5'))
  t.notOk(opts.includes('ServerAliveInterval=15'), 'one value per option')
})

t.test(
  'what ssh itself makes of hostile options: strict host keys and batch mode stay on',
  { skip: !sshFound && 'no ssh client: install openssh-client' },
  async (t) => {
    const hostile = { ' StrictHostKeyChecking': 'no', batchmode: 'no', ' UserKnownHostsFile': '/dev/null', Ciphers: 'aes128-ctr' }
    const conf = effective(sshArgs({ ...base, options: hostile }, 'cmd'))
    t.equal(conf.get('stricthostkeychecking'), 'true')
    t.equal(conf.get('batchmode'), 'yes')
    t.equal(conf.get('userknownhostsfile'), '/kh')
    t.equal(conf.get('ciphers'), 'aes128-ctr', 'plain options still reach ssh')
  },
)
