// schedule(input) -> decisions. Pure: the master's shell turns decisions into events.
// Stops become cancels, new requests are accepted (IDs, queue position, target expansion),
// attempts on lost nodes are declared lost, and open jobs are placed (see placement.ts).
import type { LostPolicy, Resources, SubmitAccept } from '../events/types.js'
import type { JobTarget, JoblistSpec } from '../spec/types.js'
import { lostAfterOf } from '../state/derive.js'
import type { ClusterState, JoblistRecord } from '../state/types.js'
import { ACTIVE_ATTEMPT_STATES, joblistById } from '../state/types.js'
import { needKinds } from './kinds.js'
import { place } from './placement.js'
import { DEFAULT_QUEUE } from './queue.js'
import type { QueueOptions } from './queue.js'
import { runningInQueueOrder } from './queue-index.js'
import type { QueueView } from './queue-index.js'

export type Decision =
  | { type: 'accept', request: string, id: string, expand?: Record<string, string[]> } & LostPolicy
  | { type: 'assign', jobId: string, attempt: number, node: string, resources: Resources }
  | { type: 'cancel', joblistId: string, jobId?: string, request: string }
  | { type: 'lose', jobId: string, attempt: number, reason: string }

export interface ScheduleInput {
  state: ClusterState
  now: number
  /** The master (this node). */
  self: string
  /** Prefix of the IDs this master hands out. */
  selfCode: string
  /** Nodes alive in the master's view. */
  alive: ReadonlySet<string>
  /**
   * Known nodes the master does not hear from now (disconnected), and for how long (ms;
   * Infinity: the node's agent is certainly gone). Their active attempts are `unknown` until
   * the silence exceeds lostAfter, then lost.
   */
  silent?: ReadonlyMap<string, number>
  /** How long attempts on a silent node stay unknown (a job's own `lostAfterMs` wins); default 0. */
  lostAfterMs?: number
  policy: LostPolicy
  /** Queue policy (D-4); default fifo. */
  queue?: QueueOptions
  /** The master's index of the queue, exact for `state` (queue-index.ts): a pass then looks at what runs and what it can place, not at the whole queue. */
  index?: QueueView
}

/** Joblists not yet ended, in queue order (kept by the reducer). */
export function activeJoblists (state: ClusterState): JoblistRecord[] {
  return state.queue.map(id => state.joblists[id])
}

/** A scheduler pass: its decisions, and whether its assigns left every instance taken. */
export interface Pass {
  decisions: Decision[]
  /** Every instance of every alive node is held or taken once the pass's assigns are made (none free, none only reserved). */
  allTaken: boolean
}

export function schedule (input: ScheduleInput): Decision[] {
  return schedulePass(input).decisions
}

export function schedulePass (input: ScheduleInput): Pass {
  const { state } = input
  const out: Decision[] = []

  for (const [request, stop] of Object.entries(state.stops)) {
    if (stop.handled || state.joblists[stop.joblistId] === undefined) continue
    out.push({ type: 'cancel', joblistId: stop.joblistId, ...(stop.jobId !== undefined ? { jobId: stop.jobId } : {}), request })
  }

  let counter = state.acceptCount[input.self] ?? 0
  for (const key of state.unaccepted) {
    const expand = expandTargets(state, key, input.alive)
    out.push({ type: 'accept', request: key, id: `${input.selfCode}-${++counter}`, ...input.policy, ...(expand !== undefined ? { expand } : {}) })
  }

  out.push(...loseAttempts(input))
  const placed = place({ state, now: input.now, alive: input.alive, queue: input.queue ?? DEFAULT_QUEUE, ...(input.index !== undefined ? { index: input.index } : {}) })
  out.push(...placed.assigns)
  return { decisions: out, allTaken: placed.allTaken }
}

/**
 * Could placing again, once this pass's decisions are applied to `state`, assign anything?
 * The master places the joblists it accepts in the pass that accepts them (master-role.ts):
 * a second placement after the accepts. It can assign nothing when the pass left every
 * instance held or taken (none free, none only reserved: a joblist accepted now may come
 * before the one that reserved, by priority), freed none (it declared no attempt lost and
 * cancelled nothing: instances free up only as attempts end) and no job of a joblist it
 * accepted needs nothing (such a job runs with no instance free); every other joblist the
 * pass placed already. Then the placement is skipped: on a saturated cluster with a long
 * queue it was half of the master's pass.
 */
export function mayPlaceAccepted (state: ClusterState, pass: Pass): boolean {
  if (!pass.allTaken) return true
  for (const d of pass.decisions) {
    if (d.type === 'lose' || d.type === 'cancel') return true
    if (d.type !== 'accept') continue
    const jl = joblistById(state, d.id)
    if (jl === undefined || needKinds(state, jl).includes('')) return true
  }
  return false
}

/** The nodes a target names (S-1..S-3), sorted by ID: a named node, all alive, or alive with a profile. */
export function targetNodes (state: ClusterState, target: JobTarget, alive: ReadonlySet<string>): string[] {
  const ids = Object.keys(state.nodes).sort()
  if ('node' in target) return ids.filter(id => state.nodes[id].name === target.node)
  if ('all' in target) return ids.filter(id => alive.has(id))
  return ids.filter(id => alive.has(id) && state.nodes[id].profiles.includes(target.profile))
}

/** For a request's jobs with a target: job number -> node IDs (undefined if none has a target). */
export function expandTargets (state: ClusterState, request: string, alive: ReadonlySet<string>): Record<string, string[]> | undefined {
  const spec = state.requests[request]?.spec
  return spec === undefined ? undefined : expandSpec(state, spec, alive)
}

/**
 * The accept a master decides for a submit of its own as it writes it (one event: the submit
 * carries it), as a pass would decide it: the next ID of the master's counter, the jobs with a
 * target expanded to the nodes it names now, the policy for lost attempts.
 */
export function acceptOwnSubmit (input: Pick<ScheduleInput, 'state' | 'self' | 'selfCode' | 'alive' | 'policy'>, spec: JoblistSpec, term: number): SubmitAccept {
  const expand = expandSpec(input.state, spec, input.alive)
  return { id: `${input.selfCode}-${(input.state.acceptCount[input.self] ?? 0) + 1}`, term, ...input.policy, ...(expand !== undefined ? { expand } : {}) }
}

function expandSpec (state: ClusterState, spec: JoblistSpec, alive: ReadonlySet<string>): Record<string, string[]> | undefined {
  let n = 0
  let out: Record<string, string[]> | undefined
  for (const stage of spec.stages) {
    for (const job of stage.jobs) {
      n++
      if (job.target === undefined) continue
      out ??= {}
      out[String(n)] = targetNodes(state, job.target, alive)
    }
  }
  return out
}

const span = (ms: number): string => ms < 1000 ? `${Math.round(ms)} ms` : `${Math.round(ms / 100) / 10} s`

/**
 * Active attempts on nodes silent for longer than their job's lostAfter (or whose agent is
 * certainly gone): declare them lost, so the policy can run the job elsewhere (or fail it).
 * Shorter silences leave them alone: a network blip must not run work twice.
 */
export function loseAttempts (input: ScheduleInput): Decision[] {
  const silent = input.silent
  if (silent === undefined || silent.size === 0) return []
  const out: Decision[] = []
  // Only a joblist that runs has attempts (a queued one has none yet).
  for (const id of runningInQueueOrder(input.state, input.index)) {
    const jl = input.state.joblists[id]
    const stage = jl.stages[jl.currentStage]
    if (stage === undefined) continue
    for (const jobId of stage.jobIds.flatMap(id => input.state.jobs[id]?.physical ?? [id])) {
      for (const a of Object.values(input.state.attempts[jobId] ?? {})) {
        const ms = silent.get(a.node)
        if (ms === undefined || !ACTIVE_ATTEMPT_STATES.has(a.state)) continue
        const limit = lostAfterOf(input.state.jobs[jobId], input.lostAfterMs ?? 0)
        if (ms <= limit) continue
        const name = input.state.nodes[a.node]?.name ?? a.node
        const reason = ms === Infinity
          ? `node ${name}'s agent is gone (its address refuses connections): attempt lost`
          : `node ${name} was not heard from for ${span(ms)} (lostAfter ${span(limit)}): attempt presumed lost`
        out.push({ type: 'lose', jobId, attempt: a.n, reason })
      }
    }
  }
  return out
}

