// Is anything listening at a peer's addresses? A plain TCP connect, closed at once (no libp2p
// connection is made): a refused connection on every address means the peer's process is gone,
// not the network (a cut network times out instead).
import { connect, isIP } from 'node:net'

/**
 * host and port of a /ip4|ip6/HOST/tcp/PORT multiaddr, or undefined: also for a host that is not
 * an address of its family (a name would be looked up) or a port out of range (connect throws:
 * the probe's promise rejected, and the agent ended on it). Addresses come from peers' events.
 */
export function tcpTarget (addr: string): { host: string, port: number } | undefined {
  const m = /^\/ip([46])\/([^/]+)\/tcp\/(\d+)/.exec(addr)
  if (m === null || isIP(m[2]) !== Number(m[1])) return undefined
  const port = Number(m[3])
  return port >= 1 && port <= 65535 ? { host: m[2], port } : undefined
}

async function refused (host: string, port: number, timeoutMs: number): Promise<boolean> {
  return await new Promise(resolve => {
    let s: ReturnType<typeof connect>
    try { s = connect({ host, port }) } catch { resolve(false); return }
    const done = (v: boolean): void => { clearTimeout(t); s.destroy(); resolve(v) }
    const t = setTimeout(() => done(false), timeoutMs)
    s.once('connect', () => done(false))
    s.once('error', err => done((err as NodeJS.ErrnoException).code === 'ECONNREFUSED'))
  })
}

/** True if every TCP address of the peer refuses a connection (and there is at least one). */
export async function allRefused (addrs: string[], timeoutMs = 2000): Promise<boolean> {
  const targets = addrs.map(tcpTarget).filter((t): t is { host: string, port: number } => t !== undefined)
  if (targets.length === 0) return false
  const results = await Promise.all(targets.map(async t => await refused(t.host, t.port, timeoutMs)))
  return results.every(r => r)
}
