// Pure helpers for the backlog curve: a rolling window of backlog snapshots
// and the chart series derived from it. No Vue, no DOM: unit-tested.
import { OPEN_STAGES, type Backlog, type Stage } from '../graphql/types'

/** How much history the chart keeps: the last 10 minutes. */
export const HISTORY_WINDOW_MS = 10 * 60 * 1000
/** Hard cap on points, whatever the push rate. */
export const MAX_POINTS = 3000

export interface BacklogPoint {
  /** Epoch milliseconds of the snapshot. */
  t: number
  total: number
  counts: Partial<Record<Stage, number>>
}

export type SeriesKey = 'total' | Stage

export interface ChartSeries {
  key: SeriesKey
  /** [epoch ms, value] pairs, oldest first. */
  data: Array<[number, number]>
}

/** A point from a backlog snapshot, timed by its `at`, else by `now`. */
export function pointFromBacklog(b: Backlog, now: number): BacklogPoint {
  const at = Date.parse(b.at)
  const counts: Partial<Record<Stage, number>> = {}
  for (const s of b.stages) counts[s.stage] = s.count
  return { t: Number.isFinite(at) ? at : now, total: b.total, counts }
}

/**
 * Returns a new history with p added: kept sorted by time (a point with the
 * same time as an existing one replaces it), then trimmed to the window
 * ending at the newest point and to MAX_POINTS. The input is not modified.
 */
export function appendPoint(
  history: readonly BacklogPoint[],
  p: BacklogPoint,
  windowMs: number = HISTORY_WINDOW_MS,
  maxPoints: number = MAX_POINTS,
): BacklogPoint[] {
  const out = history.slice()
  let i = out.length
  while (i > 0 && out[i - 1]!.t > p.t) i--
  if (i > 0 && out[i - 1]!.t === p.t) out[i - 1] = p
  else out.splice(i, 0, p)
  const newest = out[out.length - 1]!.t
  const cutoff = newest - windowMs
  let start = 0
  while (start < out.length && out[start]!.t < cutoff) start++
  start = Math.max(start, out.length - maxPoints)
  return start > 0 ? out.slice(start) : out
}

/**
 * One series for the open total, then one per open stage (missing counts are
 * 0). With `until` later than the newest point, each series gets one more
 * point there holding its last value: counts stand until the next push.
 */
export function buildSeries(
  history: readonly BacklogPoint[],
  stages: readonly Stage[] = OPEN_STAGES,
  until?: number,
): ChartSeries[] {
  const last = history[history.length - 1]
  const extend = last !== undefined && until !== undefined && until > last.t
  const pick = (f: (p: BacklogPoint) => number): Array<[number, number]> => {
    const data = history.map((p): [number, number] => [p.t, f(p)])
    if (extend) data.push([until, f(last)])
    return data
  }
  return [{ key: 'total', data: pick((p) => p.total) }, ...stages.map((s) => ({ key: s, data: pick((p) => p.counts[s] ?? 0) }))]
}

/** The [min, max] time axis for a window ending at `end`. */
export function timeWindow(end: number, windowMs: number = HISTORY_WINDOW_MS): [number, number] {
  return [end - windowMs, end]
}

/** Counts for every stage in `order`, 0 where the snapshot has none. */
export function stageCounts(b: Backlog | null | undefined, order: readonly Stage[]): Array<{ stage: Stage; count: number }> {
  const m = new Map<Stage, number>()
  for (const s of b?.stages ?? []) m.set(s.stage, s.count)
  return order.map((stage) => ({ stage, count: m.get(stage) ?? 0 }))
}

/** True when `next` is not older than `current` (by `at`): used to drop a stale snapshot. */
export function isNewer(current: Backlog | null | undefined, next: Backlog): boolean {
  if (!current) return true
  const a = Date.parse(current.at)
  const b = Date.parse(next.at)
  if (!Number.isFinite(a) || !Number.isFinite(b)) return true
  return b >= a
}
