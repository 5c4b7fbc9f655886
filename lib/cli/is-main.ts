import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** Whether the module at `moduleUrl` is the program node was started with (through any symlink, as npm's bin links are). */
export function isMain(moduleUrl: string): boolean {
  const arg = process.argv[1]
  if (!arg) return false
  try {
    return realpathSync(arg) === fileURLToPath(moduleUrl)
  } catch {
    return false
  }
}
