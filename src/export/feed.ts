// The node side of `cis export` (G-5): pages of the stored log (GET /v1/log) and, for each
// joblist a page touched, its view and accounting records as the node shows them now.
import { ApiError } from '../api/errors.js'
import type { AccountingResponse, JoblistView, LogResponse } from '../cli/api-types.js'
import type { Client } from '../cli/client.js'
import { formatVector } from '../events/vector.js'
import type { Vector } from '../events/vector.js'
import { joblistRows } from './rows.js'
import type { JoblistRows } from './rows.js'

/** Joblists fetched at once: enough to hide the round trips, few enough to leave the node room. */
const PARALLEL = 8

/** Accounting records from the start of time (the API's default range is the last 7 days). */
const SINCE_ALWAYS = '1970-01-01T00:00:00Z'

export class NodeFeed {
  constructor (private readonly client: Client) {}

  get addr (): string { return this.client.addr }

  /** The events after `after`, at most `limit`. */
  async page (after: Vector, limit: number): Promise<LogResponse> {
    const q = new URLSearchParams({ after: formatVector(after), limit: String(limit) })
    return await this.client.get<LogResponse>(`/v1/log?${q.toString()}`)
  }

  /**
   * The rows of each joblist, by the ID it was asked under; null: the node knows no joblist
   * by that ID (yet: its submit is not here; or no more: a better accept of the same request
   * won, and the ID is now an alias, answered with the winner's view).
   */
  async joblists (ids: Iterable<string>): Promise<Map<string, JoblistRows | null>> {
    const out = new Map<string, JoblistRows | null>()
    const queue = [...ids]
    const worker = async (): Promise<void> => {
      for (let id = queue.shift(); id !== undefined; id = queue.shift()) out.set(id, await this.joblist(id))
    }
    await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker))
    return out
  }

  private async joblist (id: string): Promise<JoblistRows | null> {
    try {
      const view = await this.client.get<JoblistView>(`/v1/joblists/${encodeURIComponent(id)}`)
      const q = new URLSearchParams({ joblist: view.id, records: 'true', since: SINCE_ALWAYS })
      const acct = await this.client.get<AccountingResponse>(`/v1/accounting?${q.toString()}`)
      if (acct.truncated === true) throw new Error(`joblist ${view.id} has more accounting records than one answer carries`)
      return joblistRows(view, acct.records ?? [])
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) return null
      throw err
    }
  }
}
