// Display formatting. Times are shown in the browser's local time zone with
// zh-CN formatting (2025/01/31 14:05:09), whatever the UI language.

const DASH = '—'

const dateTime = new Intl.DateTimeFormat('zh-CN', {
  year: 'numeric',
  month: '2-digit',
  day: '2-digit',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
})

const clock = new Intl.DateTimeFormat('zh-CN', {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hour12: false,
})

function parse(v: string | number | Date | null | undefined): Date | null {
  if (v === null || v === undefined || v === '') return null
  const d = v instanceof Date ? v : new Date(v)
  return Number.isNaN(d.getTime()) ? null : d
}

/** Local date and time, zh-CN style; a dash when missing or invalid. */
export function formatDateTime(v: string | number | Date | null | undefined): string {
  const d = parse(v)
  return d ? dateTime.format(d) : DASH
}

/** Local time of day (HH:mm:ss). */
export function formatClock(v: string | number | Date | null | undefined): string {
  const d = parse(v)
  return d ? clock.format(d) : DASH
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
