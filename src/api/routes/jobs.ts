// Jobs: show one (with its attempts and why it waits), stop one (R4-2), read its output.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { waitReasons } from '../../scheduler/plan.js'
import { sortedAttempts } from '../../state/derive.js'
import { ACTIVE_ATTEMPT_STATES, FINAL_JOB_STATES } from '../../state/types.js'
import { findJob, jobView } from '../../state/views.js'
import { ApiError, notFound } from '../errors.js'
import type { ApiNode, OutputStream } from '../node-port.js'
import { planInput } from './joblists.js'

type LogsRequest = FastifyRequest<{ Params: { ref: string }, Querystring: { attempt?: string, stream?: string, offset?: string, follow?: string } }>

/** How long a follower waits between reads when nothing new came (a change of the job wakes it sooner). */
const FOLLOW_IDLE_MS = 250

export function jobRoutes (app: FastifyInstance, node: ApiNode): void {
  app.get('/v1/jobs/:ref', async (req: FastifyRequest<{ Params: { ref: string } }>) => {
    const v = node.view()
    const job = findJob(v.state, req.params.ref)
    if (job === undefined) throw notFound('job', req.params.ref)
    return jobView(v.state, job, FINAL_JOB_STATES.has(job.state) ? {} : waitReasons(planInput(v)), v)
  })

  app.post('/v1/jobs/:ref/stop', async (req: FastifyRequest<{ Params: { ref: string } }>, reply: FastifyReply) => {
    const job = findJob(node.view().state, req.params.ref)
    if (job === undefined) throw notFound('job', req.params.ref)
    if (FINAL_JOB_STATES.has(job.state)) throw new ApiError(409, 'ERR_ALREADY_ENDED', `job ${job.id} (${job.name}) already ended: ${job.state}`)
    const request = await node.requestStop(job.joblistId, job.id)
    return reply.code(202).send({ id: job.id, request, state: job.state })
  })

  app.get('/v1/jobs/:ref/logs', { sse: { kind: 'manual', serializer: (d: unknown) => JSON.stringify(d) } }, async (req: LogsRequest, reply: FastifyReply) => {
    if (req.query.follow === 'true') { await followLogs(node, req, reply); return }
    const { state } = node.view()
    const job = findJob(state, req.params.ref)
    if (job === undefined) throw notFound('job', req.params.ref)
    const attempts = sortedAttempts(state.attempts[job.id])
    const n = req.query.attempt !== undefined ? Number(req.query.attempt) : attempts[attempts.length - 1]?.n
    const a = attempts.find(x => x.n === n)
    if (a === undefined) throw new ApiError(404, 'ERR_NOT_FOUND', n === undefined ? `job ${job.id} has not run yet; try again when it started` : `job ${job.id} has no attempt ${String(n)}`)
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
async function followLogs (node: ApiNode, req: LogsRequest, reply: FastifyReply): Promise<void> {
  const job = findJob(node.view().state, req.params.ref)
  if (job === undefined) throw notFound('job', req.params.ref)
  const only = req.query.stream
  if (only !== undefined && only !== 'stdout' && only !== 'stderr') throw new ApiError(400, 'ERR_BAD_REQUEST', 'stream must be stdout or stderr')
  const streams: OutputStream[] = only === undefined ? ['stdout', 'stderr'] : [only]
  const offsets: Record<OutputStream, number> = { stdout: 0, stderr: 0 }
  let wanted = req.query.attempt !== undefined ? Number(req.query.attempt) : undefined
  const last = reply.sse.lastEventId?.split(':').map(Number)
  if (last !== undefined && last.length === 3 && last.every(x => Number.isSafeInteger(x) && x >= 0)) {
    wanted = last[0]
    offsets.stdout = last[1]
    offsets.stderr = last[2]
  }
  reply.sse.keepAlive()
  let wake: (() => void) | undefined
  const stop = node.onChange(c => { for (const id of c.joblists) if (id === job.joblistId) wake?.() })
  let closed = false
  reply.sse.onClose(() => { closed = true; wake?.() })
  const idle = async (): Promise<void> => { await new Promise<void>(resolve => { wake = resolve; setTimeout(resolve, FOLLOW_IDLE_MS).unref() }); wake = undefined }
  try {
    while (!closed) {
      const { state } = node.view()
      const attempts = sortedAttempts(state.attempts[job.id])
      const a = wanted !== undefined ? attempts.find(x => x.n === wanted) : attempts[attempts.length - 1]
      if (a === undefined) { await idle(); continue } // not started yet
      wanted = a.n
      const done = !ACTIVE_ATTEMPT_STATES.has(a.state)
      let got = 0
      for (const s of streams) {
        let chunk: Buffer
        try { chunk = await node.readOutput(job.id, a.n, a.node, s, offsets[s]) } catch { chunk = Buffer.alloc(0) }
        if (chunk.length === 0) continue
        offsets[s] += chunk.length
        got += chunk.length
        await reply.sse.send({ id: `${a.n}:${offsets.stdout}:${offsets.stderr}`, event: 'output', data: { stream: s, text: chunk.toString('utf8'), offset: offsets[s] } })
      }
      if (done && got === 0) {
        await reply.sse.send({ id: `${a.n}:${offsets.stdout}:${offsets.stderr}`, event: 'end', data: { attempt: a.n, state: a.state, exitCode: a.exitCode ?? null, reason: a.reason ?? null } })
        break
      }
      if (got === 0) await idle()
    }
  } finally {
    stop()
    if (!closed) reply.sse.close()
  }
}
