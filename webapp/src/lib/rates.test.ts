import { describe, expect, it } from 'vitest'
import { pushPoint, trendRates } from './rates'

const t0 = Date.parse('2026-12-07T08:00:00Z')
const iso = (ms: number) => new Date(ms).toISOString()

describe('trendRates', () => {
  it('gives requests per minute at every step, zero where the server left one out', () => {
    const points = [
      { at: iso(t0), requests: 50 },
      { at: iso(t0 + 10 * 60_000), requests: 5 },
    ]
    expect(trendRates(points, 300, t0, t0 + 15 * 60_000)).toEqual([
      [t0, 10],
      [t0 + 5 * 60_000, 0],
      [t0 + 10 * 60_000, 1],
    ])
  })
  it('divides the step cut short by the end of the range by what has passed of it', () => {
    expect(trendRates([{ at: iso(t0), requests: 6 }], 300, t0, t0 + 2 * 60_000)).toEqual([[t0, 3]])
  })
  it('gives nothing for an empty range', () => {
    expect(trendRates([], 60, t0, t0)).toEqual([])
  })
})

describe('pushPoint', () => {
  it('keeps the newest points', () => {
    let h: [number, number][] = []
    for (let i = 0; i < 5; i++) h = pushPoint(h, [i, i * 2], 3)
    expect(h).toEqual([
      [2, 4],
      [3, 6],
      [4, 8],
    ])
  })
})
