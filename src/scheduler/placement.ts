// Tetris placement (R3-1..R3-5): the open jobs of each joblist's current stage, in queue
// order, onto alive nodes with free instances. A job that cannot run now reserves the free
// instances it would use on the node where it fits soonest, so a later joblist can fill
// only the holes that no earlier joblist waits for: it never delays an earlier one.
import type { Resources } from '../events/types.js'
import { sortedAttempts } from '../state/derive.js'
import type { ClusterState, JobRecord, JoblistRecord } from '../state/types.js'
import { ACTIVE_ATTEMPT_STATES } from '../state/types.js'
import { orderQueue, servedInOrder } from './queue.js'
import type { QueueOptions } from './queue.js'
import { runningInQueueOrder } from './queue-index.js'
import type { QueueView } from './queue-index.js'
import { FreeIndex, heldInstances } from './resources.js'
import { needKinds, needsKey, needsNothing, pinnedKind } from './kinds.js'

export interface Assign { type: 'assign', jobId: string, attempt: number, node: string, resources: Resources }

export interface PlaceInput {
  state: ClusterState
  now: number
  alive: ReadonlySet<string>
  queue: QueueOptions
  /** Also say why each job waits (for the API and `cis plan`; the master's pass skips it). */
  explain?: boolean
  /**
   * Say why the jobs of this joblist wait, and stop the walk after it (one joblist's view: what
   * is queued behind it changes nothing of it). The joblists before it are walked as a pass
   * walks them, passing over what cannot be placed or reserve anything (explaining them all
   * took 0.4-0.9 s at 100,000 queued, for each view of one waiting joblist).
   */
  explainFor?: string
  /**
   * The master's index of the queue (queue-index.ts), exact for `state`: the instances held
   * are read from the joblists that run, and the walk of the queue stops once no kind of need
   * in it can be placed or reserve anything. Absent: every joblist of the queue is looked at.
   */
  index?: QueueView
}

export interface PlaceResult {
  assigns: Assign[]
  /** Why each open job that was not placed waits. */
  waiting: Record<string, string>
  /** Every instance of every alive node is held or taken after these assigns (none free, none only reserved: FreeIndex.allTaken). */
  allTaken: boolean
  /** How many joblists of the queue the walk looked at (with the index it may stop before the end). */
  looked: number
}

const needsText = (needs: Record<string, number>): string =>
  Object.entries(needs).filter(([, c]) => c > 0).map(([t, c]) => `${t}:${c}`).join(', ') || 'nothing'

/** `name (id)` of a joblist, for messages. */
export function joblistLabel (jl: JoblistRecord): string { return `${jl.name} (${jl.id})` }

/**
 * Place the open jobs of the queue (`only`: of these joblists alone, in accept order; the
 * property tests place a part of the queue).
 */
export function place (input: PlaceInput, only?: JoblistRecord[]): PlaceResult {
  const { state } = input
  const index = only === undefined ? input.index : undefined
  const explainAll = input.explain === true
  const target = input.explainFor
  // The joblists in the order the policy serves them, one at a time: with the index the walk
  // may stop early, so the order is not computed for the whole queue (the index's standing
  // order, served-order.ts; servedInOrder's heap without it); in fifo order the queue is the
  // state's own list, read in place.
  const next = (only === undefined ? index?.served?.(state, input.now, input.queue) : undefined) ?? walkOrder(input, only)
  const nodes = [...input.alive].filter(id => state.nodes[id] !== undefined).sort()
  const holding = only !== undefined ? only.map(jl => jl.id) : runningInQueueOrder(state, index)
  const free = new FreeIndex(state, nodes, heldInstances(state, holding))
  const assigns: Assign[] = []
  const waiting: Record<string, string> = {}
  const noFit = new Set<string>()
  const noReserve = new Set<string>()
  // Kinds of need the index counts (the open jobs of the queue's current stages) that can no
  // longer be placed nor reserve anything in this pass: an unpinned kind once in both sets
  // above, a `kind@node` once a job pinned there neither fit nor reserved. Free instances only
  // shrink during a pass, so it stays so; once every kind counted is, or nothing is free and
  // every kind that needs nothing is, the rest of the queue could change nothing: the walk stops.
  const blocked = new Set<string>()
  let nothingBlocked = 0
  const block = (key: string): void => {
    if (index === undefined || blocked.has(key) || !index.kinds.has(key)) return
    blocked.add(key)
    if (needsNothing(key)) nothingBlocked++
  }
  const nothingLeft = (): boolean => {
    if (index === undefined || explainAll || target !== undefined) return false
    return blocked.size === index.kinds.size || (nothingBlocked === index.needsNothing && free.exhausted())
  }
  let looked = 0
  const holderLabel = (jobId: string): string => {
    const job = state.jobs[jobId]
    const jl = job === undefined ? undefined : state.joblists[job.joblistId]
    return jl === undefined ? jobId : `${jl.name}/${job.name} (${jobId})`
  }
  let reached = false
  for (let jl = next(); jl !== undefined && !reached && !nothingLeft(); jl = next()) {
    looked++
    reached = jl.id === target
    const explain = explainAll || reached
    if (jl.cancelled) continue
    // A joblist none of whose jobs could be placed or reserve anything now is passed over
    // whole, at the cost of a lookup (the master's pass after each job's end used to walk every
    // job of a long queue): once no instance of any type is free anywhere, only a job that
    // needs nothing still fits; and no unpinned job fits whose kind of need already did not.
    if (!explain && !mayPlace(needKinds(state, jl), free, noFit, noReserve)) continue
    const stage = jl.stages[jl.currentStage]
    if (stage === undefined) continue
    for (const logicalId of stage.jobIds) {
      const logical = state.jobs[logicalId]
      const units = logical.physical === undefined ? [logical] : logical.physical.map(id => state.jobs[id])
      for (const job of units) {
        if (job.state !== 'pending' || job.cancelled) continue
        const needs = job.spec.needs
        const pinned = job.pin === undefined ? undefined : input.alive.has(job.pin) ? [job.pin] : []
        // Free instances only shrink during a pass: once a kind of need did not fit (or had
        // nothing left to reserve), the same kind will not either. That keeps a long queue cheap.
        const kind = pinned === undefined ? needsKey(needs) : undefined
        if (kind !== undefined && !explain && noFit.has(kind) && noReserve.has(kind)) continue
        const attempts = sortedAttempts(state.attempts[job.id])
        if (attempts.some(a => ACTIVE_ATTEMPT_STATES.has(a.state))) continue
        const node = kind !== undefined && noFit.has(kind) ? null : free.findFit(needs, pinned)
        if (node !== null) {
          const n = attempts.length === 0 ? 1 : attempts[attempts.length - 1].n + 1
          assigns.push({ type: 'assign', jobId: job.id, attempt: n, node, resources: free.take(node, needs) })
          continue
        }
        if (kind !== undefined) noFit.add(kind)
        const at = kind !== undefined && noReserve.has(kind) ? null : free.reserve(needs, joblistLabel(jl), pinned)
        if (at === null && kind !== undefined) { noReserve.add(kind); block(kind) }
        if (at === null && kind === undefined) block(pinnedKind(needsKey(needs), job.pin ?? ''))
        if (explain) waiting[job.id] = whyWaiting(state, job, needs, pinned, at ?? free.capable(needs, pinned), free, holderLabel)
      }
    }
  }
  return { assigns, waiting, allTaken: free.allTaken(), looked }
}

/** The queue (or `only`) in the order the policy serves it, without the index's standing order. */
function walkOrder (input: PlaceInput, only: JoblistRecord[] | undefined): () => JoblistRecord | undefined {
  const { state } = input
  // (A heap: a walk that may stop early pays for what it takes out; a sort, for the whole queue.)
  if (only === undefined && (input.index !== undefined || input.explainFor !== undefined || input.queue.policy === 'fifo')) return servedInOrder(state, input.now, input.queue)
  const ordered = orderQueue(only ?? state.queue.map(id => state.joblists[id]), input.now, input.queue, state)
  let i = 0
  return () => ordered[i++]
}

/**
 * Could a job of one of these kinds of need be placed, or reserve something, in what is left
 * of this pass? A job pinned to a node is no exception: free instances only shrink during a
 * pass, so where no alive node had a kind's needs free (or anything of them to reserve), its
 * node has not either.
 */
function mayPlace (kinds: string[], free: FreeIndex, noFit: ReadonlySet<string>, noReserve: ReadonlySet<string>): boolean {
  if (free.exhausted()) return kinds.includes('')
  return kinds.some(k => !noFit.has(k) || !noReserve.has(k))
}

function whyWaiting (state: ClusterState, job: JobRecord, needs: Record<string, number>, pinned: string[] | undefined, at: string | null,
  free: FreeIndex, holderLabel: (jobId: string) => string): string {
  const want = `needs ${needsText(needs)}`
  if (pinned !== undefined && pinned.length === 0) return `${want} on node ${state.nodes[job.pin ?? '']?.name ?? job.pin ?? '?'}, which is offline`
  if (at === null) return `${want}; no alive node has that much in total: it waits for such a node`
  const blame = free.blame(at, needs, holderLabel)
  return `${want}; on ${state.nodes[at]?.name ?? at}: ${blame.length > 0 ? blame.join('; ') : 'not free yet'}`
}
