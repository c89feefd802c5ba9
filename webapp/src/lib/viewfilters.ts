// The view filters as plain data: a time range (today, yesterday, the last
// 7 days, or a custom window) and a channel, shop and warehouse, read from
// and written to the URL query (so a view is shareable), and turned into
// the variables of figure queries, drill-down lists and CSV exports. Days
// are the days of the time zone the user reads times in.
import { startOfDay } from './figures'

export const RANGES = ['today', 'yesterday', '7d', 'custom'] as const
export type RangeKind = (typeof RANGES)[number]
export const PICKERS = ['channel', 'shop', 'warehouse'] as const
export type Picker = (typeof PICKERS)[number]

export interface FilterState {
  range: RangeKind
  /** Custom window, ms since the epoch (null unless range is custom). */
  from: number | null
  to: number | null
  channel: string | null
  shop: string | null
  warehouse: string | null
}

export const DEFAULT_FILTERS: FilterState = { range: 'today', from: null, to: null, channel: null, shop: null, warehouse: null }

/** A window [from, to); live windows end at the present and move with it. */
export interface Window {
  from: number
  to: number
  live: boolean
}

/** The URL query keys the filters own (others are left alone). */
export const FILTER_KEYS = ['range', 'from', 'to', 'channel', 'shop', 'warehouse'] as const

type QueryValue = string | null | undefined | (string | null)[]
export type Query = Record<string, QueryValue>

function first(v: QueryValue): string | null {
  const s = Array.isArray(v) ? v[0] : v
  return typeof s === 'string' && s.trim() !== '' ? s.trim() : null
}

function time(v: QueryValue): number | null {
  const s = first(v)
  if (s === null) return null
  const ms = /^\d+$/.test(s) ? Number(s) : Date.parse(s)
  return Number.isFinite(ms) ? ms : null
}

/** Reads the filters from a route query; anything unreadable is the default. */
export function parseFilterQuery(q: Query): FilterState {
  const r = first(q.range)
  const s: FilterState = {
    ...DEFAULT_FILTERS,
    range: (RANGES as readonly string[]).includes(r ?? '') ? (r as RangeKind) : 'today',
    channel: first(q.channel),
    shop: first(q.shop),
    warehouse: first(q.warehouse),
  }
  if (s.range === 'custom') {
    s.from = time(q.from)
    s.to = time(q.to)
    if (s.from === null || s.to === null || s.from >= s.to) return { ...s, range: 'today', from: null, to: null }
  }
  return s
}

/** The query keys of s (defaults left out), for router.replace. */
export function filterQuery(s: FilterState): Record<string, string> {
  const q: Record<string, string> = {}
  if (s.range !== 'today') q.range = s.range
  if (s.range === 'custom' && s.from !== null && s.to !== null) {
    q.from = new Date(s.from).toISOString()
    q.to = new Date(s.to).toISOString()
  }
  for (const k of PICKERS) {
    const v = s[k]
    if (v) q[k] = v
  }
  return q
}

const DAY = 24 * 3600_000

/** The window of s at now, with days in timeZone. */
export function rangeWindow(s: FilterState, now: number, timeZone: string): Window {
  const today = startOfDay(now, timeZone)
  // The next midnight, found from a time surely in the next day (daylight
  // saving makes some days 23 or 25 hours long).
  const tomorrow = startOfDay(today + DAY + 3 * 3600_000, timeZone)
  switch (s.range) {
    case 'yesterday':
      return { from: startOfDay(today - 12 * 3600_000, timeZone), to: today, live: false }
    case '7d':
      return { from: startOfDay(today - 6 * DAY + 12 * 3600_000, timeZone), to: tomorrow, live: true }
    case 'custom':
      if (s.from !== null && s.to !== null) return { from: s.from, to: s.to, live: false }
  }
  return { from: today, to: tomorrow, live: true }
}

/** The same window one week earlier, up to the same moment (week over week). */
export function weekBefore(w: Window, now: number): { from: number; to: number } {
  const WEEK = 7 * DAY
  return { from: w.from - WEEK, to: (w.live ? Math.min(now, w.to) : w.to) - WEEK }
}

export interface ScopeVars {
  channel: string | null
  shop: string | null
  warehouse: string | null
}

export function scopeVars(s: FilterState): ScopeVars {
  return { channel: s.channel, shop: s.shop, warehouse: s.warehouse }
}

/** Variables of figures/figuresChanged: a live window has no end (it follows the present). */
export function figureVars(s: FilterState, w: Window): ScopeVars & { from: string; to: string | null } {
  return { ...scopeVars(s), from: new Date(w.from).toISOString(), to: w.live ? null : new Date(w.to).toISOString() }
}

/** Which orders behind a figure (graph/schema/viewkit.graphqls OrderSet). */
export type OrderSet = 'LATE_SHIP' | 'ABNORMAL' | 'WAITING' | 'WAITING_OVER_SLA' | 'OPEN_DIVERGENCE' | 'BACKLOG'

export interface DrillSpec {
  set?: OrderSet | null
  stages?: string[] | null
}

/** The sets that are about a window (the others are what is open now). */
const WINDOWED: readonly (OrderSet | null | undefined)[] = ['LATE_SHIP', 'ABNORMAL', null, undefined]

export interface OrderFilterVars {
  set?: OrderSet
  stages?: string[]
  channel?: string
  shop?: string
  warehouse?: string
  from?: string
  to?: string
}

/** The orders query's filter for the orders behind a figure, in the view's filters. */
export function drillFilter(s: FilterState, w: Window, d: DrillSpec): OrderFilterVars {
  const f: OrderFilterVars = {}
  if (d.set) f.set = d.set
  if (d.stages?.length) f.stages = [...d.stages]
  for (const k of PICKERS) {
    const v = s[k]
    if (v) f[k] = v
  }
  if (WINDOWED.includes(d.set)) {
    f.from = new Date(w.from).toISOString()
    f.to = new Date(w.to).toISOString()
  }
  return f
}

/** The CSV export of the same orders: GET /api/export/orders.csv?… */
export function exportHref(f: OrderFilterVars): string {
  const p = new URLSearchParams()
  for (const [k, v] of Object.entries(f)) {
    if (v === undefined || v === null || v === '') continue
    p.set(k, Array.isArray(v) ? v.join(',') : String(v))
  }
  const q = p.toString()
  return `/api/export/orders.csv${q ? `?${q}` : ''}`
}

/** Zones offered when choosing one (any IANA name is accepted by the server). */
export const TIME_ZONES = ['Asia/Shanghai', 'Asia/Hong_Kong', 'Asia/Singapore', 'Asia/Tokyo', 'Europe/London', 'Europe/Berlin', 'America/New_York', 'America/Los_Angeles', 'UTC']
