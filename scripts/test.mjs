// `npm test`'s runner (after the build): every test file under dist/test, in three groups.
// The functional core's tests (core, spec, fuzz, sim, store) start no daemon and measure no
// time: they run two files at once (the machine's two cores; 91 s instead of 116 on Dec 6).
// The files named in ONE_AGENT start at most one agent at a time, alone in its cluster (the
// CLI's, a single node's, backup and restart): no heartbeat of theirs can time out, so they too
// run two at once (a slower machine for each, which every test must bear anyway). Every other
// file (clusters of agents as processes, the browser, in-process meshes, what samples a job's
// CPU or memory) runs alone, one file at a time, so a multi-node test never shares the machine
// with another test's agents. A new test file goes there unless it is named in PURE's folders
// or in ONE_AGENT.
// At the end, the groups' counts added up (`# tests`, `# pass`, `# fail`, ...), after each
// group's own. Exit status: non-zero if any group failed. Arguments go to every `node --test`.
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join, relative, sep } from 'node:path'

const root = 'dist/test'
const PURE = new Set(['core', 'spec', 'fuzz', 'sim', 'store'])
const ONE_AGENT = new Set([
  'cli/cli', 'cli/contexts', 'cli/schedules',
  'e2e/archive', 'e2e/backup', 'e2e/bundle', 'e2e/export', 'e2e/fairshare', 'e2e/node-flags',
  'e2e/patch', 'e2e/records', 'e2e/restart', 'e2e/single-node'
].map(f => join(root, ...f.split('/')) + '.test.js'))
const COUNTS = ['tests', 'suites', 'pass', 'fail', 'cancelled', 'skipped', 'todo', 'duration_ms']

function testFiles (dir) {
  const out = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...testFiles(p))
    else if (e.name.endsWith('.test.js')) out.push(p)
  }
  return out
}

/** Run one group, its output passed through as it comes; its summary's counts (TAP `# pass 3` or spec `ℹ pass 3`). */
function run (files, concurrency) {
  // (Through a pipe node --test would switch to TAP: a terminal keeps the spec reporter, in colour.)
  const tty = process.stdout.isTTY === true
  const args = ['--test', `--test-concurrency=${concurrency}`, ...(tty ? ['--test-reporter=spec'] : []), ...process.argv.slice(2), ...files]
  const child = spawn(process.execPath, args, { stdio: ['inherit', 'pipe', 'inherit'], env: tty ? { ...process.env, FORCE_COLOR: '1' } : process.env })
  const counts = {}
  let rest = ''
  const scan = (line) => {
    // eslint-disable-next-line no-control-regex
    const m = /^(?:#|ℹ) (\w+) ([\d.]+)$/.exec(line.replace(/\x1b\[[0-9;]*m/g, '').trim())
    if (m !== null && COUNTS.includes(m[1])) counts[m[1]] = Number(m[2])
  }
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk)
    const lines = (rest + chunk.toString('utf8')).split('\n')
    rest = lines.pop() ?? ''
    for (const l of lines) scan(l)
  })
  return new Promise((resolve) => {
    child.on('close', (code, signal) => { scan(rest); resolve({ code: code ?? signal, counts }) })
  })
}

const all = testFiles(root).sort()
const isPure = (f) => PURE.has(relative(root, f).split(sep)[0])
const missing = [...ONE_AGENT].filter(f => !all.includes(f))
if (missing.length > 0) { console.error(`scripts/test.mjs: ONE_AGENT names files that are not built: ${missing.join(', ')}`); process.exit(2) }
const groups = [
  { name: 'the core (no daemons; two files at once)', concurrency: 2, files: all.filter(isPure) },
  { name: 'one agent each (two files at once)', concurrency: 2, files: all.filter(f => ONE_AGENT.has(f)) },
  { name: 'clusters, browser, in-process meshes (one file at a time)', concurrency: 1, files: all.filter(f => !isPure(f) && !ONE_AGENT.has(f)) }
]
let failed = false
const total = Object.fromEntries(COUNTS.map(k => [k, 0]))
for (const g of groups) {
  if (g.files.length === 0) continue
  console.log(`# npm test: ${g.files.length} files, ${g.name}`)
  const r = await run(g.files, g.concurrency)
  for (const k of COUNTS) total[k] += r.counts[k] ?? 0
  if (r.code !== 0) { failed = true; console.log(`# npm test: ${g.name}: failed (exit ${r.code})`) }
}
console.log(`# npm test: all groups (${all.length} files)`)
for (const k of COUNTS) console.log(`# ${k} ${k === 'duration_ms' ? total[k].toFixed(0) : total[k]}`)
process.exit(failed ? 1 : 0)
