/**
 * gzip input for the scenarios: our createGunzip with a chosen inflater,
 * or null (with the reason) when that inflater cannot load here: zlib-sync
 * is an optional native dependency.
 */
import type { Transform } from 'node:stream'
import { createGunzip, type InflaterChoice } from '../../lib/files/gunzip.js'

export function tryGunzip(inflater: InflaterChoice, file: string): { gunzip: Transform } | { why: string } {
  try {
    return { gunzip: createGunzip({ inflater, file }) }
  } catch (err) {
    return { why: err instanceof Error ? err.message : String(err) }
  }
}
