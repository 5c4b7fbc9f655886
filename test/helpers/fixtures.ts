import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The real p4d files shared beside the project (../shared/fixtures/p4d). */
export const FIXTURE_DIR = fileURLToPath(new URL('../../../shared/fixtures/p4d/', import.meta.url))

export const haveFixtures = existsSync(FIXTURE_DIR)

/** Skip message for tests that need the fixtures. */
export const fixturesSkip = haveFixtures ? false : `real p4d fixtures not found at ${FIXTURE_DIR}`

/** Fixture names with their declared record counts (from the fixtures' README). */
export const FIXTURE_RECORDS: Readonly<Record<string, number>> = {
  'checkpoint-2020-windows-unicode.ckp': 287,
  'checkpoint-2014.ckp': 129,
  'dump-2013-jd.ckp': 108,
  'journal-2014-win1252.jnl': 84,
  'journal-2014-submit.jnl': 19,
}

export function fixtureNames(): string[] {
  if (!haveFixtures) return []
  return readdirSync(FIXTURE_DIR).filter((f) => /\.(ckp|jnl)$/.test(f))
}

export function readFixture(name: string): Buffer {
  return readFileSync(FIXTURE_DIR + name)
}
