/**
 * A nats-server with JetStream for the JetStream scenarios: 127.0.0.1 on a
 * free port, its store in a temporary directory, stopped (and the store
 * removed) by `stop()`. Null when nats-server is not installed.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']

export interface BenchNats {
  readonly url: string
  stop(): Promise<void>
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address()
      srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0))
    })
  })
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket()
    s.once('connect', () => {
      s.destroy()
      resolve(true)
    })
    s.once('error', () => resolve(false))
    s.connect(port, '127.0.0.1')
  })
}

export async function startBenchNats(): Promise<BenchNats | null> {
  const bin = CANDIDATES.find((p) => existsSync(p))
  if (!bin) return null
  const dir = mkdtempSync(join(tmpdir(), 'logdaemon-bench-nats-'))
  const port = await freePort()
  const conf = join(dir, 'nats.conf')
  writeFileSync(conf, `listen: 127.0.0.1:${port}\njetstream { store_dir: ${JSON.stringify(join(dir, 'store'))} }\n`)
  const child = spawn(bin, ['-c', conf], { stdio: 'ignore' })
  const deadline = Date.now() + 20_000
  while (!(await listening(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`nats-server did not start on port ${port}`)
    await sleep(50)
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
