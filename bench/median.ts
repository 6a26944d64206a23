// The run in the middle of several of one bench (by one figure): on these VMs two runs of the
// same code minutes apart differ by a tenth or more, so a bench that runs a case a few times
// reports its median run, with every run's figure beside it.

/** The element in the middle by `figure` (of an even count, the lower of the two middle ones). */
export function medianBy<T> (runs: readonly T[], figure: (x: T) => number): T {
  if (runs.length === 0) throw new Error('no run to take the median of')
  const sorted = [...runs].sort((a, b) => figure(a) - figure(b))
  return sorted[Math.floor((sorted.length - 1) / 2)]
}
