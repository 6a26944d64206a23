// Job output across the cluster: an attempt's stdout and stderr stay on the node that ran it.
// This node serves its own over the rpc protocol, and reads another node's through it.
import type { OutputStream } from '../api/node-port.js'
import { attemptPaths } from '../exec/files.js'
import { readOutputChunk } from '../exec/job-output.js'
import type { ClusterState, JobRecord } from '../state/types.js'

export interface JobOutputOptions {
  self: string
  dataDir: string
  state: () => ClusterState
  /** A job by ID, also one archived out of memory. */
  jobOf: (jobId: string) => Promise<JobRecord | undefined>
  alive: () => ReadonlySet<string>
  /** Ask a peer (undefined when this node has no network). */
  call: ((peer: string, request: unknown) => Promise<unknown>) | undefined
}

export class JobOutputService {
  constructor (private readonly o: JobOutputOptions) {}

  /** Answer a peer's rpc request for a chunk of an attempt's output. */
  async answer (req: unknown): Promise<unknown> {
    const r = req as { method?: unknown, jobId?: unknown, attempt?: unknown, stream?: unknown, offset?: unknown }
    if (r?.method !== 'logs' || typeof r.jobId !== 'string' || !Number.isSafeInteger(r.attempt) || (r.stream !== 'stdout' && r.stream !== 'stderr') || !Number.isSafeInteger(r.offset) || (r.offset as number) < 0) {
      return { error: 'bad rpc request' }
    }
    if (await this.o.jobOf(r.jobId) === undefined) return { error: `no job ${r.jobId}` }
    const chunk = await this.readHere(r.jobId, r.attempt as number, r.stream, r.offset as number)
    return { data: chunk.toString('base64') }
  }

  /** Read a chunk of an attempt's output, here or from the node that ran it. */
  async read (jobId: string, attempt: number, node: string, stream: OutputStream, offset: number): Promise<Buffer> {
    if (node === this.o.self) return await this.readHere(jobId, attempt, stream, offset)
    const name = this.o.state().nodes[node]?.name ?? node
    if (this.o.call === undefined || !this.o.alive().has(node)) throw new Error(`node ${name} that ran it is offline; its output is there`)
    const answer = await this.o.call(node, { method: 'logs', jobId, attempt, stream, offset }) as { data?: string, error?: string }
    if (typeof answer?.data !== 'string') throw new Error(`node ${name} could not read the output: ${answer?.error ?? 'no answer'}`)
    return Buffer.from(answer.data, 'base64')
  }

  private async readHere (jobId: string, attempt: number, stream: OutputStream, offset: number): Promise<Buffer> {
    const job = await this.o.jobOf(jobId)
    if (job === undefined) throw new Error(`no job ${jobId}`)
    const paths = attemptPaths(this.o.dataDir, job.joblistId, jobId, attempt)
    return await readOutputChunk(stream === 'stdout' ? paths.stdout : paths.stderr, offset)
  }
}
