// The cluster: health, nodes, counts, fair-share usage, the state hash (to compare nodes), and the test gate.
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { DEFAULT_FAIR_SHARE, fairShareUsage } from '../../scheduler/fairshare.js'
import { eventCount, nodeViews, statsView } from '../../state/cluster-views.js'
import { stateHash } from '../../state/hash.js'
import { ApiError } from '../errors.js'
import { stateAtQuery } from './joblists.js'
import type { ApiNode } from '../node-port.js'
import { doc } from '../openapi.js'

export function clusterRoutes (app: FastifyInstance, node: ApiNode, o: { testGate: boolean }): void {
  app.get('/v1/health', {
    schema: doc({ summary: 'is this node up: {ok, id, name, version, master}', tags: ['cluster'], ok: { 200: '{ok: true, id, name, version, master}' } })
  }, async () => {
    const v = node.view()
    return { ok: true, id: node.id, name: node.name, version: node.version, master: v.master === v.self }
  })

  app.get('/v1/nodes', {
    schema: doc({ summary: 'the nodes, their resources, and which is master', tags: ['cluster'], ok: { 200: '{nodes: [...]}' } })
  }, async () => {
    const v = node.view()
    return { nodes: nodeViews(v.state, v) }
  })

  app.get('/v1/stats', {
    schema: doc({ summary: 'counts of joblists by state (archived ones included; archived: how many of them are out of memory), unaccepted requests, attempts running here, events; reclaim: purges whose events are still to leave this node\'s log (pending) and events taken out since start (taken); retention: store.purgeAfter (ms) and the last purge this node made by it as master ({at, before, joblists}), null when purgeAfter is 0', tags: ['cluster'], ok: { 200: 'the counts' } })
  }, async () => ({ ...statsView(node.view().state, node.runningCount(), node.archived().byState, node.inMemoryByState()), archived: node.archived().count, reclaim: node.reclaim(), retention: node.retentionStatus() }))

  // Fair share (P-4): usage, share and factor per owner, as the fairshare policy sees them now.
  app.get('/v1/usage', {
    schema: doc({ summary: 'fair-share usage, share and factor per owner (P-4)', tags: ['cluster'], ok: { 200: '{policy, halfLifeMs, at, owners: [...]}' } })
  }, async () => {
    const v = node.view()
    const fs = v.queue.fairShare ?? DEFAULT_FAIR_SHARE
    return { policy: v.queue.policy, halfLifeMs: fs.halfLifeMs, at: new Date(v.now).toISOString(), owners: fairShareUsage(v.state, v.now, fs) }
  })

  app.get('/v1/state', {
    schema: doc({
      summary: "this node's state hash and version vector (equal on nodes with the same events)",
      tags: ['cluster'],
      querystring: { full: '`true`: the whole derived state too', hash: '`false`: only the version vector (cheap)', event: 'ORIGIN:SEQ: when this node applied that event (ms), if recently', at: 'the state as it was at this time (G-3), replayed from the stored events: an ISO time or a span before now' },
      ok: { 200: '{hash, events, origins[, state]}, or {events, origins}, or {event, appliedAt}; with at: {at, hash, events, origins[, state]}' },
      errors: ['ERR_BAD_REQUEST']
    })
  }, async (req: FastifyRequest<{ Querystring: { full?: string, hash?: string, event?: string, at?: string } }>) => {
    if (req.query.at !== undefined) {
      const { state, at } = await stateAtQuery(node, req.query.at)
      const out = { at: new Date(at).toISOString(), hash: stateHash(state), events: eventCount(state), origins: state.applied }
      return req.query.full === 'true' ? { ...out, state } : out
    }
    const { state } = node.view()
    const origins = state.applied
    const events = eventCount(state)
    // ?event=ORIGIN:SEQ: when this node applied that event (ms since the epoch), if recently.
    if (req.query.event !== undefined) return { event: req.query.event, appliedAt: node.appliedAt(req.query.event) ?? null }
    // ?hash=false: only the version vector (cheap, for watching replication).
    if (req.query.hash === 'false') return { events, origins }
    const out = { hash: node.hash(), events, origins }
    // ?full=true: the whole derived state (archived joblists too), to compare two nodes whose hashes differ.
    return req.query.full === 'true' ? { ...out, state: await node.wholeState() } : out
  })

  if (o.testGate) {
    // Test hook, only with --enable-test-gate: drop and refuse the given peers (mute: drop what
    // passes but keep the connections open, a bad route between two nodes).
    app.post('/v1/debug/partition', {
      schema: doc({ summary: 'test gate (only with --enable-test-gate): drop and refuse these peers ([] heals; mute: keep the connections open)', tags: ['cluster'], body: { type: 'object', properties: { block: { type: 'array', items: { type: 'string' } }, mute: { type: 'boolean' } } }, ok: { 200: '{blocked: [...]}' } })
    }, async (req: FastifyRequest) => {
      const { block, mute } = (req.body ?? {}) as { block?: unknown, mute?: unknown }
      if (!Array.isArray(block) || block.some(p => typeof p !== 'string') || (mute !== undefined && typeof mute !== 'boolean')) throw new ApiError(400, 'ERR_BAD_REQUEST', 'expected {"block": [peerId, ...], "mute"?: boolean}')
      if (node.partition === undefined) throw new ApiError(400, 'ERR_BAD_REQUEST', 'this node has no network to partition')
      await node.partition(block as string[], mute === true)
      return { blocked: block }
    })
  }
}
