import { describe, expect, it } from 'vitest'
import { CombinedError } from '@urql/core'
import {
  charLengthAt,
  errorExcerpt,
  lastHours,
  offsetAt,
  replaceRule,
  ruleErrorOf,
  ruleToInput,
  shortDuration,
  sparkPoints,
  totalHits,
} from './rules'
import type { Rule } from '../graphql/types'

const gqlError = (message: string, extensions: Record<string, unknown>) =>
  new CombinedError({ graphQLErrors: [{ message, extensions }] })

describe('ruleErrorOf', () => {
  it('reads code, line, column and field', () => {
    expect(ruleErrorOf(gqlError('unexpected token', { code: 'BAD_USER_INPUT', line: 2, column: 7, field: 'expression' }))).toEqual({
      message: 'unexpected token',
      field: 'expression',
      line: 2,
      column: 7,
    })
  })
  it('accepts numeric strings and defaults the column to 1', () => {
    expect(ruleErrorOf(gqlError('x', { code: 'BAD_USER_INPUT', line: '3' }))).toMatchObject({ line: 3, column: 1 })
  })
  it('has no position without a line', () => {
    expect(ruleErrorOf(gqlError('bad after', { code: 'BAD_USER_INPUT', field: 'after', column: 4 }))).toEqual({
      message: 'bad after',
      field: 'after',
      line: 0,
      column: 0,
    })
  })
  it('is null for other errors', () => {
    expect(ruleErrorOf(gqlError('boom', { code: 'INTERNAL' }))).toBeNull()
    expect(ruleErrorOf(new CombinedError({ networkError: new Error('down') }))).toBeNull()
    expect(ruleErrorOf(null)).toBeNull()
  })
})

describe('positions', () => {
  const text = 'order.amount > 3\n&& 地址 == "😀x"\nend'
  it('maps line and character column to a UTF-16 offset', () => {
    expect(offsetAt(text, 1, 1)).toBe(0)
    expect(offsetAt(text, 1, 7)).toBe(6)
    expect(text.slice(offsetAt(text, 2, 4), offsetAt(text, 2, 6))).toBe('地址')
    // The emoji is one character but two UTF-16 units.
    const emoji = offsetAt(text, 2, 11)
    expect(text.slice(emoji, emoji + charLengthAt(text, emoji))).toBe('😀')
    expect(text[offsetAt(text, 2, 12)]).toBe('x')
  })
  it('clamps past the end of a line or the text', () => {
    expect(offsetAt(text, 1, 99)).toBe(16)
    expect(charLengthAt(text, 16)).toBe(0)
    expect(offsetAt(text, 9, 1)).toBe(text.length)
    expect(offsetAt(text, 0, 5)).toBe(0)
  })
  it('splits the error line at the column', () => {
    expect(errorExcerpt(text, 2, 4)).toEqual({ line: 2, column: 4, before: '&& ', at: '地', after: '址 == "😀x"' })
    expect(errorExcerpt(text, 3, 10)).toEqual({ line: 3, column: 4, before: 'end', at: '', after: '' })
    expect(errorExcerpt(text, 0, 0)).toBeNull()
  })
})

const rule: Rule = {
  name: 'vague_address',
  description: 'd',
  expression: 'true',
  on: ['order.paid'],
  after: null,
  dueExpr: '',
  until: [],
  tags: ['地址模糊'],
  severity: 'warning',
  queue: 'customer_service',
  alert: true,
  kind: 'suspicious_address',
  enabled: true,
  version: 3,
  updatedAt: '2025-01-01T08:00:00Z',
  updatedBy: 'system',
  hitsByHour: [
    { hour: '2025-01-01T09:00:00Z', count: 2 },
    { hour: '2025-01-01T08:00:00Z', count: 1 },
    { hour: 'nonsense', count: 5 },
  ],
  errors24h: 0,
  disabledReason: null,
}

describe('rule helpers', () => {
  it('builds a RuleInput from a rule and a patch', () => {
    const input = ruleToInput(rule, { expression: 'false' })
    expect(input).toMatchObject({ name: 'vague_address', expression: 'false', on: ['order.paid'], dueExpr: null, enabled: true })
    expect(input).not.toHaveProperty('version')
    expect(input).not.toHaveProperty('hitsByHour')
    expect(input.on).not.toBe(rule.on)
  })
  it('gives the last 24 hours', () => {
    expect(lastHours(Date.parse('2025-01-02T00:00:00Z'))).toEqual({
      from: '2025-01-01T00:00:00.000Z',
      to: '2025-01-02T00:00:00.000Z',
    })
  })
  it('fills the last 24 hours for the sparkline, oldest first', () => {
    const now = Date.parse('2025-01-01T09:30:00Z')
    const pts = sparkPoints(rule.hitsByHour, now)
    expect(pts).toHaveLength(24)
    expect(pts[0]).toEqual([Date.parse('2024-12-31T10:00:00Z'), 0])
    expect(pts.at(-2)).toEqual([Date.parse('2025-01-01T08:00:00Z'), 1])
    expect(pts.at(-1)).toEqual([Date.parse('2025-01-01T09:00:00Z'), 2])
    expect(pts.reduce((n, [, c]) => n + c, 0)).toBe(3)
    // Hours outside the window are dropped; an empty series is all zeros.
    expect(sparkPoints(rule.hitsByHour, Date.parse('2025-01-03T00:00:00Z')).every(([, c]) => c === 0)).toBe(true)
    expect(sparkPoints([], now, 3).map(([, c]) => c)).toEqual([0, 0, 0])
    expect(totalHits(rule.hitsByHour)).toBe(8)
  })
  it('shortens Go durations', () => {
    expect(shortDuration('24h0m0s')).toBe('24h')
    expect(shortDuration('30m0s')).toBe('30m')
    expect(shortDuration('1h30m0s')).toBe('1h30m')
    expect(shortDuration('1h0m30s')).toBe('1h30s')
    expect(shortDuration('10m')).toBe('10m')
    expect(shortDuration('45s')).toBe('45s')
    expect(shortDuration('0s')).toBe('0s')
    expect(shortDuration('1.5s')).toBe('1.5s')
    expect(shortDuration('P1D')).toBe('P1D')
  })
  it('replaces a rule by name', () => {
    const other = { ...rule, name: 'ip_burst' }
    const v4 = { ...rule, version: 4 }
    expect(replaceRule([rule, other], v4).map((r) => [r.name, r.version])).toEqual([
      ['vague_address', 4],
      ['ip_burst', 3],
    ])
    expect(replaceRule([other], v4)).toHaveLength(2)
  })
})
