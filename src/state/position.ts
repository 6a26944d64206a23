// Positions: the total order of events (HLC time, logical counter, origin, seq) that every
// node agrees on. Facts decided twice keep the lowest; lists of facts are kept in this order.
import type { Position } from './types.js'

export function comparePositions (a: Position, b: Position): number {
  if (a[0] !== b[0]) return a[0] - b[0]
  if (a[1] !== b[1]) return a[1] - b[1]
  if (a[2] !== b[2]) return a[2] < b[2] ? -1 : 1
  return a[3] - b[3]
}

export const positionOf = (e: { ts: number, lc: number, origin: string, seq: number }): Position => [e.ts, e.lc, e.origin, e.seq]

/** Insert a record into a list kept in position order (mostly an append). */
export function insertByPosition<T extends { pos: Position }> (list: T[], rec: T): void {
  let i = list.length
  while (i > 0 && comparePositions(list[i - 1].pos, rec.pos) > 0) i--
  list.splice(i, 0, rec)
}
