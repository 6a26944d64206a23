// Hybrid logical clock (pure): physical milliseconds plus a logical counter.
// Totally ordered together with (origin, seq), so every node sorts events the same way.

export interface Hlc { ts: number, lc: number }

/** The clock value for a local event at physical time `now`. */
export function tick (last: Hlc, now: number): Hlc {
  if (now > last.ts) return { ts: now, lc: 0 }
  return { ts: last.ts, lc: last.lc + 1 }
}

/** The clock after receiving a remote event stamped `remote`, at physical time `now`. */
export function receive (last: Hlc, remote: Hlc, now: number): Hlc {
  const ts = Math.max(last.ts, remote.ts, now)
  if (ts === last.ts && ts === remote.ts) return { ts, lc: Math.max(last.lc, remote.lc) + 1 }
  if (ts === last.ts) return { ts, lc: last.lc + 1 }
  if (ts === remote.ts) return { ts, lc: remote.lc + 1 }
  return { ts, lc: 0 }
}
