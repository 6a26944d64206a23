// Joblists: submit (D-1, R4-1), dry-run plan, list, show, change (D-1), stop (R4-2).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { unsatisfiable } from '../../scheduler/feasibility.js'
import { planJoblist, waitReasons } from '../../scheduler/plan.js'
import type { PlanInput } from '../../scheduler/plan.js'
import { UPDATABLE_FIELDS } from '../../events/types.js'
import type { UpdateBody } from '../../events/types.js'
import { joblistSchema, notifyListSchema } from '../../spec/schema.js'
import { normalNotify, validateJoblist } from '../../spec/validate.js'
import { fillVars } from '../../spec/vars.js'
import { scheduleSummary } from '../../state/schedule-views.js'
import type { JoblistSpec, NotifySpec } from '../../spec/types.js'
import { comparePositions } from '../../state/reducer.js'
import { FINAL_JOBLIST_STATES } from '../../state/types.js'
import type { JoblistRecord, JoblistState } from '../../state/types.js'
import { findJoblist, joblistSummary, joblistView } from '../../state/views.js'
import { hostAllowed } from '../../state/notifications.js'
import { historyOf, stateAt } from '../../state/history.js'
import { parseTimeRef } from '../../spec/time-ref.js'
import { ApiError, notFound } from '../errors.js'
import type { ApiNode, ClusterSnapshot } from '../node-port.js'
import { PARAMS, anyObject, doc } from '../openapi.js'

/** How many archived joblists of a name a list shows (the latest ended). */
const ARCHIVED_LISTED = 100


/** The states a joblist can be in (GET /v1/joblists?state=). */
const JOBLIST_STATE_NAMES: readonly string[] = ['queued', 'running', 'succeeded', 'failed', 'stopped'] satisfies readonly JoblistState[]

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

/** Refuse a joblist no alive node can run (422), unless the client said it waits for such a node. */
export function checkSatisfiable (node: ApiNode, spec: JoblistSpec, wait: string | undefined): void {
  if (wait === 'wait') return
  const v = node.view()
  const problems = unsatisfiable(v.state, spec, v.alive)
  if (problems.length > 0) throw new ApiError(422, 'ERR_UNSATISFIABLE', 'no alive node can run some jobs of this joblist: start a node with those resources, lower the needs, or submit with --wait-for-nodes', problems)
}

/** What this node's settings refuse in a notify list (issue 11), at paths under `at`. */
export function notifyIssues (node: ApiNode, list: readonly NotifySpec[], at: string): Array<{ path: string, message: string }> {
  const issues: Array<{ path: string, message: string }> = []
  list.forEach((n, i) => {
    if ('email' in n) {
      if (node.notify?.smtp !== true) issues.push({ path: `${at}[${i}].email`, message: "email notifications are not enabled on this cluster: configure smtp (host, port, from) in the agent's config" })
      return
    }
    const path = `${at}[${i}].webhook`
    if (node.notify?.signed !== true) {
      issues.push({ path, message: "webhooks are not enabled on this cluster: set notify.secret in the agent's config (webhooks are never sent unsigned)" })
      return
    }
    if (!hostAllowed(n.webhook, node.notify.allowHosts)) {
      const u = new URL(n.webhook)
      issues.push({ path, message: `host ${u.host} is not allowed: add it to notify.allowHosts in the agent's config (e.g. allowHosts: [${u.host}])` })
    }
  })
  return issues
}

/**
 * Refuse webhooks this node's settings do not allow (issue 11), on the joblist and on each of
 * its jobs: none without a signing secret, and only to hosts in notify.allowHosts (no
 * requests to internal addresses by default); no email without smtp.
 */
export function checkWebhooks (node: ApiNode, spec: JoblistSpec): void {
  const issues = notifyIssues(node, spec.notify ?? [], 'notify')
  spec.stages.forEach((s, si) => s.jobs.forEach((j, ji) => issues.push(...notifyIssues(node, j.notify ?? [], `stages[${si}].jobs[${ji}].notify`))))
  if (issues.length > 0) throw new ApiError(400, 'ERR_SPEC_INVALID', issues.map(i => `${i.path}: ${i.message}`).join('; '), issues)
}

/** A notify list given in a change, checked like a submitted one (shape and this node's settings). */
export function notifyChangeValue (node: ApiNode, value: unknown, at = 'notify'): { ok: true, notify: NotifySpec[] } | { ok: false, issues: Array<{ path: string, message: string }> } {
  const r = notifyListSchema.safeParse(value)
  if (!r.success) {
    const i = r.error.issues[0]
    return { ok: false, issues: [{ path: [at, ...(i?.path ?? [])].map((p, n) => typeof p === 'number' ? `[${p}]` : `${n > 0 ? '.' : ''}${String(p)}`).join(''), message: i?.message ?? 'must be a list of subscriptions' }] }
  }
  const notify = r.data.map(normalNotify)
  const issues = notifyIssues(node, notify, at)
  return issues.length > 0 ? { ok: false, issues } : { ok: true, notify }
}

/** A time in a query (`at`): ms, or a 400 saying what is accepted. */
function parseAt (node: ApiNode, raw: string): number {
  const t = parseTimeRef(raw, node.view().now)
  if (typeof t === 'string') throw new ApiError(400, 'ERR_BAD_REQUEST', `at: ${t}`)
  return t
}

/** The state as it was at a time (G-3), replayed from the stored events. */
export async function stateAtQuery (node: ApiNode, raw: string): Promise<{ state: ClusterSnapshot['state'], at: number }> {
  const at = parseAt(node, raw)
  return { state: stateAt(await node.storedEvents(at), at), at }
}

export const ownerOf = (req: FastifyRequest): string => (headerString(req.headers['x-cis-owner']) ?? 'anonymous').slice(0, 100)

/** The fields PATCH /v1/joblists/{id} may change. */
export const CHANGEABLE: readonly string[] = UPDATABLE_FIELDS

/**
 * The change a PATCH body asks for, checked: only changeable fields, each with a valid value
 * (the same rules as in a submitted joblist). 400 names every field that cannot change.
 */
export function joblistChange (node: ApiNode, joblistId: string, body: unknown): UpdateBody {
  if (!isObj(body)) throw new ApiError(400, 'ERR_BAD_REQUEST', `send a JSON object with the fields to change: ${CHANGEABLE.join(', ')}`)
  const keys = Object.keys(body)
  const inSpec = (k: string): boolean => Object.hasOwn(joblistSchema.shape, k)
  const fixed = keys.filter(k => inSpec(k) && !CHANGEABLE.includes(k))
  const unknown = keys.filter(k => !inSpec(k) && !CHANGEABLE.includes(k))
  const problems = [
    ...fixed.map(k => ({ path: k, message: 'cannot be changed once submitted (stop the joblist and submit a new one)' })),
    ...unknown.map(k => ({ path: k, message: 'unknown field' }))
  ]
  if (problems.length > 0) {
    const what = [
      ...(fixed.length > 0 ? [`${fixed.join(', ')} cannot be changed`] : []),
      ...(unknown.length > 0 ? [`unknown field(s) ${unknown.join(', ')}`] : [])
    ]
    throw new ApiError(400, 'ERR_BAD_REQUEST', `${what.join('; ')}: only ${CHANGEABLE.join(', ')} can be changed`, problems)
  }
  if (keys.length === 0) throw new ApiError(400, 'ERR_BAD_REQUEST', `nothing to change: give ${CHANGEABLE.join(' and/or ')}`)
  const change: UpdateBody = { joblistId }
  const issues: Array<{ path: string, message: string }> = []
  if ('priority' in body) {
    const r = joblistSchema.shape.priority.safeParse(body.priority)
    if (!r.success || body.priority === undefined) issues.push({ path: 'priority', message: r.success ? 'must be a whole number' : r.error.issues[0]?.message ?? 'invalid' })
    else change.priority = r.data
  }
  if ('tags' in body) {
    const r = joblistSchema.shape.tags.safeParse(body.tags)
    if (!r.success || body.tags === undefined) {
      const i = r.success ? undefined : r.error.issues[0]
      issues.push({ path: ['tags', ...(i?.path ?? [])].map((p, n) => typeof p === 'number' ? `[${p}]` : `${n > 0 ? '.' : ''}${String(p)}`).join(''), message: i?.message ?? 'must be a list of strings' })
    } else change.tags = r.data
  }
  if ('notify' in body) {
    const r = notifyChangeValue(node, body.notify)
    if (r.ok) change.notify = r.notify
    else issues.push(...r.issues)
  }
  if (issues.length > 0) throw new ApiError(400, 'ERR_SPEC_INVALID', `invalid change: ${issues.map(i => `${i.path}: ${i.message}`).join('; ')}`, issues)
  return change
}

const SUBMIT_BODY = {
  description: 'a joblist (JSON or YAML: name, priority, tags, replace, stages, schedule, vars), or {joblist, vars} with the values of its variables',
  type: 'object',
  additionalProperties: true
}

export function joblistRoutes (app: FastifyInstance, node: ApiNode): void {
  app.post('/v1/joblists', {
    schema: doc({
      summary: 'submit a joblist (one with `schedule` defines or replaces that schedule)',
      tags: ['joblists'],
      querystring: { unsatisfiable: '`wait`: accept jobs no alive node can run yet (they wait for such a node)' },
      body: SUBMIT_BODY,
      ok: { 201: 'accepted: {id, name, request, state}; for a schedule {schedule, request, next, timezone, replaced}', 202: 'written, but no master accepted it within 2 s: {id: null, name, request, state: submitted}' },
      errors: ['ERR_SPEC_INVALID', 'ERR_UNSATISFIABLE']
    })
  }, async (req: FastifyRequest<{ Querystring: { unsatisfiable?: string } }>, reply: FastifyReply) => {
    const spec = submittedSpec(req.body)
    checkWebhooks(node, spec)
    checkSatisfiable(node, spec, req.query.unsatisfiable)
    const owner = ownerOf(req)
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

  app.post('/v1/plan', {
    schema: doc({ summary: 'dry run: where the first stage of a joblist would run now, or why it would wait', tags: ['joblists'], body: SUBMIT_BODY, ok: { 200: '{stage, jobs: [{name, node, resources, waiting?}]}' }, errors: ['ERR_SPEC_INVALID'] })
  }, async (req: FastifyRequest) => planJoblist(planInput(node.view()), validSpec(req.body)))

  // Check a joblist without submitting it (the dashboard's submit page): its problems at their
  // paths, or the joblist as a plain value with its declared variables and schedule.
  app.post('/v1/validate', {
    schema: doc({ summary: 'check a joblist without submitting it', tags: ['joblists'], body: SUBMIT_BODY, ok: { 200: '{ok: true, name, joblist, vars, schedule}' }, errors: ['ERR_SPEC_INVALID'] })
  }, async (req: FastifyRequest) => {
    const spec = validSpec(req.body)
    return { ok: true, name: spec.name, joblist: req.body, vars: spec.vars ?? [], schedule: spec.schedule ?? null }
  })

  app.get('/v1/joblists', {
    schema: doc({
      summary: 'list joblists in queue order',
      tags: ['joblists'],
      querystring: { state: 'only this state: queued, running, succeeded, failed, stopped', name: 'only joblists of this name (with the latest 100 archived ones)', unacked: '`true`: only failures nobody acknowledged', at: 'the list as it was at this time (G-3): an ISO time, or a span before now (2h)' },
      ok: { 200: '{joblists: [summary, ...]} (with at: {at, joblists})' },
      errors: ['ERR_BAD_REQUEST']
    })
  }, async (req: FastifyRequest<{ Querystring: { state?: string, name?: string, unacked?: string, at?: string } }>) => {
    const { state: want, name, unacked } = req.query
    if (want !== undefined && !JOBLIST_STATE_NAMES.includes(want)) throw new ApiError(400, 'ERR_BAD_REQUEST', `state: '${want}' is not a joblist state: give one of ${JOBLIST_STATE_NAMES.join(', ')}`)
    const past = req.query.at !== undefined ? await stateAtQuery(node, req.query.at) : undefined
    const state = past?.state ?? node.view().state
    const wanted = (st: typeof state, j: JoblistRecord): boolean => (want === undefined || j.state === want) && (name === undefined || j.name === name) && (unacked !== 'true' || (j.state === 'failed' && st.acks[j.id] === undefined))
    const list = Object.values(state.joblists).filter(j => wanted(state, j)).map(j => ({ j, st: state }))
    // Ended joblists archived out of memory are listed by name (the latest ARCHIVED_LISTED).
    if (past === undefined && name !== undefined) {
      for (const v of await node.archivedNamed(name, ARCHIVED_LISTED)) {
        const j = Object.values(v.state.joblists)[0]
        if (j !== undefined && state.joblists[j.id] === undefined && wanted(v.state, j)) list.push({ j, st: v.state })
      }
    }
    list.sort((a, b) => comparePositions(a.j.position, b.j.position))
    return { ...(past !== undefined ? { at: new Date(past.at).toISOString() } : {}), joblists: list.map(({ j, st }) => joblistSummary(st, j)) }
  })

  app.get('/v1/joblists/:ref', {
    schema: doc({ summary: 'one joblist with its stages, jobs, attempts and why waiting jobs wait', tags: ['joblists'], params: PARAMS.ref, querystring: { at: 'the joblist as it was at this time (G-3)' }, ok: { 200: 'the joblist' }, errors: ['ERR_NOT_FOUND', 'ERR_BAD_REQUEST'] })
  }, async (req: FastifyRequest<{ Params: { ref: string }, Querystring: { at?: string } }>) => {
    if (req.query.at !== undefined) {
      const { state, at } = await stateAtQuery(node, req.query.at)
      const jl = findJoblist(state, req.params.ref)
      if (jl === undefined) throw new ApiError(404, 'ERR_NOT_FOUND', `no joblist ${req.params.ref} at ${new Date(at).toISOString()} (it may have been submitted later): cis status lists the joblists`)
      return joblistView(state, jl)
    }
    const v = await node.viewOf(req.params.ref)
    const jl = findJoblist(v.state, req.params.ref)
    if (jl === undefined) throw notFound('joblist', req.params.ref)
    return joblistView(v.state, jl, FINAL_JOBLIST_STATES.has(jl.state) ? {} : waitReasons(planInput(v), jl.id), v)
  })

  // G-3: every change of a joblist and its jobs, from the events, in clock order.
  app.get('/v1/joblists/:ref/history', {
    schema: doc({ summary: 'the history of a joblist (G-3): every event about it and its jobs, with its time, the node that wrote it and what changed', tags: ['joblists'], params: PARAMS.ref, ok: { 200: '{id, name, events: [{at, node, origin, seq, type, text}]}' }, errors: ['ERR_NOT_FOUND'] })
  }, async (req: FastifyRequest<{ Params: { ref: string } }>) => {
    const { state } = await node.viewOf(req.params.ref)
    const jl = findJoblist(state, req.params.ref)
    if (jl === undefined) throw notFound('joblist', req.params.ref)
    const subjects = new Set([jl.request, jl.id, ...(state.accepts[jl.request] ?? []).map(a => a.id)])
    const entries = historyOf(await node.subjectEvents(subjects), subjects, id => state.nodes[id]?.name ?? id)
    return { id: jl.id, name: jl.name, events: entries.map(e => ({ ...e, at: new Date(e.at).toISOString() })) }
  })

  // D-1: change a joblist not yet ended: its priority and tags. Written as an `update` event
  // by this node; the scheduler serves the new priority as soon as the event is applied.
  app.patch('/v1/joblists/:ref', {
    schema: doc({
      summary: 'change the priority, tags and/or notify of a joblist that has not ended',
      description: 'Only `priority` (-1000..1000), `tags` (a list of strings; replaces the list) and `notify` (a list of subscriptions, as in a joblist; replaces the list, [] removes them) can change. A subscription kept (same webhook URL or email address) keeps its notifications; one added is told of the states reached from then on. Any other field of a joblist (name, stages, replace, …) is refused with 400 naming it. 409 once the joblist ended.',
      tags: ['joblists'],
      params: PARAMS.ref,
      body: {
        type: 'object',
        properties: {
          priority: { type: 'integer', minimum: -1000, maximum: 1000 },
          tags: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 100 }, maxItems: 100 },
          notify: { type: 'array', items: { type: 'object' }, maxItems: 10 }
        },
        additionalProperties: false
      },
      ok: { 202: anyObject('the change is written: {id, request, priority, tags, notify, state}') },
      errors: ['ERR_SPEC_INVALID', 'ERR_NOT_FOUND', 'ERR_ALREADY_ENDED']
    })
  }, async (req: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
    const jl = findJoblist((await node.viewOf(req.params.ref)).state, req.params.ref)
    if (jl === undefined) throw notFound('joblist', req.params.ref)
    if (FINAL_JOBLIST_STATES.has(jl.state)) throw new ApiError(409, 'ERR_ALREADY_ENDED', `joblist ${jl.id} (${jl.name}) already ended: ${jl.state}; only work not yet ended can be changed`)
    const change = joblistChange(node, jl.id, req.body)
    const request = await node.updateJoblist(change)
    const v = node.view()
    const now = v.state.joblists[jl.id] ?? jl
    return reply.code(202).send({ id: jl.id, request, priority: now.priority, tags: now.tags, notify: joblistView(v.state, now).notify ?? [], state: now.state })
  })

  app.post('/v1/joblists/:ref/stop', {
    schema: doc({ summary: 'stop a joblist: its running processes get TERM, then KILL after the grace period', tags: ['joblists'], params: PARAMS.ref, ok: { 202: '{id, request, state}' }, errors: ['ERR_NOT_FOUND', 'ERR_ALREADY_ENDED'] })
  }, async (req: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
    const jl = findJoblist((await node.viewOf(req.params.ref)).state, req.params.ref)
    if (jl === undefined) throw notFound('joblist', req.params.ref)
    if (FINAL_JOBLIST_STATES.has(jl.state)) throw new ApiError(409, 'ERR_ALREADY_ENDED', `joblist ${jl.id} (${jl.name}) already ended: ${jl.state}`)
    const request = await node.requestStop(jl.id)
    return reply.code(202).send({ id: jl.id, request, state: jl.state })
  })

  // S-5: a person saw this failure; it leaves the front of `cis status`.
  app.post('/v1/joblists/:ref/ack', {
    schema: doc({ summary: 'acknowledge a failed joblist (S-5): it leaves the front of the list', tags: ['joblists'], params: PARAMS.ref, ok: { 202: '{id, request, acked: true}', 200: 'acknowledged already: {id, request: null, acked: true}' }, errors: ['ERR_NOT_FOUND', 'ERR_NOT_FAILED'] })
  }, async (req: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
    const { state } = await node.viewOf(req.params.ref)
    const jl = findJoblist(state, req.params.ref)
    if (jl === undefined) throw notFound('joblist', req.params.ref)
    if (jl.state !== 'failed') throw new ApiError(409, 'ERR_NOT_FAILED', `joblist ${jl.id} (${jl.name}) is ${jl.state}, not failed: only failures are acknowledged`)
    const already = state.acks[jl.id] !== undefined
    const request = already ? null : await node.ack(jl.id)
    return reply.code(already ? 200 : 202).send({ id: jl.id, request, acked: true })
  })
}
