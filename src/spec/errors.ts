import type { SpecIssue } from './types.js'

export class SpecError extends Error {
  override name = 'SpecError'
  readonly code = 'ERR_SPEC_INVALID'
  constructor (readonly issues: SpecIssue[], readonly file?: string) {
    super(`${file !== undefined ? `${file}: ` : ''}invalid joblist:\n${formatIssues(issues)}`)
  }
}

export function formatIssues (issues: SpecIssue[]): string {
  return issues.map(i => i.path === '' ? i.message : `${i.path}: ${i.message}`).join('\n')
}
