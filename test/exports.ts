// The public API of the three entry points, pinned: a name added or dropped
// here is a change to what users may import, and should be deliberate.
import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath, pathToFileURL } from 'node:url'

const DIST = fileURLToPath(new URL('../dist/lib/', import.meta.url))
const distSkip = existsSync(`${DIST}index.js`) ? false : 'dist/ is missing: run npm run build'

const ENTRY_POINTS = {
  logdaemon: {
    file: 'index',
    values: [
      'BaseListener',
      'DEFAULT_MAX_ENTRY_BYTES',
      'DEFAULT_RETRY',
      'ErrorCodes',
      'JetStreamJournalSource',
      'JournalEntry',
      'JournalEntryTransform',
      'ListenerChain',
      'ListenerWritable',
      'LogdaemonError',
      'RotatingJournalSource',
      'changeStatusNames',
      'comparePositions',
      'createEntryFilter',
      'createGunzip',
      'createJournalReader',
      'dateOf',
      'describeJournalChain',
      'encodeEntry',
      'encodeRecord',
      'entryToJson',
      'entryToRowJson',
      'flagName',
      'flagNames',
      'formatPosition',
      'isDataOp',
      'isListener',
      'isLogdaemonError',
      'isoDate',
      'layoutOf',
      'layoutsOf',
      'maybeGunzip',
      'nameRow',
      'parsePosition',
      'releaseRange',
      'releasesOf',
      'schemaTables',
      'tableVersions',
      'typedValue',
    ],
    types: [
      'ArchiveFile',
      'ArchivedJournal',
      'ChainObserver',
      'Column',
      'ColumnKind',
      'EntryFilterOptions',
      'EntryJson',
      'EntryPosition',
      'EntryRowJson',
      'ErrorCode',
      'ErrorWhere',
      'FieldEncoding',
      'FieldValue',
      'GunzipOptions',
      'JetStreamJournalSourceOptions',
      'JetStreamStart',
      'JetStreamStateAhead',
      'JournalChain',
      'JournalEntryOptions',
      'JournalEntryTransformOptions',
      'JournalLayout',
      'JournalPosition',
      'JournalReaderOptions',
      'Layout',
      'Listener',
      'ListenerChainOptions',
      'ListenerContext',
      'ListenerFactory',
      'ListenerLogger',
      'ListenerObserver',
      'ListenerSpec',
      'ListenerWritableOptions',
      'LogdaemonErrorOptions',
      'NamedRow',
      'RecordSpec',
      'ReleaseRange',
      'RetryOptions',
      'RotateEvent',
      'RotatingJournalSourceOptions',
      'RotationMode',
      'Row',
      'RowValue',
      'SkipReport',
      'SourceSkipReport',
      'SourceStatus',
      'StartPoint',
      'TableVersion',
      'WhereClause',
    ],
  },
  'logdaemon/daemon': {
    file: 'daemon/index',
    values: [
      'BUILTIN_LISTENER_TYPES',
      'DEFAULT_STATUS_PORT',
      'Daemon',
      'HotBackupListener',
      'JetStreamListener',
      'MirrorListener',
      'NotifyListener',
      'PrintListener',
      'SqlListener',
      'checkListenerModule',
      'configSchema',
      'loadConfig',
      'loadListener',
      'parseConfig',
      'sqlLoad',
      'verifySignature',
    ],
    types: [
      'BuiltinListenerType',
      'ChangeFile',
      'ChangePayload',
      'ConfigInput',
      'DaemonConfig',
      'DaemonOptions',
      'HotBackupInput',
      'HotBackupOptions',
      'JetStreamListenerOptions',
      'ListenerConfig',
      'ListenerModuleRef',
      'LoadListenerOptions',
      'MirrorOptions',
      'NotifyInput',
      'NotifyOptions',
      'PrintOptions',
      'SqlLoadOptions',
      'SqlLoadSummary',
      'SqlOptions',
      'SubmittedChange',
    ],
  },
  'logdaemon/sim': {
    file: 'sim/index',
    values: ['RecordGenerator', 'SimulatedP4d'],
    types: ['AppendResult', 'RecordGeneratorOptions', 'RotateMode', 'RotateResult', 'RunOptions', 'RunSummary', 'SimulatedP4dOptions', 'TransactionAppend'],
  },
} as const

/** The names a declaration file exports as types only (`type X` inside `export { … }`, or `export type { … }`). */
function typeExports(dts: string): string[] {
  const names: string[] = []
  for (const [, typeOnly, list] of dts.matchAll(/export (type )?\{([^}]*)\}/g)) {
    for (const item of list!
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      if (typeOnly) names.push(item)
      else if (item.startsWith('type ')) names.push(item.slice(5).trim())
    }
  }
  return names.sort()
}

for (const [name, want] of Object.entries(ENTRY_POINTS)) {
  t.test(`${name} exports exactly its API`, { skip: distSkip }, async (t) => {
    const module = (await import(pathToFileURL(`${DIST}${want.file}.js`).href)) as Record<string, unknown>
    t.same(Object.keys(module).sort(), [...want.values].sort(), 'values')
    t.same(typeExports(readFileSync(`${DIST}${want.file}.d.ts`, 'utf8')), [...want.types].sort(), 'types')
  })
}

t.test('package.json maps the entry points to dist', async (t) => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { exports: Record<string, { default: string; types: string }> }
  for (const [name, want] of Object.entries(ENTRY_POINTS)) {
    const key = name === 'logdaemon' ? '.' : `./${name.slice('logdaemon/'.length)}`
    t.same(pkg.exports[key], { types: `./dist/lib/${want.file}.d.ts`, default: `./dist/lib/${want.file}.js` }, name)
  }
})
