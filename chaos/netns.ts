// Real network partitions for `npm run chaos -- --netns` (root only): every agent in its own
// network namespace, on a veth link to a bridge; a partition takes links down. Addresses are
// 10.77.0.0/24 inside namespaces this run creates and removes; nothing else is touched.
import { execFileSync } from 'node:child_process'

const ip = (...args: string[]): void => { execFileSync('ip', args, { stdio: 'pipe' }) }
const quiet = (...args: string[]): void => { try { ip(...args) } catch { /* already gone */ } }

export class NetnsLab {
  readonly bridge = 'cischaos0'
  constructor (readonly nodes: number) {}

  ns (i: number): string { return `cischaos-n${i}` }
  host (i: number): string { return `10.77.0.${i + 1}` }
  private hostSide (i: number): string { return `cisc${i}h` }

  setup (): void {
    if (process.getuid?.() !== 0) throw new Error('--netns needs root (it creates network namespaces)')
    this.teardown()
    ip('link', 'add', this.bridge, 'type', 'bridge')
    ip('addr', 'add', '10.77.0.254/24', 'dev', this.bridge)
    ip('link', 'set', this.bridge, 'up')
    for (let i = 0; i < this.nodes; i++) {
      const ns = this.ns(i)
      ip('netns', 'add', ns)
      ip('link', 'add', this.hostSide(i), 'type', 'veth', 'peer', 'name', `cisc${i}n`)
      ip('link', 'set', `cisc${i}n`, 'netns', ns)
      ip('link', 'set', this.hostSide(i), 'master', this.bridge)
      ip('link', 'set', this.hostSide(i), 'up')
      ip('netns', 'exec', ns, 'ip', 'addr', 'add', `${this.host(i)}/24`, 'dev', `cisc${i}n`)
      ip('netns', 'exec', ns, 'ip', 'link', 'set', `cisc${i}n`, 'up')
      ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
    }
  }

  wrap (i: number): string[] { return ['ip', 'netns', 'exec', this.ns(i)] }

  /** Cut these nodes off the network (each link down): a silent, real partition. */
  cut (nodes: number[]): void { for (const i of nodes) ip('link', 'set', this.hostSide(i), 'down') }

  heal (): void { for (let i = 0; i < this.nodes; i++) quiet('link', 'set', this.hostSide(i), 'up') }

  teardown (): void {
    for (let i = 0; i < this.nodes; i++) {
      quiet('link', 'del', this.hostSide(i))
      quiet('netns', 'del', this.ns(i))
    }
    quiet('link', 'del', this.bridge)
  }
}
