// Pure helpers behind the live alert list: applying `alertRaised` /
// `alertChanged` pushes to the rows on screen and keeping the per-state
// counts current.
import { ALERT_STATES, type Alert, type AlertCountsData, type AlertState } from '../graphql/types'

/** How many rows the list keeps (the query asks for as many). */
export const ALERT_LIST_LIMIT = 100

export type AlertPush = { kind: 'raised' | 'changed'; alert: Alert }

function raisedMs(a: Pick<Alert, 'raisedAt'>): number {
  const t = Date.parse(a.raisedAt)
  return Number.isNaN(t) ? 0 : t
}

/**
 * Applies one push to a newest-first list and returns a new list (or the
 * same one when nothing changed).
 *
 * - A known alert is replaced in place, whatever the filter: a row someone
 *   just acknowledged stays on screen with its new state.
 * - A new alert that matches the state filter goes in by raisedAt (newest
 *   first: a raised alert normally lands on top).
 * - The list is cut to `limit` rows.
 */
export function applyAlertPush(
  rows: readonly Alert[],
  push: AlertPush,
  filter: AlertState | null,
  limit = ALERT_LIST_LIMIT,
): Alert[] {
  const a = push.alert
  const i = rows.findIndex((r) => r.id === a.id)
  if (i >= 0) {
    const out = rows.slice()
    out[i] = a
    return out
  }
  if (filter && a.state !== filter) return rows as Alert[]
  const t = raisedMs(a)
  let at = rows.findIndex((r) => raisedMs(r) < t)
  if (at < 0) at = rows.length
  if (at >= limit) return rows as Alert[]
  const out = [...rows.slice(0, at), a, ...rows.slice(at)]
  return out.length > limit ? out.slice(0, limit) : out
}

/**
 * Rows for a query answer: the fetched list with every push received since
 * the query was sent applied on top, in arrival order. A push may predate
 * the server's snapshot; any later change was pushed too, so replaying in
 * order ends at the latest state.
 */
export function mergeFetched(
  fetched: readonly Alert[],
  pushes: readonly AlertPush[],
  filter: AlertState | null,
  limit = ALERT_LIST_LIMIT,
): Alert[] {
  let rows = fetched.slice(0, limit)
  for (const p of pushes) rows = applyAlertPush(rows, p, filter, limit)
  return rows
}

/** Ids known per state; `more` when the server has more than it sent. */
export type StateIds = Record<AlertState, { ids: ReadonlySet<string>; more: boolean }>

export function emptyStateIds(): StateIds {
  return {
    FIRING: { ids: new Set(), more: false },
    ACKNOWLEDGED: { ids: new Set(), more: false },
    RESOLVED: { ids: new Set(), more: false },
  }
}

/** State ids from the AlertCounts query, with pushes since it was sent replayed on top. */
export function stateIdsFromQuery(data: AlertCountsData, pushes: readonly AlertPush[] = []): StateIds {
  const page = (p: AlertCountsData['firing']) => ({
    ids: new Set(p.edges.map((e) => e.node.id)),
    more: p.pageInfo.hasNextPage,
  })
  let s: StateIds = { FIRING: page(data.firing), ACKNOWLEDGED: page(data.acknowledged), RESOLVED: page(data.resolved) }
  for (const p of pushes) s = applyToStateIds(s, p.alert)
  return s
}

/** Moves an alert's id to the set of its current state. */
export function applyToStateIds(s: StateIds, a: Pick<Alert, 'id' | 'state'>): StateIds {
  if (s[a.state].ids.has(a.id)) {
    if (ALERT_STATES.every((st) => st === a.state || !s[st].ids.has(a.id))) return s
  }
  const out = {} as StateIds
  for (const st of ALERT_STATES) {
    const ids = new Set(s[st].ids)
    if (st === a.state) ids.add(a.id)
    else ids.delete(a.id)
    out[st] = { ids, more: s[st].more }
  }
  return out
}

/** "12", or "100+" when the server holds more than it listed. */
export function formatCount(c: { ids: ReadonlySet<string>; more: boolean }): string {
  return c.more ? `${c.ids.size}+` : String(c.ids.size)
}

/** The `until` of a silence starting now and lasting `hours`. */
export function silenceUntil(now: number, hours: number): string {
  return new Date(now + hours * 3_600_000).toISOString()
}

/** Silence lengths offered, in hours. */
export const SILENCE_HOURS = [1, 4, 24] as const

/** Naive UI tag type per severity. */
export function severityTagType(severity: string): 'error' | 'warning' | 'info' | 'default' {
  switch (severity) {
    case 'critical':
      return 'error'
    case 'warning':
      return 'warning'
    case 'info':
      return 'info'
    default:
      return 'default'
  }
}

/** Naive UI tag type per alert state. */
export function stateTagType(state: string): 'error' | 'warning' | 'success' | 'default' {
  switch (state) {
    case 'FIRING':
      return 'error'
    case 'ACKNOWLEDGED':
      return 'warning'
    case 'RESOLVED':
      return 'success'
    default:
      return 'default'
  }
}
