// Jobs: show one (with its attempts and why it waits), stop one (R4-2), read its output;
// submit one job as a one-stage joblist (the Digester shortcut); change its notify (D-1).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { waitReasons } from '../../scheduler/plan.js'
import { sortedAttempts } from '../../state/derive.js'
import { ACTIVE_ATTEMPT_STATES, FINAL_JOB_STATES } from '../../state/types.js'
import { findJob, jobView } from '../../state/views.js'
import { jobSchema } from '../../spec/schema.js'
import { ApiError, notFound } from '../errors.js'
import type { ApiNode, OutputStream } from '../node-port.js'
import { endConnection } from '../open-streams.js'
import type { OpenStreams } from '../open-streams.js'
import { PARAMS, anyObject, doc } from '../openapi.js'
import { checkSatisfiable, checkWebhooks, notifyChangeValue, ownerOf, planInput, submittedSpec } from './joblists.js'

type LogsRequest = FastifyRequest<{ Params: { ref: string }, Querystring: { attempt?: string, stream?: string, offset?: string, follow?: string } }>

/** How long a follower waits between reads when nothing new came (a change of the job wakes it sooner). */
const FOLLOW_IDLE_MS = 250

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The prefix of a job's own fields in the one-stage joblist a single job is wrapped in. */
const IN_WRAPPER = /^stages\[0\]\.jobs\[0\](\.|$)/

/**
 * POST /v1/jobs: one job becomes a one-stage joblist named after it (stage `main`), checked by
 * the joblist rules; problems are reported at paths relative to the job (`run: required`).
 */
/** An attempt number from a query: a whole number from 1, or a 400 that says so. */
function attemptNumber (text: string): number {
  const n = Number(text)
  if (!/^\d{1,9}$/.test(text) || n < 1) throw new ApiError(400, 'ERR_BAD_REQUEST', `attempt: '${text}' is not an attempt number (a whole number from 1)`)
  return n
}

export function singleJobSpec (body: unknown): ReturnType<typeof submittedSpec> {
  if (!isObj(body)) throw new ApiError(400, 'ERR_SPEC_INVALID', 'send one job: {name, run, needs, env, files, timeout, retries, target}', [{ path: '', message: 'must be a job (a mapping with name and run)' }])
  try {
    return submittedSpec({ name: body.name, stages: [{ name: 'main', jobs: [body] }] })
  } catch (err) {
    if (!(err instanceof ApiError) || !Array.isArray(err.details)) throw err
    const seen = new Set<string>()
    const issues: Array<{ path: string, message: string }> = []
    for (const i of err.details as Array<{ path: string, message: string }>) {
      // The joblist's name is the job's: its problems are the job's `name` problems.
      const path = IN_WRAPPER.test(i.path) ? i.path.replace(IN_WRAPPER, '') : i.path
      const key = `${path}\n${i.message}`
      if (!seen.has(key)) { seen.add(key); issues.push({ ...i, path }) }
    }
    throw new ApiError(err.status, err.code, `invalid job: ${issues.length} problem(s)`, issues)
  }
}

export function jobRoutes (app: FastifyInstance, node: ApiNode, streams: OpenStreams): void {
  // The Digester shortcut: one job, run as a one-stage joblist.
  app.post('/v1/jobs', {
    schema: doc({
      summary: 'submit one job: it runs as a one-stage joblist named after it (stage `main`)',
      tags: ['jobs'],
      querystring: { unsatisfiable: '`wait`: accept a job no alive node can run yet' },
      body: {
        description: 'a job, as in a joblist: name, run, needs, env, files, timeout, retries, target, notify (also replace, lostAfter, retryLost)',
        type: 'object',
        required: ['name', 'run'],
        properties: { name: { type: 'string' }, run: { type: 'string' }, needs: { type: 'object', additionalProperties: { type: 'integer' } }, env: { type: 'object' }, files: { type: 'array' }, timeout: { type: ['string', 'number'] }, retries: { type: 'integer' }, target: { type: 'object' }, notify: { type: 'array', items: { type: 'object' } } },
        additionalProperties: true
      },
      ok: { 201: anyObject('accepted: {id: the job ID, joblistId, name, request, state}'), 202: anyObject('written, but no master accepted it within 2 s: {id: null, joblistId: null, name, request, state: submitted}') },
      errors: ['ERR_SPEC_INVALID', 'ERR_UNSATISFIABLE']
    })
  }, async (req: FastifyRequest<{ Querystring: { unsatisfiable?: string } }>, reply: FastifyReply) => {
    const spec = singleJobSpec(req.body)
    checkWebhooks(node, spec)
    checkSatisfiable(node, spec, req.query.unsatisfiable)
    const { request, id } = await node.submit(spec, ownerOf(req))
    const name = spec.stages[0].jobs[0].name
    if (id === null) return reply.code(202).send({ id: null, joblistId: null, name, request, state: 'submitted' })
    const jobId = node.view().state.joblists[id]?.stages[0]?.jobIds[0] ?? `${id}.1`
    return reply.code(201).send({ id: jobId, joblistId: id, name, request, state: node.view().state.jobs[jobId]?.state ?? 'pending' })
  })

  // D-1: a job's `notify` can change while it has not ended; every other field is refused,
  // naming it (the joblist's priority and tags change with PATCH /v1/joblists/{id}).
  app.patch('/v1/jobs/:ref', {
    schema: doc({
      summary: 'change the notify of a job that has not ended',
      description: 'Only `notify` (a list of subscriptions, as in a job; replaces the list, [] removes them) can change. A subscription kept (same webhook URL or email address) keeps its notifications; one added is told of the states reached from then on. Any other field is refused with 400 naming it; change the priority or tags of its joblist with PATCH /v1/joblists/{id}. 409 once the job ended.',
      tags: ['jobs'],
      params: PARAMS.jobRef,
      body: { type: 'object', properties: { notify: { type: 'array', items: { type: 'object' }, maxItems: 10 } }, additionalProperties: false },
      ok: { 202: anyObject('the change is written: {id, joblistId, request, notify, state}') },
      errors: ['ERR_BAD_REQUEST', 'ERR_SPEC_INVALID', 'ERR_NOT_FOUND', 'ERR_ALREADY_ENDED']
    })
  }, async (req: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
    const seen = await node.viewOf(req.params.ref)
    const found = findJob(seen.state, req.params.ref)
    if (found === undefined) throw notFound('job', req.params.ref)
    // A physical job (one node of a target) is changed through its logical job.
    const job = found.logical !== undefined ? seen.state.jobs[found.logical] ?? found : found
    if (FINAL_JOB_STATES.has(job.state)) throw new ApiError(409, 'ERR_ALREADY_ENDED', `job ${job.id} (${job.name}) already ended: ${job.state}; only work not yet ended can be changed`)
    if (!isObj(req.body)) throw new ApiError(400, 'ERR_BAD_REQUEST', 'send a JSON object with the fields to change: notify')
    const keys = Object.keys(req.body)
    const others = keys.filter(k => k !== 'notify')
    const elsewhere = `the joblist's priority and tags change with PATCH /v1/joblists/${job.joblistId}`
    if (keys.length === 0) throw new ApiError(400, 'ERR_BAD_REQUEST', `nothing to change: give notify (a job's only changeable field); ${elsewhere}`)
    if (others.length > 0) {
      const details = others.map(k => ({ path: k, message: Object.hasOwn(jobSchema.shape, k) ? 'cannot be changed once submitted' : 'unknown field' }))
      throw new ApiError(400, 'ERR_BAD_REQUEST', `${others.join(', ')} cannot be changed: only notify can be changed on a job; ${elsewhere}`, details)
    }
    const r = notifyChangeValue(node, req.body.notify)
    if (!r.ok) throw new ApiError(400, 'ERR_SPEC_INVALID', `invalid change: ${r.issues.map(i => `${i.path}: ${i.message}`).join('; ')}`, r.issues)
    const request = await node.updateJoblist({ joblistId: job.joblistId, jobId: job.id, notify: r.notify })
    const v = node.view()
    const now = v.state.jobs[job.id] ?? job
    return reply.code(202).send({ id: job.id, joblistId: job.joblistId, request, notify: jobView(v.state, now).notify ?? [], state: now.state })
  })

  app.get('/v1/jobs/:ref', {
    schema: doc({ summary: 'one job with its attempts and why it waits', tags: ['jobs'], params: PARAMS.jobRef, ok: { 200: 'the job' }, errors: ['ERR_NOT_FOUND'] })
  }, async (req: FastifyRequest<{ Params: { ref: string } }>) => {
    const v = await node.viewOf(req.params.ref)
    const job = findJob(v.state, req.params.ref)
    if (job === undefined) throw notFound('job', req.params.ref)
    return jobView(v.state, job, FINAL_JOB_STATES.has(job.state) ? {} : waitReasons(planInput(v), job.joblistId), v)
  })

  app.post('/v1/jobs/:ref/stop', {
    schema: doc({ summary: 'stop one job', tags: ['jobs'], params: PARAMS.jobRef, ok: { 202: '{id, request, state}' }, errors: ['ERR_NOT_FOUND', 'ERR_ALREADY_ENDED'] })
  }, async (req: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
    const job = findJob((await node.viewOf(req.params.ref)).state, req.params.ref)
    if (job === undefined) throw notFound('job', req.params.ref)
    if (FINAL_JOB_STATES.has(job.state)) throw new ApiError(409, 'ERR_ALREADY_ENDED', `job ${job.id} (${job.name}) already ended: ${job.state}`)
    const request = await node.requestStop(job.joblistId, job.id)
    return reply.code(202).send({ id: job.id, request, state: job.state })
  })

  app.get('/v1/jobs/:ref/logs', {
    sse: { kind: 'manual', serializer: (d: unknown) => JSON.stringify(d) },
    schema: doc({
      summary: "a job's output: both streams whole (JSON), one stream from an offset (text), or followed live (Server-Sent Events)",
      description: 'Without `stream`: `{jobId, attempt, node, state, done, stdout, stderr}`. With `stream`: the bytes from `offset` as text/plain, with headers x-cis-offset, x-cis-done, x-cis-attempt. With `follow=true`: `output` events ({stream, text, offset}) then `end` ({attempt, state, exitCode, reason; unreadable: why, when the output could not be read from its node}); the event ID resumes with Last-Event-ID.',
      tags: ['jobs'],
      params: PARAMS.jobRef,
      querystring: { attempt: 'which attempt (default: the latest)', stream: '`stdout` or `stderr`', offset: 'with stream: the byte offset to read from', follow: '`true`: follow the output as Server-Sent Events' },
      ok: { 200: anyObject('the output (JSON; text/plain with stream; text/event-stream with follow=true)') },
      errors: ['ERR_BAD_REQUEST', 'ERR_NOT_FOUND', 'ERR_NODE_OFFLINE']
    })
  }, async (req: LogsRequest, reply: FastifyReply) => {
    if (req.query.follow === 'true') { await followLogs(node, req, reply, streams); return }
    const { state } = await node.viewOf(req.params.ref)
    const job = findJob(state, req.params.ref)
    if (job === undefined) throw notFound('job', req.params.ref)
    const attempts = sortedAttempts(state.attempts[job.id])
    const n = req.query.attempt !== undefined ? attemptNumber(req.query.attempt) : attempts[attempts.length - 1]?.n
    const a = attempts.find(x => x.n === n)
    if (a === undefined) {
      throw new ApiError(404, 'ERR_NOT_FOUND', n !== undefined
        ? `job ${job.id} has no attempt ${String(n)}`
        : job.physical !== undefined
          ? `job ${job.id} runs as one job per node it names: ${job.physical.length > 0 ? `ask for one of ${job.physical.join(', ')}` : 'none made'}`
          : FINAL_JOB_STATES.has(job.state)
            ? `job ${job.id} never ran (it is ${job.state}): it has no output`
            : `job ${job.id} has not run yet; try again when it started`)
    }
    const done = !ACTIVE_ATTEMPT_STATES.has(a.state)
    const nodeName = state.nodes[a.node]?.name ?? a.node
    const read = async (stream: OutputStream, offset: number): Promise<Buffer> => {
      try {
        return await node.readOutput(job.id, a.n, a.node, stream, offset)
      } catch (err) {
        throw new ApiError(503, 'ERR_NODE_OFFLINE', `the output of attempt ${a.n} of job ${job.id} is on node ${nodeName}: ${(err as Error).message}`)
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
}

/**
 * `?follow=true`: the output as Server-Sent Events while the attempt runs: `output` messages
 * ({stream, text, offset}) and, when the attempt ended and all is sent, `end` ({attempt,
 * state, exitCode}). The server watches; the client only listens. Each message's ID is
 * `attempt:stdoutOffset:stderrOffset`, so a reconnect with Last-Event-ID resumes where it was.
 */
async function followLogs (node: ApiNode, req: LogsRequest, reply: FastifyReply, open: OpenStreams): Promise<void> {
  const job = findJob((await node.viewOf(req.params.ref)).state, req.params.ref)
  if (job === undefined) throw notFound('job', req.params.ref)
  const only = req.query.stream
  if (only !== undefined && only !== 'stdout' && only !== 'stderr') throw new ApiError(400, 'ERR_BAD_REQUEST', 'stream must be stdout or stderr')
  const streams: OutputStream[] = only === undefined ? ['stdout', 'stderr'] : [only]
  const offsets: Record<OutputStream, number> = { stdout: 0, stderr: 0 }
  let wanted = req.query.attempt !== undefined ? attemptNumber(req.query.attempt) : undefined
  const last = reply.sse.lastEventId?.split(':').map(Number)
  if (last !== undefined && last.length === 3 && last.every(x => Number.isSafeInteger(x) && x >= 0)) {
    wanted = last[0]
    offsets.stdout = last[1]
    offsets.stderr = last[2]
  }
  reply.sse.keepAlive()
  // The stream's headers now: a follow ended before its first output is still an event stream.
  reply.sse.sendHeaders()
  let wake: (() => void) | undefined
  const stop = node.onChange(c => { for (const id of c.joblists) if (id === job.joblistId) wake?.() })
  let closed = false
  reply.sse.onClose(() => { closed = true; wake?.() })
  // The agent stops: the stream ends without its `end` message; the client resumes later with Last-Event-ID.
  let ending = false
  const forget = open.add(() => { ending = true; wake?.() })
  const idle = async (): Promise<void> => {
    if (closed || ending) return
    await new Promise<void>(resolve => { wake = resolve; setTimeout(resolve, FOLLOW_IDLE_MS).unref() })
    wake = undefined
  }
  try {
    while (!closed && !ending) {
      const { state } = await node.viewOf(job.id)
      const attempts = sortedAttempts(state.attempts[job.id])
      const a = wanted !== undefined ? attempts.find(x => x.n === wanted) : attempts[attempts.length - 1]
      if (a === undefined) { await idle(); continue } // not started yet
      wanted = a.n
      const done = !ACTIVE_ATTEMPT_STATES.has(a.state)
      let got = 0
      let unreadable: string | undefined
      for (const s of streams) {
        let chunk: Buffer
        try { chunk = await node.readOutput(job.id, a.n, a.node, s, offsets[s]) } catch (err) { chunk = Buffer.alloc(0); unreadable = `the output of attempt ${a.n} of job ${job.id} is on node ${state.nodes[a.node]?.name ?? a.node}: ${(err as Error).message}` }
        if (chunk.length === 0) continue
        offsets[s] += chunk.length
        got += chunk.length
        await reply.sse.send({ id: `${a.n}:${offsets.stdout}:${offsets.stderr}`, event: 'output', data: { stream: s, text: chunk.toString('utf8'), offset: offsets[s] } })
      }
      if (done && got === 0) {
        await reply.sse.send({ id: `${a.n}:${offsets.stdout}:${offsets.stderr}`, event: 'end', data: { attempt: a.n, state: a.state, exitCode: a.exitCode ?? null, reason: a.reason ?? null, ...(unreadable !== undefined ? { unreadable } : {}) } })
        break
      }
      if (got === 0) await idle()
    }
  } finally {
    stop()
    forget()
    if (!closed) reply.sse.close()
    if (ending) endConnection(reply)
  }
}
