// Rates from counters read again and again (the IT view polls counts kept
// since the node started): per-minute rates between two readings, and a
// short history of them for a curve. No Vue, no DOM: unit-tested.

export interface Reading {
  /** Epoch ms of the reading. */
  at: number
  /** Counter values by key (e.g. requests per connector). */
  counts: Record<string, number>
}

/**
 * Per-minute rate of each key between prev and next; a counter that went
 * down (the node restarted) starts again from zero; keys new in next count
 * from zero. Null when the readings are not apart in time.
 */
export function perMinute(prev: Reading, next: Reading): Record<string, number> | null {
  const minutes = (next.at - prev.at) / 60_000
  if (!(minutes > 0)) return null
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(next.counts)) {
    const before = prev.counts[k] ?? 0
    const delta = v >= before ? v - before : v
    out[k] = delta / minutes
  }
  return out
}

/** Adds a point to a history of [ms, value], keeping the newest max. */
export function pushPoint(history: readonly [number, number][], p: [number, number], max = 60): [number, number][] {
  const out = [...history, p]
  return out.length > max ? out.slice(out.length - max) : out
}
