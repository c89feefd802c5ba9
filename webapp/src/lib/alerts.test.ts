import { describe, expect, it } from 'vitest'
import {
  applyAlertPush,
  applyToStateIds,
  emptyStateIds,
  formatCount,
  mergeFetched,
  severityTagType,
  silenceUntil,
  stateIdsFromQuery,
  stateTagType,
} from './alerts'
import type { Alert, AlertState } from '../graphql/types'

const alert = (id: string, raisedAt: string, state: AlertState = 'FIRING'): Alert => ({
  id,
  rule: 'vague_address',
  kind: 'suspicious_address',
  severity: 'warning',
  state,
  order: { id: `o${id}`, channel: 'douyin', orderNo: `N${id}` },
  scope: 'HZ-01',
  summary: '',
  conditionSince: raisedAt,
  raisedAt,
  acknowledgedAt: null,
  acknowledgedBy: null,
  resolvedAt: null,
  resolvedBy: null,
})

const a1 = alert('1', '2025-01-01T08:00:00Z')
const a2 = alert('2', '2025-01-01T08:01:00Z')
const a3 = alert('3', '2025-01-01T08:02:00Z')
const ids = (rows: Alert[]) => rows.map((r) => r.id)

describe('applyAlertPush', () => {
  it('prepends a raised alert', () => {
    expect(ids(applyAlertPush([a2, a1], { kind: 'raised', alert: a3 }, null))).toEqual(['3', '2', '1'])
  })
  it('keeps newest-first order for a late push', () => {
    expect(ids(applyAlertPush([a3, a1], { kind: 'changed', alert: a2 }, null))).toEqual(['3', '2', '1'])
  })
  it('updates a known alert in place, even when it leaves the filter', () => {
    const acked = { ...a2, state: 'ACKNOWLEDGED' as const }
    const out = applyAlertPush([a3, a2, a1], { kind: 'changed', alert: acked }, 'FIRING')
    expect(ids(out)).toEqual(['3', '2', '1'])
    expect(out[1]!.state).toBe('ACKNOWLEDGED')
  })
  it('ignores a new alert outside the filter', () => {
    const rows = [a2]
    expect(applyAlertPush(rows, { kind: 'raised', alert: a3 }, 'RESOLVED')).toBe(rows)
  })
  it('caps the list', () => {
    expect(ids(applyAlertPush([a2, a1], { kind: 'raised', alert: a3 }, null, 2))).toEqual(['3', '2'])
    const rows = [a3, a2]
    expect(applyAlertPush(rows, { kind: 'changed', alert: a1 }, null, 2)).toBe(rows)
  })
  it('does not mutate its input', () => {
    const rows = [a1]
    applyAlertPush(rows, { kind: 'raised', alert: a2 }, null)
    expect(ids(rows)).toEqual(['1'])
  })
})

describe('mergeFetched', () => {
  it('replays pushes received while the query was in flight', () => {
    const acked = { ...a1, state: 'ACKNOWLEDGED' as const }
    const out = mergeFetched(
      [a2, a1],
      [
        { kind: 'raised', alert: a3 },
        { kind: 'changed', alert: acked },
      ],
      null,
    )
    expect(ids(out)).toEqual(['3', '2', '1'])
    expect(out[2]!.state).toBe('ACKNOWLEDGED')
  })
  it('is idempotent for a push the snapshot already holds', () => {
    expect(ids(mergeFetched([a3, a2], [{ kind: 'raised', alert: a3 }], null))).toEqual(['3', '2'])
  })
})

describe('state counts', () => {
  const page = (idList: string[], more = false) => ({ edges: idList.map((id) => ({ node: { id } })), pageInfo: { hasNextPage: more } })
  it('counts the query answer and moves ids on changes', () => {
    let s = stateIdsFromQuery({ firing: page(['1', '2']), acknowledged: page(['3']), resolved: page([], true) })
    expect(formatCount(s.FIRING)).toBe('2')
    expect(formatCount(s.RESOLVED)).toBe('0+')
    s = applyToStateIds(s, { id: '1', state: 'ACKNOWLEDGED' })
    expect([s.FIRING.ids.size, s.ACKNOWLEDGED.ids.size]).toEqual([1, 2])
    s = applyToStateIds(s, { id: '9', state: 'FIRING' })
    expect(s.FIRING.ids.size).toBe(2)
  })
  it('returns the same object when nothing moves', () => {
    const s = applyToStateIds(emptyStateIds(), { id: '1', state: 'FIRING' })
    expect(applyToStateIds(s, { id: '1', state: 'FIRING' })).toBe(s)
  })
  it('replays pushes on the query answer', () => {
    const s = stateIdsFromQuery({ firing: page(['1']), acknowledged: page([]), resolved: page([]) }, [
      { kind: 'changed', alert: { ...a1, state: 'RESOLVED' } },
    ])
    expect([s.FIRING.ids.size, s.RESOLVED.ids.size]).toEqual([0, 1])
  })
})

describe('small helpers', () => {
  it('computes a silence end', () => {
    expect(silenceUntil(Date.parse('2025-01-01T08:00:00Z'), 4)).toBe('2025-01-01T12:00:00.000Z')
  })
  it('maps severities and states to tag colours', () => {
    expect(severityTagType('critical')).toBe('error')
    expect(severityTagType('warning')).toBe('warning')
    expect(severityTagType('info')).toBe('info')
    expect(severityTagType('weird')).toBe('default')
    expect(stateTagType('FIRING')).toBe('error')
    expect(stateTagType('RESOLVED')).toBe('success')
  })
})
