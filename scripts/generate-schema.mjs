#!/usr/bin/env node
// Writes lib/schema/p4-schema-data.ts, the package's own compact copy of
// Perforce's published database schema, from the facts file shared beside
// the project (../shared/schema/p4-schema.json, releases 2006.2 to 2024.1).
//
//   node scripts/generate-schema.mjs [--in p4-schema.json] [--out file.ts]
//
// The output is committed, so a clone works without ../shared; the test
// test/schema/generate-schema.ts checks that regenerating gives it byte for
// byte. What the source documents get wrong is repaired here, each repair
// named in ERRATA below, and the generator refuses input it cannot resolve
// (a key that names no column, a type it cannot classify) instead of
// guessing silently.

import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

/**
 * Key names the documents spell differently from any column of the same
 * layout, beyond case and list-in-one-string (which are resolved generally).
 * `table key-name` → the column it means. Each was read off the layout's own
 * columns (the short or renamed column of the same meaning).
 */
const KEY_ERRATA = {
  'db.config serverName': 'sname',
  'db.graphindex name': 'fileName',
  'db.graphindex date': 'commitDate',
  'db.jnlack id': 'serverId',
  'db.jobdesc job': 'xjob',
  'db.property seq': 'sequence',
  'db.resolveg toFile': 'tfile',
  'db.resolveg fromFile': 'ffile',
  // The later layout of the same version keys on (toFile, fromFile, baseSHA);
  // the first one has no startFromRev column, its base is `basesha`.
  'db.resolveg startFromRev': 'basesha',
  'db.scanctl file': 'depotPath',
  'db.template sequence': 'seq',
  'db.templatesx sequence': 'seq',
  'db.templatewx sequence': 'seq',
  // db.haveview 1 documents (name, domain) but has no domain column; like
  // db.view, whose columns it repeats, its rows are keyed by name and seq.
  'db.haveview domain': 'seq',
  'db.workingg clientFile': 'cfile',
}

/**
 * Column type names used by layouts but not described among the datatypes
 * (beyond a case difference, resolved generally): their kind.
 */
const TYPE_ERRATA = {
  // Written "Integer" once where every other layout says Int.
  Integer: 'integer',
  // Librarian revisions: `1.5` text (db.rev lbrRev and its siblings).
  LbrRev: 'text',
}

const KIND_OF_BASE = { integer: 'integer', string: 'text', flag: 'flag', bitmask: 'bitmask' }

function parseArgs(argv) {
  const args = { in: root + '../shared/schema/p4-schema.json', out: root + 'lib/schema/p4-schema-data.ts' }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if ((a === '--in' || a === '--out') && argv[i + 1] !== undefined) args[a.slice(2)] = argv[++i]
    else throw new Error(`usage: generate-schema.mjs [--in p4-schema.json] [--out file.ts] (not ${a})`)
  }
  return args
}

function releaseOrder(a, b) {
  const [ay, am] = a.split('.').map(Number)
  const [by, bm] = b.split('.').map(Number)
  return ay - by || am - bm
}

function kindOf(type, datatypes) {
  const exact = datatypes[type]
  if (exact) return KIND_OF_BASE[exact.base]
  const folded = Object.keys(datatypes).find((name) => name.toLowerCase() === type.toLowerCase())
  if (folded) return KIND_OF_BASE[datatypes[folded].base]
  const erratum = Object.keys(TYPE_ERRATA).find((name) => name.toLowerCase() === type.toLowerCase())
  if (erratum) return TYPE_ERRATA[erratum]
  throw new Error(`column type ${type} is not described: add it to TYPE_ERRATA`)
}

function resolveKey(table, version, key, names) {
  const resolved = []
  for (const name of key.flatMap((k) => k.split(/\s+/)).filter(Boolean)) {
    let column = names.find((n) => n === name) ?? names.find((n) => n.toLowerCase() === name.toLowerCase())
    if (column === undefined) {
      const erratum = KEY_ERRATA[`${table} ${name}`]
      if (erratum !== undefined && names.includes(erratum)) column = erratum
    }
    if (column === undefined) throw new Error(`${table} ${version}: key ${name} names no column of ${names.join(' ')}`)
    if (!resolved.includes(column)) resolved.push(column)
  }
  return resolved
}

function generate(source) {
  const releases = new Set()
  for (const versions of Object.values(source.tables))
    for (const layouts of Object.values(versions)) for (const l of layouts) for (const r of l.releases) releases.add(r)
  const order = [...releases].sort(releaseOrder)
  const index = (r) => order.indexOf(r)

  const types = new Map()
  const rows = []
  for (const table of Object.keys(source.tables).sort()) {
    const versions = source.tables[table]
    for (const version of Object.keys(versions).sort((a, b) => Number(a) - Number(b))) {
      for (const layout of versions[version]) {
        const names = layout.columns.map(([name]) => name)
        if (new Set(names).size !== names.length) throw new Error(`${table} ${version}: duplicate column names`)
        if (names.some((n) => /^field\d+$/.test(n))) throw new Error(`${table} ${version}: a column name looks positional`)
        for (const [, type] of layout.columns) if (!types.has(type)) types.set(type, kindOf(type, source.datatypes))
        const key = resolveKey(table, version, layout.key, names)
        const [first, last] = layout.releases
        if (layout.releases.length !== 2 || index(first) > index(last)) throw new Error(`${table} ${version}: odd releases`)
        rows.push([table, Number(version), index(first), index(last), key, layout.columns])
      }
    }
  }

  const flags = {}
  for (const name of Object.keys(source.datatypes).sort()) {
    const d = source.datatypes[name]
    if (d.values !== undefined && Object.keys(d.values).length > 0) flags[name] = { base: d.base, values: d.values }
  }

  const j = (v) => JSON.stringify(v)
  const lines = [
    `// Generated by scripts/generate-schema.mjs from ../shared/schema/p4-schema.json:`,
    `// ${source.source}.`,
    `// Do not edit: change the generator (its ERRATA say what it repairs) and run it again.`,
    '',
    `/** Where these facts come from. */`,
    `export const SCHEMA_SOURCE = ${j(source.source)}`,
    '',
    `/** Every release that documented a layout, oldest first. */`,
    `export const RELEASES: readonly string[] = ${j(order)}`,
    '',
    `/** Each column type name used by a layout → its kind. */`,
    `export const TYPE_KINDS: Readonly<Record<string, 'integer' | 'text' | 'flag' | 'bitmask'>> = {`,
    ...[...types.keys()].sort().map((t) => `  ${j(t)}: ${j(types.get(t))},`),
    `}`,
    '',
    `/** Datatypes whose values have names (flags and bitmasks), as documented. */`,
    `export const FLAG_TYPES: Readonly<Record<string, { base: string; values: Readonly<Record<string, string>> }>> = {`,
    ...Object.entries(flags).map(([name, d]) => `  ${j(name)}: ${j(d)},`),
    `}`,
    '',
    `/** [table, version, first release, last release (indexes into RELEASES), key columns, [column, type][]] */`,
    `export type LayoutRow = readonly [string, number, number, number, readonly string[], readonly (readonly [string, string])[]]`,
    '',
    `/** Every documented layout, by table and version, in the documents' order. */`,
    `export const LAYOUT_ROWS: readonly LayoutRow[] = [`,
    ...rows.map((r) => `  ${j(r)},`),
    `]`,
    '',
  ]
  return lines.join('\n')
}

const args = parseArgs(process.argv.slice(2))
const source = JSON.parse(readFileSync(args.in, 'utf8'))
writeFileSync(args.out, generate(source))
