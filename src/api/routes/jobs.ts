// Jobs: show one (with its attempts and why it waits), stop one (R4-2), read its output.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { waitReasons } from '../../scheduler/plan.js'
import { sortedAttempts } from '../../state/derive.js'
import { ACTIVE_ATTEMPT_STATES, FINAL_JOB_STATES } from '../../state/types.js'
import { findJob, jobView } from '../../state/views.js'
import { ApiError, notFound } from '../errors.js'
import type { ApiNode, OutputStream } from '../node-port.js'
import { planInput } from './joblists.js'

type LogsRequest = FastifyRequest<{ Params: { ref: string }, Querystring: { attempt?: string, stream?: string, offset?: string } }>

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

  app.get('/v1/jobs/:ref/logs', async (req: LogsRequest, reply: FastifyReply) => {
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
