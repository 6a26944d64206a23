// `npm run build`'s last step: the agent's stack as one bundle (dist/bundle/agent.js), which
// `cis agent` loads instead of its ~1,700 modules (src/cli/main.ts). An idle agent's memory is
// mostly code: every module's source text stays on V8's heap (libp2p's and zod's with their
// comments), and loading hundreds of modules grows the young generation, which stays grown.
// One minified, tree-shaken file holds a fraction of that (README, "Running an agent"). The compiled
// modules under dist/src stay what the tests import and what `cis` runs for every other command.
//
// Packages left outside the bundle, loaded from node_modules as before: native code
// (classic-level), what starts worker threads from its own files (pino, pino-pretty), and
// what only some agents load lazily (the SQL export's pg, the mailer's nodemailer).
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { readFileSync, rmSync } from 'node:fs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const EXTERNAL = ['level', 'classic-level', 'pino', 'pino-pretty', 'pg', 'nodemailer']

// libp2p sorts addresses, protocols and keys with String#localeCompare only to have one
// order (dedupe, equal arrays, a stable record); the first call maps 2.7 MB of ICU's collation
// data out of the node executable into the agent's memory. Any fixed order serves them: in the
// bundle, their calls compare code units instead (`a.localeCompare(b)` becomes
// `__cisOrder(a, b)`). A call of another shape is left as it was, and the build says so.
const ORDER_FN = 'function __cisOrder (a, b) { a = String(a); b = String(b); return a < b ? -1 : a > b ? 1 : 0 }'
const CALL = /([\w$.]+(?:\(\))?)\.localeCompare\(/g
let ordered = 0
const unordered = []
const codeUnitOrder = {
  name: 'libp2p-code-unit-order',
  setup (build) {
    build.onLoad({ filter: /[\\/]node_modules[\\/]@libp2p[\\/].*\.js$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8')
      if (!text.includes('localeCompare')) return undefined
      const out = text.replace(CALL, (_, target) => { ordered++; return `__cisOrder(${target}, ` })
      if (out.includes('.localeCompare(')) unordered.push(args.path.slice(ROOT.length + 1))
      return { contents: `${out}\n${ORDER_FN}`, loader: 'js' } // at the end: the lines of the source map stay
    })
  }
}

// Chunk names carry a hash: an earlier build's would stay beside the new ones (and an old
// bundle must not outlive the build that could not make a new one).
rmSync(join(ROOT, 'dist', 'bundle'), { recursive: true, force: true })
let esbuild
try {
  esbuild = await import('esbuild')
} catch (err) {
  // esbuild ships a native binary per platform; where npm found none, the agent still runs,
  // from its modules (with more memory): say so, do not fail the install.
  process.stdout.write(`bundle: skipped, esbuild cannot load here (${err.message.split('\n')[0]}): \`cis agent\` will run from its modules in dist/src\n`)
  process.exit(0)
}
const result = await esbuild.build({
  absWorkingDir: ROOT,
  entryPoints: { agent: 'dist/src/agent/run.js', 'spawner-main': 'dist/src/exec/spawner-main.js' },
  outdir: 'dist/bundle',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Names stay (error names, class names in logs); whitespace, comments and syntax go.
  // CIS_BUNDLE_MINIFY=0 keeps the source's names and lines, for reading a CPU profile.
  minify: process.env.CIS_BUNDLE_MINIFY !== '0',
  keepNames: true,
  sourcemap: 'linked',
  legalComments: 'none',
  external: EXTERNAL,
  // CommonJS packages inside an ES module still call require() (node:events, their own files).
  banner: { js: "import { createRequire as __cisCreateRequire } from 'node:module'; const require = __cisCreateRequire(import.meta.url);" },
  logLevel: 'warning',
  metafile: true,
  plugins: [codeUnitOrder]
})
for (const f of unordered) process.stdout.write(`bundle: ${f} calls localeCompare in a shape the build does not rewrite: it still maps ICU's collation data when called\n`)
const bytes = Object.entries(result.metafile.outputs).filter(([f]) => f.endsWith('.js')).reduce((t, [, o]) => t + o.bytes, 0)
const inputs = Object.keys(result.metafile.inputs).length
process.stdout.write(`bundle: ${inputs} modules into dist/bundle (${(bytes / 1e6).toFixed(1)} MB of JavaScript; ${ordered} of libp2p's localeCompare calls in code-unit order)\n`)
