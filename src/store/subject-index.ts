// The subject index (G-3): for each request key or joblist ID, the events about it (see
// eventSubjects in state/history.ts), as keys `<subject>!<origin>!<seq>` of the `subjects`
// sublevel, written in the same batch as the events. `cis history` reads a joblist's events
// through it: the cost is that joblist's events, not the whole store.

const pad = (n: number): string => n.toString().padStart(12, '0')

/** The index key of one event about `subject`. */
export const subjectKey = (subject: string, origin: string, seq: number): string => `${subject}!${origin}!${pad(seq)}`

/** The (origin, seq) an index key names. */
export function parseSubjectKey (key: string): { origin: string, seq: number } {
  const j = key.lastIndexOf('!')
  const i = key.lastIndexOf('!', j - 1)
  return { origin: key.slice(i + 1, j), seq: Number(key.slice(j + 1)) }
}
