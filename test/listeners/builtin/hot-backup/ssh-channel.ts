import t from 'tap'
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { remoteCommand } from '../../../../lib/listeners/builtin/hot-backup/hot-backup-remote.js'
import type { ListenerLogger } from '../../../../lib/listeners/listener.js'
import { SshChannel, sshArgs, sshError, type SshTarget } from '../../../../lib/listeners/builtin/hot-backup/ssh-channel.js'
import { startSshd, sshdSkip, type Sshd } from '../../../helpers/sshd.js'

const base: SshTarget = {
  ssh: 'ssh',
  host: 'standby',
  user: null,
  port: null,
  identityFile: null,
  knownHostsFile: null,
  configFile: null,
  connectTimeout: 15,
  options: {},
}

const silent: ListenerLogger = { debug() {}, info() {}, warn() {}, error() {} }

t.test('ssh arguments: batch mode, strict host keys, the host after --, the command last', async (t) => {
  const args = sshArgs(
    {
      ...base,
      user: 'perforce',
      port: 2222,
      identityFile: '/k',
      knownHostsFile: '/kh',
      configFile: 'none',
      options: { Ciphers: 'aes128-ctr', BatchMode: 'no' },
    },
    'the command',
  )
  const opts = args.flatMap((a, i) => (args[i - 1] === '-o' ? [a] : []))
  t.ok(opts.includes('BatchMode=yes'), 'BatchMode cannot be turned off')
  t.notOk(opts.includes('BatchMode=no'))
  t.ok(opts.includes('StrictHostKeyChecking=yes'))
  t.ok(opts.includes('UserKnownHostsFile=/kh'))
  t.ok(opts.includes('IdentitiesOnly=yes'))
  t.ok(opts.includes('Ciphers=aes128-ctr'))
  t.ok(opts.includes('ConnectTimeout=15'))
  t.same(args.slice(0, 5), ['-T', '-x', '-a', '-F', 'none'])
  t.same(args.slice(-3), ['--', 'standby', 'the command'])
  t.ok(args.includes('-p') && args.includes('2222') && args.includes('-l') && args.includes('perforce'))
  const plain = sshArgs(base, 'c')
  t.notOk(plain.includes('-p') || plain.includes('-l') || plain.includes('-i') || plain.includes('-F'), 'ssh defaults when unset')
})

t.test('ssh failures get stable codes and say what to do', async (t) => {
  const hk = sshError(base, 'Host key verification failed.\n', 'exit code 255', null)
  t.equal(hk.code, 'ERR_SSH_HOST_KEY')
  t.equal(hk.retryable, false, 'the daemon does not retry what a retry cannot fix')
  t.match(hk.message, /~\/\.ssh\/known_hosts/)
  t.equal(sshError(base, 'No ED25519 host key is known for [h]:22 and you have requested strict checking.', 'x', null).code, 'ERR_SSH_HOST_KEY')
  const auth = sshError({ ...base, user: 'p4', port: 22 }, 'p4@standby: Permission denied (publickey).', 'exit code 255', null)
  t.equal(auth.code, 'ERR_SSH_AUTH')
  t.equal(auth.retryable, false)
  t.match(auth.message, /p4@standby:22/)
  const other = sshError(base, 'ssh: connect to host standby port 22: Connection refused', 'exit code 255', null)
  t.equal(other.code, 'ERR_REMOTE_FAILED')
  t.equal(other.retryable, true, 'a refused connection may come back')
  t.match(other.message, /Connection refused/)
  t.match(sshError(base, 'noise', 'exit code 5', 'replay of x failed').message, /the standby said: replay of x failed \(its errors: noise\)/)
  const full = sshError(base, "a\nb\nhead: error writing 'standard output': No space left on device\n", 'exit code 4', 'short write to /s/journal.1')
  t.match(full.message, /short write to \/s\/journal\.1 \(its errors: a \| b \| head: error writing 'standard output': No space left on device\)/, 'with why')
  t.equal(sshError(base, '', 'exit code 4', 'short write').message.endsWith('the standby said: short write'), true, 'no errors: none said')
  t.match(sshError(base, '', 'killed by SIGKILL', null).message, /killed by SIGKILL.*no message/)
})

t.test('a missing ssh program', async (t) => {
  await t.rejects(SshChannel.open({ ...base, ssh: '/nonexistent/ssh' }, 'x', silent), { code: 'ERR_REMOTE_FAILED', message: /cannot run/ })
})

t.test('against a real sshd', { skip: sshdSkip }, async (t) => {
  const root = t.testdir()
  const sshd: Sshd = await startSshd(root)
  t.teardown(() => sshd.stop())
  const target: SshTarget = {
    ...base,
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    identityFile: sshd.identityFile,
    knownHostsFile: sshd.knownHosts,
    configFile: 'none',
    options: { GlobalKnownHostsFile: '/dev/null' },
  }
  const warned: string[] = []
  const logger: ListenerLogger = { ...silent, warn: (_o, msg) => void warned.push(msg ?? '') }

  t.test('requests and answers in order; output before the hello is skipped', async (t) => {
    const dir = join(root, 'standby')
    const ch = await SshChannel.open(target, `echo 'Welcome to the standby'; ${remoteCommand({ dir, replay: null })}`, logger)
    t.ok(warned.some((m) => m.includes('before the hello')))
    const sizes = await Promise.all([ch.query(1), ch.write(1, 0, Buffer.from('abc')), ch.write(1, 3, Buffer.from('\n\0@')), ch.query(1)])
    t.same(sizes, [0, 3, 6, 6])
    t.equal(readFileSync(join(dir, 'journal.1'), 'latin1'), 'abc\n\0@')
    await ch.close()
    t.ok(ch.isFailed, 'a closed channel is done')
    await t.rejects(ch.query(1), { code: 'ERR_REMOTE_FAILED' })
  })

  t.test("the standby's E line becomes the error", async (t) => {
    const ch = await SshChannel.open(target, remoteCommand({ dir: join(root, 'e'), replay: null }), silent)
    await t.rejects(ch.write(1, 9, Buffer.from('x')), { code: 'ERR_REMOTE_FAILED', message: /the standby said: gap/ })
    t.match(await ch.failed, { code: 'ERR_REMOTE_FAILED' })
  })

  t.test('answers out of protocol', async (t) => {
    await t.rejects(SshChannel.open(target, 'echo "H logdaemon-hot-backup 99"; cat > /dev/null', silent), { message: /protocol version 99/ })
    const stray = await SshChannel.open(target, 'echo "H logdaemon-hot-backup 1"; read x; echo "A 1 5"; cat > /dev/null', silent)
    await t.rejects(stray.query(1), { code: 'ERR_REMOTE_FAILED', message: /unexpected answer "A 1 5"/ })
    const long = await SshChannel.open(target, 'echo "H logdaemon-hot-backup 1"; read x; head -c 5000 /dev/zero | tr "\\0" x; cat > /dev/null', silent)
    await t.rejects(long.query(1), { message: /overlong line/ })
  })

  t.test('a standby that never says hello times out', async (t) => {
    await t.rejects(SshChannel.open({ ...target, connectTimeout: 3 }, 'cat > /dev/null', silent), {
      code: 'ERR_REMOTE_FAILED',
      message: /no answer .* within 6 s/,
    })
  })

  t.test('destroy fails what is pending', async (t) => {
    const ch = await SshChannel.open(target, 'echo "H logdaemon-hot-backup 1"; cat > /dev/null', silent)
    const q = ch.query(1)
    ch.destroy()
    await t.rejects(q, { message: /connection closed/ })
    await ch.close()
  })

  t.test('host key and login failures', async (t) => {
    await t.rejects(SshChannel.open({ ...target, knownHostsFile: sshd.wrongKnownHosts }, 'true', silent), { code: 'ERR_SSH_HOST_KEY' })
    await t.rejects(SshChannel.open({ ...target, identityFile: join(root, 'other_host_key') }, 'true', silent), { code: 'ERR_SSH_AUTH' })
  })
})
