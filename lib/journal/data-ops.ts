/** Ops whose records carry a table version and a table name before the row. */
const DATA_OPS: ReadonlySet<string> = new Set(['pv', 'rv', 'dv', 'put', 'del', 'vv', 'dl'])

/** Whether `op` is a data op (pv rv dv vv dl put del). */
export function isDataOp(op: string): boolean {
  return DATA_OPS.has(op)
}

/** isDataOp on the op's bytes `src[a..b)`, without making a string. */
export function isDataOpBytes(src: Uint8Array, a: number, b: number): boolean {
  const c0 = src[a]
  const c1 = src[a + 1]
  if (b - a === 2) return (c1 === 0x76 && (c0 === 0x70 || c0 === 0x72 || c0 === 0x64 || c0 === 0x76)) || (c0 === 0x64 && c1 === 0x6c)
  if (b - a === 3) {
    const c2 = src[a + 2]
    return (c0 === 0x70 && c1 === 0x75 && c2 === 0x74) || (c0 === 0x64 && c1 === 0x65 && c2 === 0x6c)
  }
  return false
}
