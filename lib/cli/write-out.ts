import type { Writable } from 'node:stream'

/**
 * Output is gathered per input chunk and written in one piece: a write per
 * record would cost more than framing it. One chunk of output is the bound
 * (an input chunk, 64 KiB by default, or its JSON, a few times larger).
 * `written` is called once the stream is done with `data` (not on an error).
 */
export async function write(out: Writable, data: string | Buffer, written?: () => void): Promise<void> {
  if (out.destroyed || out.writableEnded) throw Object.assign(new Error('output closed'), { code: 'EPIPE' })
  const more = written ? out.write(data, (err) => err || written()) : out.write(data)
  if (!more) {
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error) => {
        out.off('drain', ok).off('close', closed).off('error', done)
        if (err) reject(err)
        else resolve()
      }
      const ok = () => done()
      const closed = () => done(Object.assign(new Error('output closed'), { code: 'EPIPE' }))
      out.on('drain', ok).on('close', closed).on('error', done)
    })
  }
}
