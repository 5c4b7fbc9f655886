import t from 'tap'
import { LineBuffer, MIN_BUFFER } from '../../lib/journal/line-buffer.js'
import { JsonLineWriter } from '../../lib/journal/json-line-writer.js'
import { RowLineWriter } from '../../lib/journal/row-line-writer.js'

t.test('take hands the buffer over; takeView lends it and keeps it', async (t) => {
  const lines = new LineBuffer()
  t.equal(lines.take(), null, 'nothing written')
  t.equal(lines.takeView(), null, 'nothing written')
  lines.addText('a\n')
  const first = lines.out
  const view = lines.takeView()
  t.equal(view?.toString(), 'a\n')
  t.equal(lines.out, first, 'the same buffer goes on')
  t.equal(view?.buffer, first.buffer, 'the view is of that buffer')
  lines.addText('bc\n')
  t.equal(lines.takeView()?.toString(), 'bc\n', 'written from the start again')
  lines.addText('d\n')
  const taken = lines.take()
  t.equal(taken?.toString(), 'd\n')
  t.not(lines.out, first, 'take starts a new buffer')
  t.ok(lines.out.length >= MIN_BUFFER)
})

t.test('a grown buffer is kept by takeView', async (t) => {
  const lines = new LineBuffer()
  const big = 'x'.repeat(MIN_BUFFER + 10) + '\n'
  lines.addText(big)
  const grown = lines.out
  t.ok(grown.length > MIN_BUFFER)
  t.equal(lines.takeView()?.length, big.length)
  t.equal(lines.out, grown)
})

t.test('the writers lend the same lines they would hand over', async (t) => {
  const record = Buffer.from('@pv@ 3 @db.have@ @//c/f@ @//depot/f@ 1 0 1620025783 \n@ex@ 1 2\n')
  for (const make of [() => new JsonLineWriter('f', 'utf8'), () => new RowLineWriter('f', 'utf8')]) {
    const a = make()
    const b = make()
    for (const w of [a, b]) {
      w.add(record, 0, 53, 3, 0, 1)
      w.add(record, 53, record.length, 3, 53, 2)
    }
    const given = a.take()
    const lent = b.takeView()
    t.ok(given && lent && given.equals(lent), a.constructor.name)
    t.equal(b.takeView(), null, `${a.constructor.name}: lent once`)
  }
})
