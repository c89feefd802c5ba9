// Pure helpers behind the rules page: compile errors from GraphQL errors,
// their position in the expression text, rule inputs and the sparkline data.
import type { ErrorLike } from '../graphql/errors'
import type { HourCount, Rule, RuleInput } from '../graphql/types'

/** A rule compile or validation error as the server reports it. */
export interface RuleError {
  message: string
  /** Which field of the rule: "expression", "dueExpr", "after", … ("" when not said). */
  field: string
  /** 1-based; 0 when the server gave no position. */
  line: number
  /** 1-based, in characters (code points); 0 when not given. */
  column: number
}

function positiveInt(v: unknown): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : NaN
  return Number.isInteger(n) && n > 0 ? n : 0
}

/**
 * The first BAD_USER_INPUT GraphQL error, with extensions.line / column /
 * field when present. Null for any other error (network, INTERNAL, …).
 */
export function ruleErrorOf(err: ErrorLike | null | undefined): RuleError | null {
  for (const e of err?.graphQLErrors ?? []) {
    const ext = (e.extensions ?? {}) as Record<string, unknown>
    if (String(ext.code ?? '').toUpperCase() !== 'BAD_USER_INPUT') continue
    const line = positiveInt(ext.line)
    const column = line ? positiveInt(ext.column) || 1 : 0
    return {
      message: e.message,
      field: typeof ext.field === 'string' ? ext.field : '',
      line,
      column,
    }
  }
  return null
}

/**
 * UTF-16 offset (for setSelectionRange) of a 1-based line and character
 * column, clamped to the text: the end of the line when the column is past
 * it, the end of the text when the line is.
 */
export function offsetAt(text: string, line: number, column: number): number {
  if (line < 1) return 0
  let off = 0
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf('\n', off)
    if (nl < 0) return text.length
    off = nl + 1
  }
  let end = text.indexOf('\n', off)
  if (end < 0) end = text.length
  let col = 1
  while (off < end && col < column) {
    const cp = text.codePointAt(off) ?? 0
    off += cp > 0xffff ? 2 : 1
    col++
  }
  return off
}

/** The UTF-16 length of the character at `offset` (0 at the end of a line or the text). */
export function charLengthAt(text: string, offset: number): number {
  if (offset >= text.length || text[offset] === '\n') return 0
  return (text.codePointAt(offset) ?? 0) > 0xffff ? 2 : 1
}

/** Where an error points, for display: the line's text split at the column. */
export interface ErrorExcerpt {
  line: number
  column: number
  before: string
  /** The character pointed at ('' past the end of the line). */
  at: string
  after: string
}

export function errorExcerpt(text: string, line: number, column: number): ErrorExcerpt | null {
  if (line < 1) return null
  const lines = text.split('\n')
  const l = Math.min(line, lines.length)
  const chars = Array.from(lines[l - 1] ?? '')
  const c = Math.max(1, Math.min(column, chars.length + 1))
  return {
    line: l,
    column: c,
    before: chars.slice(0, c - 1).join(''),
    at: chars[c - 1] ?? '',
    after: chars.slice(c).join(''),
  }
}

/** The input that saves `rule` as it is, with the given fields changed. */
export function ruleToInput(rule: Rule, patch: Partial<RuleInput> = {}): RuleInput {
  return {
    name: rule.name,
    description: rule.description,
    expression: rule.expression,
    on: [...rule.on],
    after: rule.after || null,
    dueExpr: rule.dueExpr || null,
    until: [...rule.until],
    tags: [...rule.tags],
    severity: rule.severity,
    queue: rule.queue ?? null,
    alert: rule.alert,
    kind: rule.kind,
    enabled: rule.enabled,
    ...patch,
  }
}

/** [from, to) of the last `hours` hours before `now`, as RFC 3339. */
export function lastHours(now: number, hours = 24): { from: string; to: string } {
  return { from: new Date(now - hours * 3_600_000).toISOString(), to: new Date(now).toISOString() }
}

const HOUR_MS = 3_600_000

/**
 * Sparkline points [hour start ms, count] for the `hours` hours up to the
 * one holding `now`, oldest first: hours the server left out count 0, hours
 * outside the window and unparsable ones are dropped.
 */
export function sparkPoints(hits: readonly HourCount[], now: number, hours = 24): [number, number][] {
  const last = Math.floor(now / HOUR_MS)
  const first = last - hours + 1
  const counts = new Map<number, number>()
  for (const h of hits) {
    const t = Date.parse(h.hour)
    if (Number.isNaN(t)) continue
    const k = Math.floor(t / HOUR_MS)
    if (k >= first && k <= last) counts.set(k, (counts.get(k) ?? 0) + h.count)
  }
  const out: [number, number][] = []
  for (let k = first; k <= last; k++) out.push([k * HOUR_MS, counts.get(k) ?? 0])
  return out
}

/** A Go duration as written by time.Duration.String, without zero units: "24h0m0s" → "24h", "1h30m0s" → "1h30m". */
export function shortDuration(d: string): string {
  if (!/^(\d+h)?(\d+m)?(\d+(\.\d+)?s)?$/.test(d) || d === '') return d
  const out = d.replace(/(^|[hm])0s$/, '$1').replace(/(^|h)0m/, '$1')
  return out || '0s'
}

/** Total hits over the series. */
export function totalHits(hits: readonly HourCount[]): number {
  return hits.reduce((n, h) => n + h.count, 0)
}

/** Replaces the rule with the same name (or appends it). */
export function replaceRule(rules: readonly Rule[], r: Rule): Rule[] {
  const i = rules.findIndex((x) => x.name === r.name)
  if (i < 0) return [...rules, r]
  const out = rules.slice()
  out[i] = r
  return out
}
