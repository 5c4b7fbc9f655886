/**
 * The serial cat's input (openInput: a file, gunzip when its magic says so)
 * when the file is cut under it: every record read before the cut is
 * written, then ERR_JOURNAL_SHRUNK, whatever stage held the last chunk.
 */
import t from 'tap'
import { truncateSync, writeFileSync } from 'node:fs'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { catInput, openInput, type CatOptions } from '../../lib/cli/cat-input.js'

const options: CatOptions = { format: 'raw', encoding: 'utf8', skipMalformed: false, allowIncomplete: false, tables: [], ops: [], where: [] }

t.test('a file cut while cat reads it: the records of every byte read, then ERR_JOURNAL_SHRUNK', async (t) => {
  const dir = t.testdir()
  const file = `${dir}/journal.12`
  const record = '@pv@ 3 @db.have@ @//depot/a/file.c@ 1 \n'
  const text = record.repeat(Math.ceil((1 << 20) / record.length))
  for (let round = 0; round < 3; round++) {
    writeFileSync(file, text)
    const parts: Buffer[] = []
    let cut = false
    // A slow output: the chunk read ahead waits in the input's stages while the next read finds the cut.
    const out = new Writable({
      highWaterMark: 1,
      write(chunk: Buffer, _e, cb) {
        parts.push(Buffer.from(chunk))
        if (!cut) {
          cut = true
          truncateSync(file, 1000)
        }
        sleep(30).then(() => cb())
      },
    })
    const err = await catInput(openInput(file, process.stdin), file, out, options).catch((e: unknown) => e)
    t.match(err, { code: 'ERR_JOURNAL_SHRUNK', file, journal: 12, details: { size: 1000, atOpen: text.length } }, `round ${round}: the cut is named`)
    const offset = (err as { offset: number }).offset
    const whole = Math.floor(offset / record.length) * record.length
    t.equal(Buffer.concat(parts).toString('latin1'), text.slice(0, whole), `round ${round}: every record in the ${offset} bytes read is written`)
  }
})

t.test('raw: a record of many chunks is written as it is, not copied into one buffer with its neighbours', async (t) => {
  const dir = t.testdir()
  const file = `${dir}/journal.3`
  const small = '@pv@ 3 @db.have@ @//depot/a/file.c@ 1 \n'
  // 3 MiB of description: the framer joins its pieces into one buffer, which cat writes as it is.
  const big = `@pv@ 7 @db.desc@ 12 @${'a long line of text, with @@ doubled\n'.repeat(Math.ceil((3 << 20) / 37))}@ \n`
  const text = small.repeat(5000) + big + small.repeat(5000)
  writeFileSync(file, text)
  const parts: Buffer[] = []
  const out = new Writable({
    write(chunk: Buffer, _e, cb) {
      parts.push(chunk)
      cb()
    },
  })
  const counts = await catInput(openInput(file, process.stdin), file, out, options)
  t.equal(counts.entries, 10001)
  t.equal(Buffer.concat(parts).toString('latin1'), text, 'the output is the input, byte for byte')
  const alone = parts.filter((p) => p.length === Buffer.byteLength(big, 'latin1'))
  t.equal(alone.length, 1, 'the big record is one write of its own')
  t.equal(alone[0]?.toString('latin1'), big)
})
