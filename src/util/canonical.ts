// Canonical JSON: object keys sorted, no whitespace. The bytes that are signed and hashed.
// (Every event is turned into these bytes to sign and to verify it: built with string
// appends, no intermediate arrays; the few keys events use are quoted once.)
const quoted = new Map<string, string>()
function quote (k: string): string {
  let q = quoted.get(k)
  if (q === undefined) {
    q = JSON.stringify(k)
    if (quoted.size < 4096) quoted.set(k, q)
  }
  return q
}

/**
 * The object's keys in code-unit order (as Array.prototype.sort orders strings). An object of a
 * few keys is sorted in place by insertion: the built-in sort allocated a work copy of every
 * array it sorted (a sixth of what receiving an event allocated). A large one (a peer can send
 * one) by the built-in sort, n log n.
 */
function sortedKeys (obj: object): string[] {
  const keys = Object.keys(obj)
  if (keys.length > 16) return keys.sort()
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]
    let j = i - 1
    while (j >= 0 && keys[j] > k) { keys[j + 1] = keys[j]; j-- }
    keys[j + 1] = k
  }
  return keys
}

export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null'
    return value === undefined ? 'null' : JSON.stringify(value)
  }
  if (Array.isArray(value)) {
    let s = '['
    for (let i = 0; i < value.length; i++) {
      if (i > 0) s += ','
      s += canonicalJson(value[i])
    }
    return s + ']'
  }
  const obj = value as Record<string, unknown>
  const keys = sortedKeys(obj)
  let s = '{'
  for (const k of keys) {
    const v = obj[k]
    if (v === undefined) continue
    if (s.length > 1) s += ','
    s += quote(k) + ':' + canonicalJson(v)
  }
  return s + '}'
}
