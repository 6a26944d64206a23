// Schedules (S-1, S-6): list, show with the history of runs, pause, resume, trigger, remove.
// A schedule is created by submitting a joblist with `schedule` (POST /v1/joblists).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ControlOp } from '../../events/types.js'
import { runSpec } from '../../scheduler/recurrence.js'
import { scheduleStatus } from '../../state/schedules.js'
import { runKeys, scheduleList, scheduleSummary, scheduleView } from '../../state/schedule-views.js'
import type { ScheduleRecord } from '../../state/types.js'
import { ApiError } from '../errors.js'
import type { ApiNode } from '../node-port.js'
import { PARAMS, doc } from '../openapi.js'

type NameReq = FastifyRequest<{ Params: { name: string } }>

function known (node: ApiNode, name: string): ScheduleRecord {
  const rec = node.view().state.schedules[name]
  if (rec === undefined || rec.spec === null) throw new ApiError(404, 'ERR_NOT_FOUND', `no schedule '${name}' is known to this node; list them with 'cis schedules'`)
  return rec
}

function limitOf (raw: string | undefined): number {
  if (raw === undefined) return 100
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n < 1 || n > 100_000) throw new ApiError(400, 'ERR_BAD_REQUEST', 'limit must be a whole number from 1 to 100000')
  return n
}

export function scheduleRoutes (app: FastifyInstance, node: ApiNode): void {
  app.get('/v1/schedules', {
    schema: doc({ summary: 'list the schedules, paused and failing first', tags: ['schedules'], querystring: { all: '`true`: removed ones too' }, ok: { 200: '{schedules: [summary, ...]}' } })
  }, async (req: FastifyRequest<{ Querystring: { all?: string } }>) => {
    const v = node.view()
    return { schedules: scheduleList(v.state, v.now, req.query.all === 'true') }
  })

  app.get('/v1/schedules/:name', {
    schema: doc({ summary: 'one schedule: its definition, runs and skipped instants, newest first', tags: ['schedules'], params: PARAMS.name, querystring: { limit: 'at most this many runs and skips (1..100000, default 100)' }, ok: { 200: 'the schedule' }, errors: ['ERR_BAD_REQUEST', 'ERR_NOT_FOUND'] })
  }, async (req: FastifyRequest<{ Params: { name: string }, Querystring: { limit?: string } }>) => {
    const rec = known(node, req.params.name)
    const limit = limitOf(req.query.limit)
    // Runs archived out of memory are read back for the view.
    const v = await node.viewWithRequests(runKeys(rec, limit))
    return scheduleView(v.state, rec, v.now, limit)
  })

  const control = (op: ControlOp) => async (req: NameReq, reply: FastifyReply) => {
    const rec = known(node, req.params.name)
    const status = scheduleStatus(node.view().state, rec)
    if (status.removed) throw new ApiError(409, 'ERR_SCHEDULE_REMOVED', `schedule '${rec.name}' was removed (cis unschedule); submit its joblist again to re-create it`)
    // Nothing to do: pausing what the user paused already, resuming what is not paused.
    const noop = (op === 'pause' && status.pausedBy === 'user') || (op === 'resume' && !status.paused)
    const request = noop ? null : await node.controlSchedule(rec.name, op)
    const v = node.view()
    const after = scheduleStatus(v.state, rec)
    return reply.code(noop ? 200 : 202).send({ name: rec.name, request, paused: after.paused, pausedBy: after.pausedBy, removed: after.removed, next: scheduleSummary(v.state, rec, v.now)?.next ?? null })
  }
  const controlDoc = (summary: string): { schema: ReturnType<typeof doc> } => ({
    schema: doc({ summary, tags: ['schedules'], params: PARAMS.name, ok: { 202: '{name, request, paused, pausedBy, removed, next}', 200: 'nothing to do: {name, request: null, paused, pausedBy, removed, next}' }, errors: ['ERR_NOT_FOUND', 'ERR_SCHEDULE_REMOVED'] })
  })
  app.post('/v1/schedules/:name/pause', controlDoc('pause a schedule: no new runs until resumed'), control('pause'))
  app.post('/v1/schedules/:name/resume', controlDoc('resume a paused schedule (the instants it missed are skipped)'), control('resume'))
  app.delete('/v1/schedules/:name', controlDoc('remove a schedule: no new runs; its history stays'), control('delete'))

  // One run now, outside the cron: an ordinary run of the schedule, marked manual.
  app.post('/v1/schedules/:name/trigger', {
    schema: doc({ summary: 'start a run of a schedule now, outside its cron', tags: ['schedules'], params: PARAMS.name, ok: { 201: '{id, name, request, state}', 202: 'no master accepted it within 2 s: {id: null, name, request, state: submitted}' }, errors: ['ERR_NOT_FOUND', 'ERR_SCHEDULE_REMOVED'] })
  }, async (req: NameReq, reply: FastifyReply) => {
    const rec = known(node, req.params.name)
    if (scheduleStatus(node.view().state, rec).removed) throw new ApiError(409, 'ERR_SCHEDULE_REMOVED', `schedule '${rec.name}' was removed (cis unschedule); submit its joblist again to re-create it`)
    const spec = runSpec(rec.spec ?? (() => { throw new Error('unreachable') })())
    const { request, id } = await node.submit(spec, rec.owner, undefined, { name: rec.name, instant: node.view().now, manual: true })
    return reply.code(id === null ? 202 : 201).send({ id, name: rec.name, request, state: id === null ? 'submitted' : node.view().state.joblists[id]?.state ?? 'queued' })
  })
}
