import { domainToASCII } from 'node:url'
import MimeNode from 'nodemailer/lib/mime-node'

/** The part of nodemailer's MimeNode that rewrites an address for the envelope (not in its typings: it is marked internal). */
interface AddressNormalizer {
  _normalizeAddress?: (address: string) => string
}

const mime = new MimeNode() as unknown as AddressNormalizer

/**
 * An address as nodemailer puts it into the SMTP envelope, and so as the
 * server's replies and nodemailer's `accepted` / `rejected` name it: the
 * domain lower-cased, and punycoded when the local part is ASCII
 * (`Bob@Example.COM` gives `Bob@example.com`, `a@jõgeva.ee` gives
 * `a@xn--jgeva-dua.ee`). Every recipient is kept in this form (envelope,
 * outcome, state), so a refusal is never missed for a spelling.
 *
 * nodemailer's own function when it has one (the same version that sends);
 * else the same rule by `url.domainToASCII`.
 */
export function normalizeAddress(address: string): string {
  if (typeof mime._normalizeAddress === 'function') return mime._normalizeAddress(address)
  const at = address.lastIndexOf('@')
  if (at < 0) return address.trim()
  const local = address.slice(0, at).trim()
  const domain = address.slice(at + 1).trim()
  // A non-ASCII local part needs SMTPUTF8 anyway: nodemailer keeps the domain in Unicode then.
  if (/[^\x00-\x7f]/.test(local)) return `${local}@${domain.toLowerCase()}`
  return `${local}@${domainToASCII(domain) || domain.toLowerCase()}`
}
