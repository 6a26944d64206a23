// Joblist text (YAML or JSON) -> a plain value, with clear errors and bounded size.
import { parse as parseYaml, YAMLParseError } from 'yaml'
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
      value = parseYaml(text, { maxAliasCount: 100, prettyErrors: true })
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
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, issues: [{ path: '', message: 'a joblist must be a mapping with name and stages' }] }
  }
  return { ok: true, value }
}
