// Job file paths: relative, inside the job's work directory, nothing reserved.

/** An error message, or null if the path is acceptable. */
export function checkJobFilePath (p: string): string | null {
  const inside = "must be a relative path inside the job's work directory"
  if (typeof p !== 'string' || p === '') return `${inside}; it is empty`
  if (p.length > 255) return `${inside}; at most 255 characters`
  if (p.includes('\0')) return `${inside}; it contains a NUL byte`
  if (p.includes('\\')) return `${inside}; use '/' (not '\\')`
  if (p.startsWith('/')) return `${inside}, not absolute`
  if (p.startsWith('~')) return `${inside}; '~' is not expanded`
  const parts = p.split('/')
  if (parts.includes('..')) return `${inside} (no '..')`
  if (parts.some(x => x === '' || x === '.')) return `${inside}; no empty or '.' segments`
  if (parts[0].startsWith('.cis')) return `${inside}; names starting with '.cis' are reserved`
  return null
}
