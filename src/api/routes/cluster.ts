// The cluster: health, nodes, counts, fair-share usage, the state hash (to compare nodes), and the test gate.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DEFAULT_FAIR_SHARE, fairShareUsage } from '../../scheduler/fairshare.js'
import { eventCount, nodeViews, statsView } from '../../state/cluster-views.js'
import { stateHash } from '../../state/hash.js'
import { ApiError } from '../errors.js'
import type { ApiNode } from '../node-port.js'

export function clusterRoutes (app: FastifyInstance, node: ApiNode, o: { testGate: boolean }): void {
  app.get('/v1/health', async () => {
    const v = node.view()
    return { ok: true, id: node.id, name: node.name, version: node.version, master: v.master === v.self }
  })

  app.get('/v1/nodes', async () => {
    const v = node.view()
    return { nodes: nodeViews(v.state, v) }
  })

  app.get('/v1/stats', async () => statsView(node.view().state, node.runningCount()))

  // Fair share (P-4): usage, share and factor per owner, as the fairshare policy sees them now.
  app.get('/v1/usage', async () => {
    const v = node.view()
    const fs = v.queue.fairShare ?? DEFAULT_FAIR_SHARE
    return { policy: v.queue.policy, halfLifeMs: fs.halfLifeMs, at: new Date(v.now).toISOString(), owners: fairShareUsage(v.state, v.now, fs) }
  })

  app.get('/v1/state', async (req: FastifyRequest<{ Querystring: { full?: string, hash?: string, event?: string } }>) => {
    const { state } = node.view()
    const origins = state.applied
    const events = eventCount(state)
    // ?event=ORIGIN:SEQ: when this node applied that event (ms since the epoch), if recently.
    if (req.query.event !== undefined) return { event: req.query.event, appliedAt: node.appliedAt(req.query.event) ?? null }
    // ?hash=false: only the version vector (cheap, for watching replication).
    if (req.query.hash === 'false') return { events, origins }
    const out = { hash: stateHash(state), events, origins }
    // ?full=true: the whole derived state, to compare two nodes whose hashes differ.
    return req.query.full === 'true' ? { ...out, state } : out
  })

  if (o.testGate) {
    // Test hook, only with --enable-test-gate: drop and refuse the given peers.
    app.post('/v1/debug/partition', async (req: FastifyRequest) => {
      const block = (req.body as { block?: unknown })?.block
      if (!Array.isArray(block) || block.some(p => typeof p !== 'string')) throw new ApiError(400, 'ERR_BAD_REQUEST', 'expected {"block": [peerId, ...]}')
      if (node.partition === undefined) throw new ApiError(400, 'ERR_BAD_REQUEST', 'this node has no network to partition')
      await node.partition(block as string[])
      return { blocked: block }
    })
  }
}
