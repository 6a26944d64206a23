// The Node versions package.json promises (engines) are ones every installed dependency
// supports: checked against the lock file, so `npm ci` on a supported Node never warns.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT } from '../helpers/agent.js'

type Version = [number, number, number]

function parse (v: string): Version {
  const [a, b, c] = v.replace(/^v/, '').split('.').map(x => (x === undefined || x === 'x' || x === '*' ? 0 : Number(x)))
  return [a ?? 0, b ?? 0, c ?? 0]
}

const cmp = (a: Version, b: Version): number => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]

/** Does version `v` satisfy an npm range of the forms dependencies use (>=, >, <, <=, ^, ~, *, ||)? */
export function satisfies (v: string, range: string): boolean {
  const ver = parse(v)
  return range.split('||').some(part => {
    const comparators = part.trim().replace(/([<>=^~]+)\s+/g, '$1').split(/\s+/).filter(x => x !== '')
    return comparators.every(c => {
      if (c === '*' || c === 'x') return true
      const m = /^(>=|<=|>|<|\^|~|=)?(.+)$/.exec(c)
      if (m === null) throw new Error(`cannot read the range '${range}'`)
      const op = m[1] ?? '='
      const bound = parse(m[2])
      const d = cmp(ver, bound)
      if (op === '>=') return d >= 0
      if (op === '>') return d > 0
      if (op === '<=') return d <= 0
      if (op === '<') return d < 0
      if (op === '^') return d >= 0 && ver[0] === bound[0]
      if (op === '~') return d >= 0 && ver[0] === bound[0] && ver[1] === bound[1]
      return m[2].split('.').length < 3 ? ver[0] === bound[0] : d === 0
    })
  })
}

test('engines: the range reader reads the forms in the lock file', () => {
  assert.equal(satisfies('20.10.0', '>= 20.19.0'), false)
  assert.equal(satisfies('20.19.0', '>= 20.19.0'), true)
  assert.equal(satisfies('20.19.0', '>=22'), false)
  assert.equal(satisfies('22.1.0', '^14.21.3 || >=16'), true)
  assert.equal(satisfies('15.0.0', '^14.21.3 || >=16'), false)
  assert.equal(satisfies('20.19.0', '>= 10.x'), true)
  assert.equal(satisfies('20.19.0', '*'), true)
})

test('engines: every dependency supports the lowest Node that package.json names, and Node 22 and 24', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }
  const lowest = /^>=\s*([\d.]+)$/.exec(pkg.engines.node)?.[1]
  assert.ok(lowest !== undefined, `engines.node is '>=X.Y': ${pkg.engines.node}`)
  assert.ok(satisfies(process.versions.node, pkg.engines.node), `this Node (${process.versions.node}) is one engines names`)
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } }> }
  const refused: string[] = []
  for (const [path, p] of Object.entries(lock.packages)) {
    const range = p.engines?.node
    if (path === '' || range === undefined) continue
    for (const v of [lowest, '22.0.0', '24.0.0']) if (!satisfies(v, range)) refused.push(`${path.replace(/^.*node_modules\//, '')} needs node ${range} (not ${v})`)
  }
  assert.deepEqual(refused, [], 'raise engines.node, or pin or override the dependency')
})
