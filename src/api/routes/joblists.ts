// Joblists: submit (D-1, R4-1), dry-run plan, list, show, stop (R4-2).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { unsatisfiable } from '../../scheduler/feasibility.js'
import { planJoblist, waitReasons } from '../../scheduler/plan.js'
import type { PlanInput } from '../../scheduler/plan.js'
import { validateJoblist } from '../../spec/validate.js'
import { fillVars } from '../../spec/vars.js'
import { scheduleSummary } from '../../state/schedule-views.js'
import type { JoblistSpec } from '../../spec/types.js'
import { comparePositions } from '../../state/reducer.js'
import { FINAL_JOBLIST_STATES } from '../../state/types.js'
import { findJoblist, joblistSummary, joblistView } from '../../state/views.js'
import { ApiError, notFound } from '../errors.js'
import type { ApiNode, ClusterSnapshot } from '../node-port.js'

export const planInput = (v: ClusterSnapshot): PlanInput => ({ state: v.state, now: v.now, alive: v.alive, queue: v.queue })

function validSpec (body: unknown): JoblistSpec {
  const result = validateJoblist(body)
  if (!result.ok) throw new ApiError(400, 'ERR_SPEC_INVALID', `invalid joblist: ${result.issues.length} problem(s)`, result.issues)
  return result.spec
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/**
 * The body of a submit: the joblist itself, or `{joblist, vars}` with the values of its
 * variables (S-7). The result has its variables filled in.
 */
export function submittedSpec (body: unknown): JoblistSpec {
  const envelope = isObj(body) && 'joblist' in body && !('stages' in body)
  if (envelope) {
    const extra = Object.keys(body).filter(k => k !== 'joblist' && k !== 'vars')
    if (extra.length > 0) throw new ApiError(400, 'ERR_BAD_REQUEST', `unknown field(s) ${extra.join(', ')}: send {joblist, vars}`)
  }
  const raw0 = envelope ? body.joblist : body
  if (isObj(raw0) && 'values' in raw0) throw new ApiError(400, 'ERR_SPEC_INVALID', 'values is written by the node that fills in the variables: give them as {joblist, vars: {name: value}} (cis submit --var NAME=VALUE)', [{ path: 'values', message: 'not allowed in a submitted joblist: use vars' }])
  const spec = validSpec(raw0)
  const raw = envelope ? body.vars ?? {} : {}
  if (!isObj(raw) || !Object.values(raw).every(v => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) {
    throw new ApiError(400, 'ERR_BAD_REQUEST', 'vars must be a mapping of variable name to value')
  }
  const given = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(v)]))
  const filled = fillVars(spec, given)
  if (!filled.ok) throw new ApiError(400, 'ERR_SPEC_INVALID', `variables: ${filled.issues.map(i => i.message).join('; ')}`, filled.issues)
  return filled.spec
}

function headerString (v: string | string[] | undefined): string | undefined {
  if (Array.isArray(v)) return v[0]
  return v === undefined || v === '' ? undefined : v
}

export function joblistRoutes (app: FastifyInstance, node: ApiNode): void {
  app.post('/v1/joblists', async (req: FastifyRequest<{ Querystring: { unsatisfiable?: string } }>, reply: FastifyReply) => {
    const spec = submittedSpec(req.body)
    if (req.query.unsatisfiable !== 'wait') {
      const v = node.view()
      const problems = unsatisfiable(v.state, spec, v.alive)
      if (problems.length > 0) throw new ApiError(422, 'ERR_UNSATISFIABLE', 'no alive node can run some jobs of this joblist: start a node with those resources, lower the needs, or submit with --wait-for-nodes', problems)
    }
    const owner = (headerString(req.headers['x-cis-owner']) ?? 'anonymous').slice(0, 100)
    if (spec.schedule !== undefined) {
      // S-1: a joblist with a schedule defines (or replaces) the schedule of that name.
      const request = await node.defineSchedule(spec, owner)
      const v = node.view()
      const rec = v.state.schedules[spec.name]
      const summary = rec === undefined ? undefined : scheduleSummary(v.state, rec, v.now)
      return reply.code(201).send({ schedule: spec.name, request, next: summary?.next ?? null, timezone: spec.schedule.timezone, replaced: (rec?.definitions ?? 1) > 1 })
    }
    const { request, id } = await node.submit(spec, owner)
    if (id === null) return reply.code(202).send({ id: null, name: spec.name, request, state: 'submitted' })
    return reply.code(201).send({ id, name: spec.name, request, state: node.view().state.joblists[id]?.state ?? 'queued' })
  })

  app.post('/v1/plan', async (req: FastifyRequest) => planJoblist(planInput(node.view()), validSpec(req.body)))

  // Check a joblist without submitting it (the dashboard's submit page): its problems at their
  // paths, or the joblist as a plain value with its declared variables and schedule.
  app.post('/v1/validate', async (req: FastifyRequest) => {
    const spec = validSpec(req.body)
    return { ok: true, name: spec.name, joblist: req.body, vars: spec.vars ?? [], schedule: spec.schedule ?? null }
  })

  app.get('/v1/joblists', async (req: FastifyRequest<{ Querystring: { state?: string, name?: string, unacked?: string } }>) => {
    const { state: want, name, unacked } = req.query
    const { state } = node.view()
    const list = Object.values(state.joblists)
      .filter(j => (want === undefined || j.state === want) && (name === undefined || j.name === name) && (unacked !== 'true' || (j.state === 'failed' && state.acks[j.id] === undefined)))
      .sort((a, b) => comparePositions(a.position, b.position))
    return { joblists: list.map(j => joblistSummary(state, j)) }
  })

  app.get('/v1/joblists/:ref', async (req: FastifyRequest<{ Params: { ref: string } }>) => {
    const v = node.view()
    const jl = findJoblist(v.state, req.params.ref)
    if (jl === undefined) throw notFound('joblist', req.params.ref)
    return joblistView(v.state, jl, FINAL_JOBLIST_STATES.has(jl.state) ? {} : waitReasons(planInput(v)), v)
  })

  app.post('/v1/joblists/:ref/stop', async (req: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
    const jl = findJoblist(node.view().state, req.params.ref)
    if (jl === undefined) throw notFound('joblist', req.params.ref)
    if (FINAL_JOBLIST_STATES.has(jl.state)) throw new ApiError(409, 'ERR_ALREADY_ENDED', `joblist ${jl.id} (${jl.name}) already ended: ${jl.state}`)
    const request = await node.requestStop(jl.id)
    return reply.code(202).send({ id: jl.id, request, state: jl.state })
  })

  // S-5: a person saw this failure; it leaves the front of `cis status`.
  app.post('/v1/joblists/:ref/ack', async (req: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
    const { state } = node.view()
    const jl = findJoblist(state, req.params.ref)
    if (jl === undefined) throw notFound('joblist', req.params.ref)
    if (jl.state !== 'failed') throw new ApiError(409, 'ERR_NOT_FAILED', `joblist ${jl.id} (${jl.name}) is ${jl.state}, not failed: only failures are acknowledged`)
    const already = state.acks[jl.id] !== undefined
    const request = already ? null : await node.ack(jl.id)
    return reply.code(already ? 200 : 202).send({ id: jl.id, request, acked: true })
  })
}
