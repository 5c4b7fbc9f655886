import { fileURLToPath, pathToFileURL } from 'node:url'

/** bin/logdaemon-cat.ts, run from source (no build needed). */
export const BIN_TS = fileURLToPath(new URL('../../bin/logdaemon-cat.ts', import.meta.url))

/** The TypeScript loader tap itself uses. */
const LOADER = pathToFileURL(fileURLToPath(new URL('../../node_modules/@tapjs/typescript/dist/esm/import.mjs', import.meta.url))).href

/** Node arguments that run a .ts file the way tap runs the tests. */
export function tsNodeArgs(): string[] {
  return ['--import', LOADER]
}

/** Environment for such a child: no type checking (the tests' own run checks types), so it starts in about a second. */
export function tsNodeEnv(): NodeJS.ProcessEnv {
  return { ...process.env, TS_NODE_TRANSPILE_ONLY: '1' }
}
