// The --to of `cis export` (G-5): a PostgreSQL URL, checked before anything connects, and the
// address it names without its password (for messages and logs).

export interface DatabaseUrl {
  /** The URL as given (handed to the driver). */
  url: string
  /** `user@host:port/database`, never the password. */
  where: string
  host: string
  port: number
  database: string
  user: string
}

const EXAMPLE = 'postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE, e.g. postgres://cis@127.0.0.1:5432/cis'

/** The parsed URL, or what is wrong with it (a sentence that shows the expected form). */
export function parseDatabaseUrl (text: string): DatabaseUrl | string {
  let u: URL
  try { u = new URL(text) } catch { return `'${hidePassword(text).slice(0, 200)}' is not a URL; give ${EXAMPLE}` }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return `'${u.protocol}' is not a PostgreSQL URL; give ${EXAMPLE}`
  // A Unix socket directory may come as ?host=/run/postgresql (the driver reads it).
  const host = u.hostname !== '' ? u.hostname : u.searchParams.get('host') ?? ''
  if (host === '') return `no host in '${redact(u)}'; give ${EXAMPLE}`
  const port = u.port === '' ? 5432 : Number(u.port)
  const user = decodeURIComponent(u.username) || (process.env.PGUSER ?? process.env.USER ?? '')
  // libpq's rule: without a database, the user's name.
  const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || user
  if (database.includes('/')) return `'${database}' is not a database name; give ${EXAMPLE}`
  return { url: text, where: `${user}@${host}:${port}/${database}`, host, port, database, user }
}

/** The text with what looks like a URL's password (`//user:PASSWORD@`) replaced by ***. */
const hidePassword = (text: string): string => text.replace(/(\/\/[^/@:]*:)[^@]*@/, '$1***@')

function redact (u: URL): string {
  const c = new URL(u.href)
  if (c.password !== '') c.password = '***'
  return c.href
}
