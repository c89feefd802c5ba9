import { describe, expect, it } from 'vitest'
import { formatDelta, formatSeconds, formatShare, healthLevel, rateValue, startOfDay, zoneOffset } from './figures'

describe('business days', () => {
  it('Shanghai is UTC+8 all year', () => {
    expect(zoneOffset(Date.UTC(2026, 0, 1), 'Asia/Shanghai')).toBe(8 * 3600_000)
    expect(zoneOffset(Date.UTC(2026, 6, 1), 'Asia/Shanghai')).toBe(8 * 3600_000)
  })
  it('the day starts at local midnight', () => {
    // 2026-11-25 01:00 UTC is 09:00 in Shanghai: the day began at 2026-11-24 16:00 UTC.
    expect(startOfDay(Date.UTC(2026, 10, 25, 1), 'Asia/Shanghai')).toBe(Date.UTC(2026, 10, 24, 16))
    // 2026-11-24 17:00 UTC is 01:00 on the 25th in Shanghai.
    expect(startOfDay(Date.UTC(2026, 10, 24, 17), 'Asia/Shanghai')).toBe(Date.UTC(2026, 10, 24, 16))
    expect(startOfDay(Date.UTC(2026, 10, 25, 1), 'UTC')).toBe(Date.UTC(2026, 10, 25))
  })
  it('across a daylight saving change', () => {
    // Paris, 2026-03-29 (clocks forward at 02:00): midnight was UTC+1.
    expect(startOfDay(Date.UTC(2026, 2, 29, 12), 'Europe/Paris')).toBe(Date.UTC(2026, 2, 28, 23))
  })
})

describe('formatting', () => {
  it('shares, rates and durations', () => {
    expect(formatShare(0.9734)).toBe('97.3%')
    expect(formatShare(null)).toBe('—')
    expect(rateValue({ count: 1, of: 4, value: 0.25 })).toBe(0.25)
    expect(rateValue({ count: 0, of: 0, value: null })).toBeNull()
    expect([formatSeconds(47), formatSeconds(480), formatSeconds(4320), formatSeconds(216000)]).toEqual(['47s', '8m', '1.2h', '2.5d'])
  })
  it('deltas and levels', () => {
    expect(formatDelta(0.95, 0.93, true)).toBe('+2.0pt')
    expect(formatDelta(80, 100, false)).toBe('-20')
    expect(formatDelta(null, 1, false)).toBe('—')
    expect([healthLevel(95), healthLevel(75), healthLevel(40)]).toEqual(['good', 'fair', 'poor'])
  })
})
