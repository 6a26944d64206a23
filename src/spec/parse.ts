// Joblist text (YAML or JSON) -> a plain value, with clear errors and bounded size.
import { isMap, isScalar, isSeq, parseDocument, YAMLParseError } from 'yaml'
import type { Document } from 'yaml'
import { MAX_SPEC_BYTES, kib } from './limits.js'
import type { SpecIssue } from './types.js'

export type ParseResult = { ok: true, value: unknown } | { ok: false, issues: SpecIssue[] }

export function parseJoblistText (text: string, format: 'yaml' | 'json' | 'auto' = 'auto'): ParseResult {
  const bytes = Buffer.byteLength(text)
  if (bytes > MAX_SPEC_BYTES) return { ok: false, issues: [{ path: '', message: `the joblist is ${kib(bytes)}; at most ${kib(MAX_SPEC_BYTES)}` }] }
  let value: unknown
  if (format === 'json') {
    try { value = JSON.parse(text) } catch (err) {
      return { ok: false, issues: [{ path: '', message: `not valid JSON: ${(err as Error).message}` }] }
    }
  } else {
    try {
      const doc = parseDocument(text, { prettyErrors: true })
      if (doc.errors.length > 0) throw doc.errors[0]
      value = doc.toJS({ maxAliasCount: 100 })
      keepVarValuesAsWritten(doc, value)
    } catch (err) {
      if (err instanceof YAMLParseError) {
        const pos = err.linePos?.[0]
        const where = pos !== undefined ? ` at line ${pos.line}, column ${pos.col}` : ''
        const first = err.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')
        return { ok: false, issues: [{ path: '', message: `not valid YAML${where}: ${first}` }] }
      }
      return { ok: false, issues: [{ path: '', message: `not valid YAML: ${(err as Error).message}` }] }
    }
  }
  if (value === null || value === undefined) return { ok: false, issues: [{ path: '', message: 'the joblist is empty: give a mapping with name and stages (see examples/hello.yaml)' }] }
  if (typeof value !== 'object' || Array.isArray(value)) {
    return { ok: false, issues: [{ path: '', message: 'a joblist must be a mapping with name and stages' }] }
  }
  return { ok: true, value }
}

/**
 * A variable's default and choices are strings as written: YAML reads `1.0` as the number 1,
 * but `choices: [1.0, 1.1]` means the texts "1.0" and "1.1".
 */
function keepVarValuesAsWritten (doc: Document, value: unknown): void {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return // (not a mapping: said by the caller)
  const vars = doc.get('vars', true)
  const out = (value as { vars?: unknown }).vars
  if (!isSeq(vars) || !Array.isArray(out)) return
  vars.items.forEach((item, i) => {
    const target = out[i] as Record<string, unknown> | undefined
    if (!isMap(item) || typeof target !== 'object' || target === null) return
    const def = item.get('default', true)
    if (isScalar(def) && typeof def.value === 'number' && typeof def.source === 'string') target.default = def.source
    const choices = item.get('choices', true)
    if (isSeq(choices) && Array.isArray(target.choices)) {
      const list = target.choices as unknown[]
      choices.items.forEach((c, k) => { if (isScalar(c) && typeof c.value === 'number' && typeof c.source === 'string') list[k] = c.source })
    }
  })
}
