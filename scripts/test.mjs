// `npm test`'s runner (after the build): every test file under dist/test, in two groups.
// The functional core's tests (core, spec, fuzz, sim, store) start no daemon and measure no
// time: they run two files at once (the machine's two cores; about a fifth of their time
// saved). Every other file (agents as processes, the CLI, the browser) runs alone, one file at
// a time, so a multi-node test never shares the machine with another test's agents.
// Exit status: non-zero if either group failed. Arguments are passed to both `node --test` runs.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join, relative, sep } from 'node:path'

const root = 'dist/test'
const PURE = new Set(['core', 'spec', 'fuzz', 'sim', 'store'])

function testFiles (dir) {
  const out = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) out.push(...testFiles(p))
    else if (e.name.endsWith('.test.js')) out.push(p)
  }
  return out
}

const all = testFiles(root).sort()
const isPure = (f) => PURE.has(relative(root, f).split(sep)[0])
const groups = [
  { name: 'the core (no daemons; two files at once)', concurrency: 2, files: all.filter(isPure) },
  { name: 'daemons, CLI, browser (one file at a time)', concurrency: 1, files: all.filter(f => !isPure(f)) }
]
let failed = false
for (const g of groups) {
  if (g.files.length === 0) continue
  console.log(`# npm test: ${g.files.length} files, ${g.name}`)
  const r = spawnSync(process.execPath, ['--test', `--test-concurrency=${g.concurrency}`, ...process.argv.slice(2), ...g.files], { stdio: 'inherit' })
  if (r.status !== 0) { failed = true; console.log(`# npm test: ${g.name}: failed (exit ${r.status ?? r.signal})`) }
}
process.exit(failed ? 1 : 0)
