import { describe, expect, it } from 'vitest'
import { DEFAULT_FILTERS, drillFilter, exportHref, figureVars, filterQuery, parseFilterQuery, rangeWindow, weekBefore } from './viewfilters'

const TZ = 'Asia/Shanghai'
// 2026-12-02 15:30 in Shanghai (a Wednesday).
const NOW = Date.UTC(2026, 11, 2, 7, 30)
const MIDNIGHT = Date.UTC(2026, 11, 1, 16, 0) // 2026-12-02 00:00 Shanghai
const H = 3600_000

describe('view filters in the URL', () => {
  it('reads what it writes, and defaults what it cannot read', () => {
    const s = { ...DEFAULT_FILTERS, range: 'custom' as const, from: MIDNIGHT, to: MIDNIGHT + 6 * H, channel: 'douyin', warehouse: 'HZ-01' }
    const q = filterQuery(s)
    expect(q).toEqual({ range: 'custom', from: '2026-12-01T16:00:00.000Z', to: '2026-12-01T22:00:00.000Z', channel: 'douyin', warehouse: 'HZ-01' })
    expect(parseFilterQuery(q)).toEqual(s)
    expect(filterQuery(DEFAULT_FILTERS)).toEqual({})
    expect(parseFilterQuery({ range: 'forever', shop: ['  ', 'x'] })).toEqual(DEFAULT_FILTERS)
    expect(parseFilterQuery({ range: 'custom', from: '2026-12-02', to: '2026-12-01' }).range).toBe('today')
    expect(parseFilterQuery({ shop: ['flagship', 'other'] }).shop).toBe('flagship')
  })
})

describe('windows', () => {
  it.each([
    ['today', MIDNIGHT, MIDNIGHT + 24 * H, true],
    ['yesterday', MIDNIGHT - 24 * H, MIDNIGHT, false],
    ['7d', MIDNIGHT - 6 * 24 * H, MIDNIGHT + 24 * H, true],
  ] as const)('%s is a window of days in the zone', (range, from, to, live) => {
    expect(rangeWindow({ ...DEFAULT_FILTERS, range }, NOW, TZ)).toEqual({ from, to, live })
  })
  it('keeps days in the zone across daylight saving', () => {
    // 2026-03-29: Berlin's clocks go forward; the day is 23 hours long.
    const w = rangeWindow(DEFAULT_FILTERS, Date.UTC(2026, 2, 29, 12), 'Europe/Berlin')
    expect(w.to - w.from).toBe(23 * H)
  })
  it('compares with the same stretch one week earlier', () => {
    const w = rangeWindow(DEFAULT_FILTERS, NOW, TZ)
    expect(weekBefore(w, NOW)).toEqual({ from: MIDNIGHT - 7 * 24 * H, to: NOW - 7 * 24 * H })
  })
  it('gives live windows no end in figure variables', () => {
    const s = { ...DEFAULT_FILTERS, shop: 'flagship' }
    expect(figureVars(s, rangeWindow(s, NOW, TZ))).toEqual({ channel: null, shop: 'flagship', warehouse: null, from: '2026-12-01T16:00:00.000Z', to: null })
    const y = { ...DEFAULT_FILTERS, range: 'yesterday' as const }
    expect(figureVars(y, rangeWindow(y, NOW, TZ)).to).toBe('2026-12-01T16:00:00.000Z')
  })
})

describe('drill-down and export', () => {
  const s = { ...DEFAULT_FILTERS, channel: 'tmall', warehouse: 'HZ-01' }
  const w = rangeWindow(s, NOW, TZ)
  it('windows the sets about a window only', () => {
    expect(drillFilter(s, w, { set: 'LATE_SHIP' })).toEqual({
      set: 'LATE_SHIP',
      channel: 'tmall',
      warehouse: 'HZ-01',
      from: '2026-12-01T16:00:00.000Z',
      to: '2026-12-02T16:00:00.000Z',
    })
    expect(drillFilter(s, w, { set: 'BACKLOG', stages: ['PAID', 'PACKED'] })).toEqual({ set: 'BACKLOG', stages: ['PAID', 'PACKED'], channel: 'tmall', warehouse: 'HZ-01' })
  })
  it('exports the same orders', () => {
    expect(exportHref(drillFilter(s, w, { set: 'BACKLOG', stages: ['PAID', 'PACKED'] }))).toBe(
      '/api/export/orders.csv?set=BACKLOG&stages=PAID%2CPACKED&channel=tmall&warehouse=HZ-01',
    )
    expect(exportHref({})).toBe('/api/export/orders.csv')
  })
})
