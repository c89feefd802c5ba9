// Pure helpers of the figure views: business days in a time zone, shares,
// durations and comparisons as the tiles show them.
import type { Rate } from '../graphql/figures'

const DASH = '—'

/** The zone's UTC offset at instant ms, in milliseconds. */
export function zoneOffset(ms: number, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(ms))
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value)
  const asUTC = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'))
  return asUTC - Math.floor(ms / 1000) * 1000
}

/** The instant the business day holding ms began in timeZone. */
export function startOfDay(ms: number, timeZone: string): number {
  const off = zoneOffset(ms, timeZone)
  const local = new Date(ms + off)
  const midnightLocal = Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate())
  // The offset at midnight may differ from now's (daylight saving).
  return midnightLocal - zoneOffset(midnightLocal - off, timeZone)
}

/** "97.3%", or a dash when nothing was measured. */
export function formatShare(v: number | null | undefined, digits = 1): string {
  if (v === null || v === undefined || Number.isNaN(v)) return DASH
  return `${(v * 100).toFixed(digits)}%`
}

export function rateValue(r: Rate | null | undefined): number | null {
  return r && r.of > 0 ? r.count / r.of : null
}

/** Seconds as "47 秒"-free compact text: 47s, 8m, 1.2h, 2.5d. */
export function formatSeconds(s: number | null | undefined): string {
  if (s === null || s === undefined || Number.isNaN(s)) return DASH
  if (s < 60) return `${Math.round(s)}s`
  if (s < 3600) return `${Math.round(s / 60)}m`
  if (s < 86400) return `${(s / 3600).toFixed(1)}h`
  return `${(s / 86400).toFixed(1)}d`
}

/**
 * Difference of two shares in percentage points ("+2.1pt"), or of two
 * counts as a signed number; a dash when either side is missing.
 */
export function formatDelta(now: number | null, before: number | null, share: boolean): string {
  if (now === null || before === null) return DASH
  const d = share ? (now - before) * 100 : now - before
  const s = share ? `${Math.abs(d).toFixed(1)}pt` : Math.abs(Math.round(d)).toLocaleString('zh-CN')
  return d > 0 ? `+${s}` : d < 0 ? `-${s}` : `±${s}`
}

/** Colour class of a health index or a score (0-100). */
export function healthLevel(index: number): 'good' | 'fair' | 'poor' {
  return index >= 90 ? 'good' : index >= 70 ? 'fair' : 'poor'
}

/** Stages still in the warehouse (to ship). */
export const TO_SHIP = ['PAID', 'IN_WAREHOUSE', 'PICKED', 'PACKED'] as const
