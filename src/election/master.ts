// Who is master: the alive node with the highest priority; ties go to the lower node ID.
// Every node computes this from its own view; no voting round (R1-2..R1-4).

export interface Candidate { id: string, priority: number }

export function electMaster (alive: Candidate[]): string | null {
  let best: Candidate | null = null
  for (const c of alive) {
    if (best === null || c.priority > best.priority || (c.priority === best.priority && c.id < best.id)) best = c
  }
  return best?.id ?? null
}

/** The term a new master claims: one above the highest term it knows. */
export function nextTerm (terms: Record<string, number>): number {
  let max = 0
  for (const t of Object.values(terms)) if (t > max) max = t
  return max + 1
}
