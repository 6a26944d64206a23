// A real PostgreSQL server for tests (G-5): a cluster of its own in a temporary directory, on
// a free loopback port, with trust authentication for user `cis`; stopped and removed by
// stop() (and, if a test run dies first, when the process exits). initdb and postgres refuse
// to run as root: as root they run as the `postgres` user (Debian's package creates it) or
// else `nobody`, through runuser, in a directory that user owns.
import { execFileSync, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'

export interface Postgres {
  port: number
  /** A URL for user cis to a database of this server (default `postgres`). */
  url: (database?: string) => string
  /** Who runs the server: `postgres`, `nobody`, or null (this process's user). */
  runAs: string | null
  /** The server's log so far (for failure messages). */
  log: () => string
  stop: () => void
}

/** The directory of initdb, pg_ctl and postgres, or the name of the one that is missing. */
export function findPostgres (): { bin: string } | { missing: string } {
  const versions = (): string[] => {
    try { return readdirSync('/usr/lib/postgresql').sort((a, b) => Number(b) - Number(a)).map(v => `/usr/lib/postgresql/${v}/bin`) } catch { return [] }
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(d => d !== ''), '/usr/local/bin', ...versions()]
  const initdb = dirs.map(d => join(d, 'initdb')).find(f => existsSync(f))
  if (initdb === undefined) return { missing: 'initdb' }
  // (/usr/local/bin/initdb may be a link: its siblings are where it really lives.)
  const bin = dirname(realpathSync(initdb))
  for (const tool of ['pg_ctl', 'postgres']) if (!existsSync(join(bin, tool))) return { missing: `${tool} (beside ${join(bin, 'initdb')})` }
  return { bin }
}

/** Why the export tests cannot run here, or false. */
export function postgresSkipReason (): string | false {
  const found = findPostgres()
  return 'missing' in found ? `no PostgreSQL server binary: ${found.missing} not found in PATH, /usr/local/bin or /usr/lib/postgresql/*/bin; .ci/run installs Debian's postgresql package (apt-get install postgresql)` : false
}

async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })
}

function userExists (name: string): boolean {
  return spawnSync('id', ['-u', name], { stdio: 'ignore' }).status === 0
}

export async function startPostgres (): Promise<Postgres> {
  const found = findPostgres()
  if ('missing' in found) throw new Error(`cannot start PostgreSQL: ${found.missing} is missing`)
  const root = process.getuid?.() === 0
  const runAs = root ? (userExists('postgres') ? 'postgres' : 'nobody') : null
  // As root, under /tmp (world-searchable) whatever TMPDIR says: the server's user must reach it.
  const dir = mkdtempSync(join(root ? '/tmp' : tmpdir(), 'cis-pg-'))
  if (runAs !== null) {
    const id = (flag: string): number => Number(execFileSync('id', [flag, runAs], { encoding: 'utf8' }).trim())
    chownSync(dir, id('-u'), id('-g'))
  }
  const data = join(dir, 'data')
  const logFile = join(dir, 'log')
  const tool = (name: string, args: string[]): { status: number | null, out: string } => {
    const [cmd, ...rest] = runAs !== null ? ['runuser', '-u', runAs, '--', join(found.bin, name), ...args] : [join(found.bin, name), ...args]
    const r = spawnSync(cmd, rest, { cwd: dir, encoding: 'utf8', timeout: 120_000 })
    return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error !== undefined ? r.error.message : ''}` }
  }
  const log = (): string => { try { return readFileSync(logFile, 'utf8') } catch { return '' } }
  let running = false
  const stop = (): void => {
    if (running) tool('pg_ctl', ['-D', data, 'stop', '-m', 'immediate', '-w'])
    running = false
    rmSync(dir, { recursive: true, force: true })
  }
  const init = tool('initdb', ['-D', data, '-U', 'cis', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C'])
  if (init.status !== 0) { stop(); throw new Error(`initdb failed${runAs !== null ? ` (as ${runAs})` : ''}: ${init.out}`) }
  // A port found free may be taken before the server binds it: one more try on another.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort()
    const start = tool('pg_ctl', ['-D', data, '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, '-l', logFile, '-w', '-t', '60', 'start'])
    if (start.status === 0) {
      running = true
      process.once('exit', stop)
      return { port, url: (database = 'postgres') => `postgres://cis@127.0.0.1:${port}/${database}`, runAs, log, stop: () => { process.off('exit', stop); stop() } }
    }
    if (attempt === 2) { const out = `${start.out}\n${log()}`; stop(); throw new Error(`pg_ctl start failed: ${out}`) }
  }
}
