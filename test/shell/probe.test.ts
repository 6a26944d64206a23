// R1-3: the probe of a peer's addresses (src/net/probe.ts): every TCP address refusing means its
// process is gone. The addresses come from peers' events: one that is not an address of its
// family, or a port out of range, is no target (before Dec 6 a port over 65535 made the probe's
// promise reject, and the agent ended on it; a name was looked up in DNS).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import { allRefused, tcpTarget } from '../../src/net/probe.js'

test('R1-3: tcpTarget takes an address of its family and a port in range, nothing else', () => {
  assert.deepEqual(tcpTarget('/ip4/127.0.0.1/tcp/4001'), { host: '127.0.0.1', port: 4001 })
  assert.deepEqual(tcpTarget('/ip6/::1/tcp/4001/p2p/12D3KooW'), { host: '::1', port: 4001 })
  for (const bad of ['/ip4/127.0.0.1/tcp/99999', '/ip4/127.0.0.1/tcp/0', '/ip4/example.com/tcp/80', '/ip4/::1/tcp/80', '/ip6/127.0.0.1/tcp/80', '/dns4/localhost/tcp/80', '']) {
    assert.equal(tcpTarget(bad), undefined, bad)
  }
})

test('R1-3: allRefused resolves (false) for addresses that are no target, and true when every port refuses', { timeout: 30_000 }, async () => {
  assert.equal(await allRefused(['/ip4/127.0.0.1/tcp/99999', '/ip4/not-an-ip/tcp/80']), false)
  // A port that refuses: one a server had, closed.
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  await new Promise<void>(resolve => server.close(() => resolve()))
  assert.equal(await allRefused([`/ip4/127.0.0.1/tcp/${port}`, '/ip4/127.0.0.1/tcp/99999'], 5000), true)
})
