// The HTTP API (D-1, R1-7, R4-1, R4-2): JSON over fastify. Listens on loopback by default;
// any other address needs a bearer token.
import { timingSafeEqual } from 'node:crypto'
import Fastify from 'fastify'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { parse as parseYaml } from 'yaml'
import type { CisNode } from '../node/node.js'
import { satisfiable } from '../scheduler/resources.js'
import { planJoblist, waitReasons } from '../scheduler/plan.js'
import type { PlanInput } from '../scheduler/plan.js'
import { targetNodes } from '../scheduler/schedule.js'
import type { JoblistSpec } from '../spec/types.js'
import { validateJoblist } from '../spec/validate.js'
import { stateHash } from '../state/hash.js'
import { comparePositions } from '../state/reducer.js'
import { sortedAttempts } from '../state/derive.js'
import { FINAL_JOBLIST_STATES, FINAL_JOB_STATES } from '../state/types.js'
import { findJob, findJoblist, jobView, joblistSummary, joblistView } from '../state/views.js'
import { ApiError, notFound } from './errors.js'

export interface ApiOptions {
  token?: string
  bodyLimit: number
  /** Require the token on every request (the API listens beyond loopback). */
  requireToken: boolean
  testGate?: boolean
}

const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml']

export function buildApi (node: CisNode, opts: ApiOptions): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: opts.bodyLimit })

  app.addContentTypeParser(YAML_TYPES, { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseYaml(body as string, { maxAliasCount: 100 }))
    } catch (err) {
      done(new ApiError(400, 'ERR_SPEC_INVALID', 'the body is not valid YAML', [{ path: '', message: (err as Error).message }]), undefined)
    }
  })

  app.setErrorHandler((err: Error & { statusCode?: number, code?: string }, _req, reply) => {
    if (err instanceof ApiError) return reply.code(err.status).send({ error: err.message, code: err.code, ...(err.details !== undefined ? { details: err.details } : {}) })
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return reply.code(413).send({ error: `the body is larger than ${opts.bodyLimit} bytes; make the joblist smaller (large files belong in the job's own fetch step)`, code: 'ERR_TOO_LARGE' })
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return reply.code(415).send({ error: 'send the joblist as application/json or application/yaml', code: 'ERR_UNSUPPORTED_TYPE' })
    if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) return reply.code(err.statusCode).send({ error: err.message, code: 'ERR_BAD_REQUEST' })
    node.log.error({ err: err.message }, 'API request failed')
    return reply.code(500).send({ error: 'internal error; the agent log has the details', code: 'ERR_INTERNAL' })
  })

  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: `no route ${req.method} ${req.url.split('?')[0]}; see the README's API section`, code: 'ERR_NOT_FOUND' }))

  if (opts.requireToken || opts.token !== undefined) {
    const expected = Buffer.from(`Bearer ${opts.token ?? ''}`)
    app.addHook('onRequest', async (req: FastifyRequest) => {
      const got = Buffer.from(req.headers.authorization ?? '')
      if (opts.token === undefined || got.length !== expected.length || !timingSafeEqual(got, expected)) {
        throw new ApiError(401, 'ERR_UNAUTHORIZED', 'a bearer token is required: pass --token or set CIS_TOKEN')
      }
    })
  }

  app.get('/v1/health', async () => ({ ok: true, id: node.id, name: node.config.name, version: '0.1.0', master: node.isMaster() }))

  const planInput = (): PlanInput => ({ state: node.state, now: Date.now(), alive: node.alive(), queue: node.queueOptions() })

  /** Jobs no alive node can ever run: 422, unless the client asked to wait for such a node. */
  const refuseUnsatisfiable = (spec: JoblistSpec): void => {
    const alive = [...node.alive()]
    const problems = []
    for (const [si, stage] of spec.stages.entries()) {
      for (const [ji, job] of stage.jobs.entries()) {
        const at = `stages[${si}].jobs[${ji}]`
        const nodes = job.target === undefined ? alive : targetNodes(node.state, job.target, node.alive())
        if (job.target !== undefined && nodes.length === 0) {
          problems.push({ path: `${at}.target`, message: `no ${'node' in job.target ? `node is named ${job.target.node}` : 'profile' in job.target ? `alive node has profile ${job.target.profile}` : 'alive node'}` })
          continue
        }
        const missing = satisfiable(node.state, job.needs, nodes)
        if (missing !== null) problems.push({ path: `${at}.needs`, message: `no alive ${job.target !== undefined ? 'target ' : ''}node provides ${missing}` })
      }
    }
    if (problems.length > 0) throw new ApiError(422, 'ERR_UNSATISFIABLE', 'no alive node can run some jobs of this joblist: start a node with those resources, lower the needs, or submit with --wait-for-nodes', problems)
  }

  app.post('/v1/joblists', async (req: FastifyRequest<{ Querystring: { unsatisfiable?: string } }>, reply: FastifyReply) => {
    const result = validateJoblist(req.body)
    if (!result.ok) throw new ApiError(400, 'ERR_SPEC_INVALID', `invalid joblist: ${result.issues.length} problem(s)`, result.issues)
    const spec = result.spec
    if (req.query.unsatisfiable !== 'wait') refuseUnsatisfiable(spec)
    const owner = headerString(req.headers['x-cis-owner']) ?? 'anonymous'
    const { request, id } = await node.submit(spec, owner.slice(0, 100))
    if (id === null) return reply.code(202).send({ id: null, name: spec.name, request, state: 'submitted' })
    return reply.code(201).send({ id, name: spec.name, request, state: node.state.joblists[id]?.state ?? 'queued' })
  })

  app.get('/v1/joblists', async (req: FastifyRequest<{ Querystring: { state?: string, name?: string } }>) => {
    const { state: want, name } = req.query
    const list = Object.values(node.state.joblists)
      .filter(j => (want === undefined || j.state === want) && (name === undefined || j.name === name))
      .sort((a, b) => comparePositions(a.position, b.position))
    return { joblists: list.map(j => joblistSummary(node.state, j)) }
  })

  app.get('/v1/joblists/:ref', async (req: FastifyRequest<{ Params: { ref: string } }>) => {
    const jl = findJoblist(node.state, req.params.ref)
    if (jl === undefined) throw notFound('joblist', req.params.ref)
    return joblistView(node.state, jl, FINAL_JOBLIST_STATES.has(jl.state) ? {} : waitReasons(planInput()))
  })

  app.post('/v1/plan', async (req: FastifyRequest) => {
    const result = validateJoblist(req.body)
    if (!result.ok) throw new ApiError(400, 'ERR_SPEC_INVALID', `invalid joblist: ${result.issues.length} problem(s)`, result.issues)
    return planJoblist(planInput(), result.spec)
  })

  app.post('/v1/joblists/:ref/stop', async (req: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
    const jl = findJoblist(node.state, req.params.ref)
    if (jl === undefined) throw notFound('joblist', req.params.ref)
    if (FINAL_JOBLIST_STATES.has(jl.state)) throw new ApiError(409, 'ERR_ALREADY_ENDED', `joblist ${jl.id} (${jl.name}) already ended: ${jl.state}`)
    const request = await node.requestStop(jl.id)
    return reply.code(202).send({ id: jl.id, request, state: jl.state })
  })

  app.get('/v1/jobs/:ref', async (req: FastifyRequest<{ Params: { ref: string } }>) => {
    const job = findJob(node.state, req.params.ref)
    if (job === undefined) throw notFound('job', req.params.ref)
    return jobView(node.state, job, FINAL_JOB_STATES.has(job.state) ? {} : waitReasons(planInput()))
  })

  app.post('/v1/jobs/:ref/stop', async (req: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
    const job = findJob(node.state, req.params.ref)
    if (job === undefined) throw notFound('job', req.params.ref)
    if (FINAL_JOB_STATES.has(job.state)) throw new ApiError(409, 'ERR_ALREADY_ENDED', `job ${job.id} (${job.name}) already ended: ${job.state}`)
    const request = await node.requestStop(job.joblistId, job.id)
    return reply.code(202).send({ id: job.id, request, state: job.state })
  })

  app.get('/v1/jobs/:ref/logs', async (req: FastifyRequest<{ Params: { ref: string }, Querystring: { attempt?: string, stream?: string, offset?: string } }>, reply: FastifyReply) => {
    const job = findJob(node.state, req.params.ref)
    if (job === undefined) throw notFound('job', req.params.ref)
    const attempts = sortedAttempts(node.state.attempts[job.id])
    const n = req.query.attempt !== undefined ? Number(req.query.attempt) : attempts[attempts.length - 1]?.n
    const a = attempts.find(x => x.n === n)
    if (a === undefined) throw new ApiError(404, 'ERR_NOT_FOUND', n === undefined ? `job ${job.id} has not run yet; try again when it started` : `job ${job.id} has no attempt ${String(n)}`)
    const done = !['assigned', 'running'].includes(a.state)
    const nodeName = node.state.nodes[a.node]?.name ?? a.node
    const read = async (stream: 'stdout' | 'stderr', offset: number): Promise<Buffer> => {
      try {
        return await node.readLogs(job.id, a.n, a.node, stream, offset)
      } catch (err) {
        throw new ApiError(503, 'ERR_NODE_OFFLINE', `the logs of attempt ${a.n} of job ${job.id} are on node ${nodeName}: ${(err as Error).message}`)
      }
    }
    const { stream } = req.query
    if (stream !== undefined) {
      if (stream !== 'stdout' && stream !== 'stderr') throw new ApiError(400, 'ERR_BAD_REQUEST', 'stream must be stdout or stderr')
      const offset = Number(req.query.offset ?? 0)
      if (!Number.isSafeInteger(offset) || offset < 0) throw new ApiError(400, 'ERR_BAD_REQUEST', 'offset must be a whole number of bytes')
      const chunk = await read(stream, offset)
      return reply.header('content-type', 'text/plain; charset=utf-8')
        .header('x-cis-offset', String(offset + chunk.length))
        .header('x-cis-done', String(done))
        .header('x-cis-attempt', String(a.n))
        .send(chunk)
    }
    const [stdout, stderr] = await Promise.all([read('stdout', 0), read('stderr', 0)])
    return { jobId: job.id, attempt: a.n, node: nodeName, state: a.state, done, stdout: stdout.toString('utf8'), stderr: stderr.toString('utf8') }
  })

  app.get('/v1/nodes', async () => {
    const alive = node.alive()
    const master = node.master()
    return {
      nodes: Object.values(node.state.nodes).map(n => ({
        id: n.id,
        peerId: n.id,
        name: n.name,
        api: n.api,
        addresses: n.addresses,
        priority: n.priority,
        profiles: n.profiles,
        resources: n.resources,
        alive: alive.has(n.id),
        lastSeen: ((t: number | undefined) => t === undefined ? null : new Date(t).toISOString())(node.lastSeen(n.id)),
        self: n.id === node.id,
        master: n.id === master,
        version: n.version
      }))
    }
  })

  app.get('/v1/stats', async () => {
    const joblists: Record<string, number> = {}
    for (const jl of Object.values(node.state.joblists)) joblists[jl.state] = (joblists[jl.state] ?? 0) + 1
    const unaccepted = Object.values(node.state.requests).filter(r => r.joblistId === undefined).length
    return { joblists, unaccepted, running: node.runningCount(), events: Object.values(node.state.applied).reduce((a, b) => a + b, 0) }
  })

  if (opts.testGate) {
    // Test hook, only with --enable-test-gate: drop and refuse the given peers.
    app.post('/v1/debug/partition', async (req: FastifyRequest) => {
      const block = (req.body as { block?: unknown })?.block
      if (!Array.isArray(block) || block.some(p => typeof p !== 'string')) throw new ApiError(400, 'ERR_BAD_REQUEST', 'expected {"block": [peerId, ...]}')
      await node.mesh?.net.block(block as string[])
      return { blocked: block }
    })
  }

  app.get('/v1/state', async (req: FastifyRequest<{ Querystring: { full?: string, hash?: string, event?: string } }>) => {
    const origins = node.state.applied
    const events = Object.values(origins).reduce((a, b) => a + b, 0)
    // ?event=ORIGIN:SEQ: when this node applied that event (ms since the epoch), if recently.
    if (req.query.event !== undefined) return { event: req.query.event, appliedAt: node.appliedAt.get(req.query.event) ?? null }
    // ?hash=false: only the version vector (cheap, for watching replication).
    if (req.query.hash === 'false') return { events, origins }
    const out = { hash: stateHash(node.state), events, origins }
    // ?full=true: the whole derived state, to compare two nodes whose hashes differ.
    return req.query.full === 'true' ? { ...out, state: node.state } : out
  })

  return app
}

function headerString (v: string | string[] | undefined): string | undefined {
  if (Array.isArray(v)) return v[0]
  return v === undefined || v === '' ? undefined : v
}

