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
 * The object's keys in code-unit order (as Array.prototype.sort orders strings), sorted in
 * place by insertion: an object has a few keys, and the built-in sort allocated a work copy of
 * every array it sorted (a sixth of what receiving an event allocated).
 */
function sortedKeys (obj: object): string[] {
  const keys = Object.keys(obj)
  // (A large object, a peer's as much as any: the built-in sort, n log n.)
  if (keys.length > 16) return keys.sort()
  for (let i = 1; i < keys.length; i++) {
    const k = keys[i]
    let j = i - 1
    while (j >= 0 && keys[j] > k) { keys[j + 1] = keys[j]; j-- }
    keys[j + 1] = k
  }
  return keys
}

/**
 * True if JSON.stringify writes this value exactly as canonicalJson does: plain objects whose
 * keys are already in code-unit order (an agent publishes its events' bodies so: keys.ts,
 * signBatch), arrays, strings, numbers, booleans, null and undefined members; nothing that
 * JSON.stringify treats its own way (a function, a symbol, a bigint, an object of another
 * prototype, which may have toJSON). Stops at the first key out of order. (A getter is read
 * here and again by JSON.stringify: values with getters that change are not JSON values.)
 */
function stringifiesCanonically (v: unknown, depth: number): boolean {
  if (v === null) return true
  const t = typeof v
  if (t === 'string' || t === 'number' || t === 'boolean' || t === 'undefined') return true
  if (t !== 'object' || depth > 100) return false
  if (Array.isArray(v)) {
    // (An array JSON.stringify would turn by a toJSON of its own or of another prototype: no.)
    if (Object.getPrototypeOf(v) !== Array.prototype || Object.hasOwn(v, 'toJSON')) return false
    for (let i = 0; i < v.length; i++) if (!stringifiesCanonically(v[i], depth + 1)) return false
    return true
  }
  const proto = Object.getPrototypeOf(v) as unknown
  if (proto !== Object.prototype && proto !== null) return false
  const obj = v as Record<string, unknown>
  let prev: string | undefined
  for (const k in obj) {
    if (!Object.hasOwn(obj, k) || (prev !== undefined && !(prev < k))) return false
    prev = k
    if (!stringifiesCanonically(obj[k], depth + 1)) return false
  }
  return true
}

/**
 * The canonical JSON of a value. One whose objects' keys are in order already (what a peer's
 * event parses to) is written by JSON.stringify, in one flat string: a fraction of the time,
 * and none of the garbage of building it piece by piece.
 */
export function canonicalJson (value: unknown): string {
  if (typeof value === 'object' && value !== null && !prototypesHaveToJson() && stringifiesCanonically(value, 0)) return JSON.stringify(value)
  return pieceByPiece(value)
}

/** A toJSON put on Object's or Array's prototype would change what JSON.stringify writes (not what pieceByPiece does). */
const prototypesHaveToJson = (): boolean => 'toJSON' in Object.prototype || 'toJSON' in Array.prototype

/**
 * A copy of a JSON value as its canonical text has it: every object's keys in canonical order,
 * what JSON has no form for as JSON writes it (undefined members dropped, NaN null). An agent
 * writes its events' bodies so (event-log.ts append), before it applies them: its own state, its
 * store, its peers hold the same values in the same order, and a peer's canonical JSON of them is
 * one JSON.stringify. Throws (SyntaxError) for what has no JSON form (a function, a symbol).
 */
export function canonicalCopy<T> (value: T): T {
  return JSON.parse(canonicalJson(value)) as T
}

function pieceByPiece (value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) return 'null'
    return value === undefined ? 'null' : JSON.stringify(value)
  }
  if (Array.isArray(value)) {
    let s = '['
    for (let i = 0; i < value.length; i++) {
      if (i > 0) s += ','
      s += pieceByPiece(value[i])
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
    s += quote(k) + ':' + pieceByPiece(v)
  }
  return s + '}'
}
