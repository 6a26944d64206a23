// A version vector as text, for GET /v1/log?after=… (G-5): `origin:seq,origin:seq,…`. Origins
// are node IDs (base58 peer IDs: no ':' nor ','), so the text needs no escaping and fits a
// query string as it is. Pure: the API parses it, the exporter writes it.

/** Highest seq per origin; an origin not listed is at 0 (nothing of it yet). */
export type Vector = Record<string, number>

/** `origin:seq,…`, origins sorted (the same vector always gives the same text); zeros left out. */
export function formatVector (v: Readonly<Vector>): string {
  return Object.keys(v).filter(o => v[o] > 0).sort().map(o => `${o}:${v[o]}`).join(',')
}

/** The vector of a text, or why it is not one (a message that says what is expected). */
export function parseVector (text: string): Vector | string {
  // (A Map, then fromEntries: an origin named like an Object property stays a plain entry.)
  const out = new Map<string, number>()
  if (text.trim() === '') return {}
  for (const part of text.split(',')) {
    const m = /^([^:,\s]+):(\d{1,15})$/.exec(part.trim())
    if (m === null) return `'${part.slice(0, 80)}' is not ORIGIN:SEQ (a node ID, a colon, a whole number)`
    const [, origin, seq] = m
    if (out.has(origin)) return `origin ${origin.slice(0, 80)} is given twice`
    out.set(origin, Number(seq))
  }
  return Object.fromEntries(out)
}
