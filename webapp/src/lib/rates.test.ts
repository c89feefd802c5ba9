import { describe, expect, it } from 'vitest'
import { perMinute, pushPoint } from './rates'

describe('perMinute', () => {
  it('divides what each counter gained by the minutes between readings', () => {
    expect(perMinute({ at: 0, counts: { erp: 10, douyin: 4 } }, { at: 30_000, counts: { erp: 40, douyin: 4 } })).toEqual({ erp: 60, douyin: 0 })
  })
  it('counts a new key from zero and a restarted counter from zero', () => {
    expect(perMinute({ at: 0, counts: { erp: 100 } }, { at: 60_000, counts: { erp: 5, tmall: 3 } })).toEqual({ erp: 5, tmall: 3 })
  })
  it('gives nothing for readings at the same time', () => {
    expect(perMinute({ at: 5, counts: {} }, { at: 5, counts: {} })).toBeNull()
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
