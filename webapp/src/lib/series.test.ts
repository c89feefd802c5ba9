import { describe, expect, it } from 'vitest'
import {
  HISTORY_WINDOW_MS,
  appendPoint,
  buildSeries,
  isNewer,
  pointFromBacklog,
  stageCounts,
  timeWindow,
  type BacklogPoint,
} from './series'
import { OPEN_STAGES, type Backlog } from '../graphql/types'

const T0 = Date.parse('2025-01-01T08:00:00Z')
const pt = (t: number, total: number, counts: BacklogPoint['counts'] = {}): BacklogPoint => ({ t, total, counts })

describe('pointFromBacklog', () => {
  it('uses the snapshot time and maps the stage counts', () => {
    const b: Backlog = {
      total: 5,
      at: '2025-01-01T08:00:00Z',
      stages: [
        { stage: 'PAID', count: 3 },
        { stage: 'PICKED', count: 2 },
        { stage: 'DELIVERED', count: 9 },
      ],
    }
    expect(pointFromBacklog(b, 42)).toEqual({ t: T0, total: 5, counts: { PAID: 3, PICKED: 2, DELIVERED: 9 } })
  })
  it('falls back to now when `at` is unparsable', () => {
    expect(pointFromBacklog({ total: 0, at: 'nope', stages: [] }, 42).t).toBe(42)
  })
})

describe('appendPoint', () => {
  it('appends in time order without modifying the input', () => {
    const h0: BacklogPoint[] = []
    const h1 = appendPoint(h0, pt(T0, 1))
    const h2 = appendPoint(h1, pt(T0 + 1000, 2))
    expect(h0).toEqual([])
    expect(h1.map((p) => p.total)).toEqual([1])
    expect(h2.map((p) => p.total)).toEqual([1, 2])
  })
  it('inserts a late point at its place and replaces one with the same time', () => {
    let h = [pt(T0, 1), pt(T0 + 2000, 3)]
    h = appendPoint(h, pt(T0 + 1000, 2))
    expect(h.map((p) => p.total)).toEqual([1, 2, 3])
    h = appendPoint(h, pt(T0 + 2000, 30))
    expect(h.map((p) => p.total)).toEqual([1, 2, 30])
  })
  it('keeps only the window ending at the newest point', () => {
    let h: BacklogPoint[] = []
    for (let i = 0; i <= 12; i++) h = appendPoint(h, pt(T0 + i * 60_000, i)) // one a minute for 12 minutes
    expect(h[0]!.t).toBe(T0 + 2 * 60_000)
    expect(h.at(-1)!.t - h[0]!.t).toBe(HISTORY_WINDOW_MS)
    expect(h).toHaveLength(11)
  })
  it('caps the number of points', () => {
    let h: BacklogPoint[] = []
    for (let i = 0; i < 10; i++) h = appendPoint(h, pt(T0 + i, i), HISTORY_WINDOW_MS, 4)
    expect(h.map((p) => p.total)).toEqual([6, 7, 8, 9])
  })
})

describe('buildSeries', () => {
  it('gives the total then one series per open stage, zero-filled', () => {
    const h = [pt(T0, 3, { PAID: 3 }), pt(T0 + 500, 4, { PAID: 1, PICKED: 3, DELIVERED: 7 })]
    const s = buildSeries(h)
    expect(s.map((x) => x.key)).toEqual(['total', ...OPEN_STAGES])
    expect(s.map((x) => x.key)).not.toContain('DELIVERED')
    expect(s[0]!.data).toEqual([
      [T0, 3],
      [T0 + 500, 4],
    ])
    expect(s.find((x) => x.key === 'PICKED')!.data).toEqual([
      [T0, 0],
      [T0 + 500, 3],
    ])
  })
  it('is empty-data for an empty history', () => {
    expect(buildSeries([]).every((x) => x.data.length === 0)).toBe(true)
    expect(buildSeries([], OPEN_STAGES, T0).every((x) => x.data.length === 0)).toBe(true)
  })
  it('holds the last values until `until`', () => {
    const h = [pt(T0, 3, { PAID: 3 })]
    const s = buildSeries(h, ['PAID'], T0 + 5000)
    expect(s[0]!.data).toEqual([
      [T0, 3],
      [T0 + 5000, 3],
    ])
    expect(s[1]!.data).toEqual([
      [T0, 3],
      [T0 + 5000, 3],
    ])
    // not extended backwards
    expect(buildSeries(h, ['PAID'], T0 - 1)[0]!.data).toEqual([[T0, 3]])
  })
})

describe('timeWindow', () => {
  it('spans the history window ending at `end`', () => {
    expect(timeWindow(T0)).toEqual([T0 - HISTORY_WINDOW_MS, T0])
  })
})

describe('stageCounts and isNewer', () => {
  it('orders counts and fills gaps with 0', () => {
    const b: Backlog = { total: 2, at: '2025-01-01T00:00:00Z', stages: [{ stage: 'PACKED', count: 2 }] }
    expect(stageCounts(b, ['PAID', 'PACKED'])).toEqual([
      { stage: 'PAID', count: 0 },
      { stage: 'PACKED', count: 2 },
    ])
    expect(stageCounts(null, ['PAID'])).toEqual([{ stage: 'PAID', count: 0 }])
  })
  it('rejects a snapshot older than the current one', () => {
    const a: Backlog = { total: 1, at: '2025-01-01T00:00:01Z', stages: [] }
    const older: Backlog = { total: 0, at: '2025-01-01T00:00:00Z', stages: [] }
    const newer: Backlog = { total: 2, at: '2025-01-01T00:00:02Z', stages: [] }
    expect(isNewer(null, a)).toBe(true)
    expect(isNewer(a, older)).toBe(false)
    expect(isNewer(a, newer)).toBe(true)
    expect(isNewer(a, { ...a, total: 5 })).toBe(true)
  })
})
