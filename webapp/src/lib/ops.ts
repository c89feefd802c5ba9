// Pure arithmetic of the operations view: the current inflow and packing
// rates, where the backlog still to pack will be in an hour at those
// rates, and the stage funnel. No Vue, no DOM: unit-tested.
import type { FigureHour, StageBacklog } from '../graphql/figures'
import type { Stage } from '../graphql/types'

/** Stages of orders paid but not packed yet: what packing works off. */
export const TO_PACK: readonly Stage[] = ['PAID', 'IN_WAREHOUSE', 'PICKED']

const HOUR = 3600_000

export interface Rates {
  /** Orders paid per hour. */
  inflow: number
  /** Orders packed per hour. */
  packed: number
  /** Minutes the rates were measured over (0: nothing to measure). */
  minutes: number
}

/**
 * Rates over the last completed hour plus the current hour so far (60 to
 * 120 minutes: enough to smooth a burst, recent enough to follow the
 * day). hours are the window's buckets, oldest first, each starting at
 * `at`; now is the clock the figures were computed at.
 */
export function currentRates(hours: readonly FigureHour[], now: number): Rates {
  const started = hours.filter((h) => Date.parse(h.at) <= now)
  const current = started[started.length - 1]
  if (!current) return { inflow: 0, packed: 0, minutes: 0 }
  const previous = started[started.length - 2]
  const currentMinutes = Math.max(0, Math.min(60, (now - Date.parse(current.at)) / 60_000))
  const minutes = currentMinutes + (previous ? 60 : 0)
  if (minutes < 1) return { inflow: 0, packed: 0, minutes: 0 }
  const inflow = current.inflow + (previous?.inflow ?? 0)
  const packed = current.packed + (previous?.packed ?? 0)
  return { inflow: (inflow * 60) / minutes, packed: (packed * 60) / minutes, minutes }
}

export interface Projection {
  /** Orders waiting to be packed now. */
  now: number
  /** In one hour at the current rates (never below 0). */
  inHour: number
  rates: Rates
}

/** Backlog to pack now, and in an hour: now + (inflow − packed) × 1 h. */
export function projectBacklog(backlog: readonly Pick<StageBacklog, 'stage' | 'count'>[], rates: Rates): Projection {
  const now = backlog.filter((b) => TO_PACK.includes(b.stage)).reduce((n, b) => n + b.count, 0)
  return { now, inHour: Math.max(0, Math.round(now + rates.inflow - rates.packed)), rates }
}

/** The instant one hour after t (ms). */
export const inAnHour = (t: number) => t + HOUR

export interface FunnelStep {
  key: 'paid' | 'inWms' | 'pickedPacked' | 'outbound' | 'collected' | 'delivered'
  /** Orders in the step now (delivered: delivered in the window). */
  count: number
  /** Age p90 of the step's oldest part, seconds (null for delivered). */
  ageP90: number | null
}

const STEPS: { key: FunnelStep['key']; stages: Stage[] }[] = [
  { key: 'paid', stages: ['PAID'] },
  { key: 'inWms', stages: ['IN_WAREHOUSE'] },
  { key: 'pickedPacked', stages: ['PICKED', 'PACKED'] },
  { key: 'outbound', stages: ['OUTBOUND'] },
  { key: 'collected', stages: ['COLLECTED', 'IN_TRANSIT', 'OUT_FOR_DELIVERY'] },
]

/**
 * paid → in WMS → picked/packed → outbound → collected → delivered: open
 * orders per step now (from the backlog), then the orders delivered in
 * the window.
 */
export function funnel(backlog: readonly StageBacklog[], delivered: number): FunnelStep[] {
  const out: FunnelStep[] = STEPS.map(({ key, stages }) => {
    const rows = backlog.filter((b) => stages.includes(b.stage))
    return {
      key,
      count: rows.reduce((n, b) => n + b.count, 0),
      ageP90: rows.length ? Math.max(...rows.map((b) => b.ageP90)) : null,
    }
  })
  out.push({ key: 'delivered', count: delivered, ageP90: null })
  return out
}
