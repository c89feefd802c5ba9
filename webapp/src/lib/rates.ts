// Rates for the IT view's curves: a connector's trend (requests per step
// of the range, steps without any left out) as requests per minute at
// every step, and a short history of polled values. No Vue, no DOM:
// unit-tested.

export interface TrendPoint {
  at: string
  requests: number
}

/**
 * Requests per minute at each step from `from` to `to` (ms), steps of
 * stepSeconds; the steps the server left out are zero. The last step, cut
 * short by `to`, is divided by the part of it that has passed.
 */
export function trendRates(points: readonly TrendPoint[], stepSeconds: number, from: number, to: number): [number, number][] {
  const step = stepSeconds * 1000
  if (!(step > 0) || !(to > from)) return []
  const by = new Map<number, number>()
  for (const p of points) {
    const at = Date.parse(p.at)
    by.set(at, (by.get(at) ?? 0) + p.requests)
  }
  const out: [number, number][] = []
  for (let at = from; at < to; at += step) {
    const span = Math.min(step, to - at) / 60_000
    out.push([at, (by.get(at) ?? 0) / Math.max(span, 1 / 60)])
  }
  return out
}

/** Adds a point to a history of [ms, value], keeping the newest max. */
export function pushPoint(history: readonly [number, number][], p: [number, number], max = 60): [number, number][] {
  const out = [...history, p]
  return out.length > max ? out.slice(out.length - max) : out
}
