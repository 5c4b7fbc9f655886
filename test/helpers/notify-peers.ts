import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server'

/** One mail as the SMTP server received it. */
export interface ReceivedMail {
  from: string
  to: string[]
  /** The raw message (headers and body) as sent. */
  raw: string
  headers: Map<string, string>
  /** The body, transfer decoding undone (quoted-printable or base64). */
  text: string
}

/** An SMTP reply: its code and its text. */
export interface Reply {
  code: number
  text: string
}

/** A real SMTP server (smtp-server) on 127.0.0.1, port chosen by the OS. */
export interface SmtpPeer {
  port: number
  mails: ReceivedMail[]
  /** Set to an SMTP reply code to refuse the next messages (e.g. 451), or null to accept. */
  refuse: number | null
  /**
   * Replies to RCPT TO, by address as the envelope carries it: a code (452 mailbox full, 550 unknown), or a code and
   * the reply's text (`{ code: 554, text: '5.7.1 Relay access denied' }`, an enhanced status code first).
   */
  rcpt: Record<string, number | Reply>
  /** A reply to every RCPT TO (a relay that refuses this host), or null. */
  rcptAll: Reply | null
  /** A reply code for MAIL FROM (e.g. 530 authentication required), or null to accept. */
  mailFrom: number | null
  /** Refuses messages whose text holds `includes` with `code` (and `text`) at the end of DATA (552: too big). */
  refuseContent: { includes: string; code: number; text?: string } | null
  /** Messages whose text holds this get no answer to their DATA (a process killed while it waits), until `close()`. */
  hang: string | null
  /** How many messages are held unanswered (`hang`). */
  held: number
  close(): Promise<void>
}

export async function startSmtpPeer(options: { auth?: { user: string; pass: string } } = {}): Promise<SmtpPeer> {
  const peer: SmtpPeer = {
    port: 0,
    mails: [],
    refuse: null,
    rcpt: {},
    rcptAll: null,
    mailFrom: null,
    refuseContent: null,
    hang: null,
    held: 0,
    close: async () => {},
  }
  const reply = (code: number, text: string) => Object.assign(new Error(text), { responseCode: code })
  const hanging: (() => void)[] = []
  const server = new SMTPServer({
    // Plain SMTP on loopback: no certificate to provide or trust in the test.
    disabledCommands: options.auth ? ['STARTTLS'] : ['STARTTLS', 'AUTH'],
    allowInsecureAuth: true,
    authOptional: !options.auth,
    logger: false,
    onAuth(auth, _session, cb) {
      if (options.auth && auth.username === options.auth.user && auth.password === options.auth.pass) {
        cb(null, { user: auth.username })
      } else {
        cb(new Error('bad credentials'))
      }
    },
    onMailFrom(_address, _session, cb) {
      if (peer.mailFrom !== null) cb(reply(peer.mailFrom, 'sender refused by the test'))
      else cb()
    },
    onRcptTo(address, _session, cb) {
      const r = peer.rcpt[address.address] ?? peer.rcptAll ?? undefined
      if (typeof r === 'number') cb(reply(r, `recipient ${address.address} refused by the test`))
      else if (r !== undefined) cb(reply(r.code, r.text))
      else cb()
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = []
      stream.on('data', (c: Buffer) => chunks.push(c))
      stream.on('end', () => {
        if (peer.refuse !== null) {
          cb(Object.assign(new Error('refused by the test'), { responseCode: peer.refuse }))
          return
        }
        const raw = Buffer.concat(chunks).toString('utf8')
        if (peer.hang !== null && raw.includes(peer.hang)) {
          hanging.push(() => cb(reply(451, 'never answered')))
          peer.held++
          return
        }
        if (peer.refuseContent !== null && raw.includes(peer.refuseContent.includes)) {
          cb(reply(peer.refuseContent.code, peer.refuseContent.text ?? 'message refused by the test'))
          return
        }
        peer.mails.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
          ...parseMail(raw),
        })
        cb()
      })
    },
  })
  // A client killed mid-session (the kill -9 tests) resets its connection, which smtp-server reports as an
  // 'error' event: with no listener that was an uncaught exception in the test process. Anything else still is.
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') throw err
  })
  server.listen(0, '127.0.0.1')
  await once(server.server, 'listening')
  peer.port = (server.server.address() as AddressInfo).port
  peer.close = () => {
    for (const answer of hanging.splice(0)) answer()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return peer
}

function parseMail(raw: string): { headers: Map<string, string>; text: string } {
  const split = raw.indexOf('\r\n\r\n')
  const head = raw.slice(0, split).replace(/\r\n[ \t]+/g, ' ')
  const headers = new Map<string, string>()
  for (const line of head.split('\r\n')) {
    const colon = line.indexOf(':')
    if (colon > 0) headers.set(line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim())
  }
  let body = raw.slice(split + 4)
  const cte = headers.get('content-transfer-encoding')?.toLowerCase()
  if (cte === 'quoted-printable') {
    body = Buffer.from(
      body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))),
      'latin1',
    ).toString('utf8')
  } else if (cte === 'base64') {
    body = Buffer.from(body, 'base64').toString('utf8')
  }
  headers.set('subject', decodeWords(headers.get('subject') ?? ''))
  return { headers, text: body.replace(/\r\n/g, '\n') }
}

/** RFC 2047 encoded words (=?UTF-8?Q?…?= / =?UTF-8?B?…?=) in a header. */
function decodeWords(value: string): string {
  return value.replace(/\?=\s+=\?/g, '?==?').replace(/=\?utf-8\?([qb])\?([^?]*)\?=/gi, (_m, kind: string, text: string) =>
    kind.toLowerCase() === 'b'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(
          text.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/gi, (_x, h: string) => String.fromCharCode(parseInt(h, 16))),
          'latin1',
        ).toString('utf8'),
  )
}

/** One request as the HTTP server received it. */
export interface ReceivedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: Buffer
}

/** A real node:http server on 127.0.0.1 that records requests and answers as told. */
export interface HttpPeer {
  url: string
  requests: ReceivedRequest[]
  /** How to answer requests: a status code, or 'hang' to never answer. Default 204. */
  answer: number | 'hang'
  /** Answers for the next requests, used up first, before `answer`. */
  answerQueue: Array<number | 'hang'>
  close(): Promise<void>
}

export async function startHttpPeer(): Promise<HttpPeer> {
  const hanging = new Set<ServerResponse>()
  const peer: HttpPeer = { url: '', requests: [], answer: 204, answerQueue: [], close: async () => {} }
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      peer.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) })
      const answer = peer.answerQueue.shift() ?? peer.answer
      if (answer === 'hang') {
        hanging.add(res)
        return
      }
      if (answer >= 300 && answer < 400) res.setHeader('location', '/elsewhere')
      res.statusCode = answer
      res.end(answer >= 400 ? 'receiver says no' : undefined)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  peer.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  peer.close = async () => {
    for (const res of hanging) res.destroy()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return peer
}
