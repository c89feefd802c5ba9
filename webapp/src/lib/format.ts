// Display formatting. Times are shown in the time zone the user reads times
// in (their own, set in the header's menu, else the business zone: `me {
// timeZone }`, Asia/Shanghai by default) with zh-CN formatting (2025/01/31
// 14:05:09), whatever the UI language.
import { readonly, ref } from 'vue'

const DASH = '—'

export const DEFAULT_TIME_ZONE = 'Asia/Shanghai'

const zone = ref(DEFAULT_TIME_ZONE)

/** The zone every time is shown in (reactive: views re-render when it changes). */
export const displayZone = readonly(zone)

/** Sets the zone times are shown in (an unknown zone keeps the default). */
export function setDisplayZone(tz: string | null | undefined): void {
  const want = tz || DEFAULT_TIME_ZONE
  try {
    new Intl.DateTimeFormat('zh-CN', { timeZone: want })
    zone.value = want
  } catch {
    zone.value = DEFAULT_TIME_ZONE
  }
}

const formatters = new Map<string, { dateTime: Intl.DateTimeFormat; clock: Intl.DateTimeFormat }>()

function formattersFor(timeZone: string) {
  let f = formatters.get(timeZone)
  if (!f) {
    f = {
      dateTime: new Intl.DateTimeFormat('zh-CN', {
        timeZone,
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
        hour12: false,
      }),
      clock: new Intl.DateTimeFormat('zh-CN', { timeZone, hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false }),
    }
    formatters.set(timeZone, f)
  }
  return f
}

function parse(v: string | number | Date | null | undefined): Date | null {
  if (v === null || v === undefined || v === '') return null
  const d = v instanceof Date ? v : new Date(v)
  return Number.isNaN(d.getTime()) ? null : d
}

/** Date and time in the display zone, zh-CN style; a dash when missing or invalid. */
export function formatDateTime(v: string | number | Date | null | undefined, timeZone: string = zone.value): string {
  const d = parse(v)
  return d ? formattersFor(timeZone).dateTime.format(d) : DASH
}

/** Time of day (HH:mm:ss) in the display zone. */
export function formatClock(v: string | number | Date | null | undefined, timeZone: string = zone.value): string {
  const d = parse(v)
  return d ? formattersFor(timeZone).clock.format(d) : DASH
}

const SYMBOLS: Record<string, string> = { CNY: '¥', RMB: '¥', USD: '$', EUR: '€', HKD: 'HK$' }

/** "¥99.00" for CNY, "12.50 SGD" for others; the amount string is kept as sent. */
export function formatAmount(amount: string | null | undefined, currency: string | null | undefined): string {
  if (!amount) return DASH
  const cur = (currency ?? 'CNY').toUpperCase()
  const sym = SYMBOLS[cur]
  return sym ? `${sym}${amount}` : `${amount} ${cur}`
}

/** Value or a dash. */
export function orDash(v: string | null | undefined): string {
  return v ? v : DASH
}
