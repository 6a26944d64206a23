// The functional core (spec, state, scheduler, election, events, util) never imports the
// shell (net, store, identity, cluster, exec, api, cli, node, agent, config) nor I/O modules. Run by `npm test`.
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const CORE = ['spec', 'state', 'scheduler', 'election', 'events', 'util']
const SHELL = ['net', 'store', 'identity', 'cluster', 'exec', 'api', 'cli', 'node', 'agent', 'config']
const IO = ['node:fs', 'node:fs/promises', 'node:net', 'node:child_process', 'node:http', 'fs', 'child_process', 'level', 'fastify']
const EXEMPT = new Set(['src/spec/load.ts']) // reads joblist files for the CLI: the one I/O door of spec/

const problems = []
for (const dir of CORE) {
  let files = []
  try { files = readdirSync(join('src', dir), { recursive: true }).filter(f => String(f).endsWith('.ts')) } catch { continue }
  for (const f of files) {
    const path = join('src', dir, String(f))
    if (EXEMPT.has(path)) continue
    const text = readFileSync(path, 'utf8')
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)) {
      const spec = m[1]
      if (IO.includes(spec)) problems.push(`${path}: imports ${spec} (I/O belongs in the shell)`)
      for (const s of SHELL) if (spec.includes(`../${s}/`) || spec.includes(`../../${s}/`)) problems.push(`${path}: imports ${spec} (the core must not import the shell)`)
    }
  }
}
if (problems.length > 0) {
  console.error('core import check failed:\n' + problems.join('\n'))
  process.exit(1)
}
console.log('core import check: ok')
