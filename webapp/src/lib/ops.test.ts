import { describe, expect, it } from 'vitest'
import type { FigureHour, StageBacklog } from '../graphql/figures'
import { currentRates, funnel, projectBacklog } from './ops'

const T0 = Date.parse('2026-11-25T01:00:00Z') // 09:00 in Shanghai
const hour = (i: number, inflow: number, packed: number): FigureHour => ({
  at: new Date(T0 + i * 3600_000).toISOString(),
  orders: inflow,
  inflow,
  outbound: 0,
  packed,
  backlog: [],
})
const stage = (s: StageBacklog['stage'], count: number, ageP90 = 60): StageBacklog => ({ stage: s, count, oldestSince: '', ageP50: 0, ageP90 })

describe('currentRates', () => {
  it('takes the last full hour and the current one so far', () => {
    // 10:30: 09:00-10:00 paid 120 packed 60; 10:00-10:30 paid 90 packed 30.
    const r = currentRates([hour(0, 120, 60), hour(1, 90, 30), hour(2, 0, 0)], T0 + 90 * 60_000)
    expect(r.minutes).toBe(90)
    expect(r.inflow).toBeCloseTo(140) // 210 in 90 min
    expect(r.packed).toBeCloseTo(60) // 90 in 90 min
  })
  it('uses the current hour alone at the start of the window', () => {
    const r = currentRates([hour(0, 10, 5)], T0 + 30 * 60_000)
    expect(r).toEqual({ inflow: 20, packed: 10, minutes: 30 })
  })
  it('measures nothing before the window starts', () => {
    expect(currentRates([hour(0, 10, 5)], T0 - 1).minutes).toBe(0)
    expect(currentRates([], T0).minutes).toBe(0)
  })
})

describe('projectBacklog', () => {
  const backlog = [stage('PAID', 40), stage('IN_WAREHOUSE', 30), stage('PICKED', 10), stage('PACKED', 99), stage('OUTBOUND', 7)]
  it('adds inflow and takes off packing, over the orders not packed yet', () => {
    const p = projectBacklog(backlog, { inflow: 140, packed: 60, minutes: 90 })
    expect(p.now).toBe(80)
    expect(p.inHour).toBe(160)
  })
  it('never goes below zero', () => {
    expect(projectBacklog(backlog, { inflow: 0, packed: 500, minutes: 60 }).inHour).toBe(0)
  })
})

describe('funnel', () => {
  it('groups the open stages into steps and ends with the delivered', () => {
    const f = funnel([stage('PAID', 4, 30), stage('PICKED', 2, 90), stage('PACKED', 3, 300), stage('IN_TRANSIT', 5), stage('COLLECTED', 1)], 12)
    expect(f.map((s) => [s.key, s.count])).toEqual([
      ['paid', 4],
      ['inWms', 0],
      ['pickedPacked', 5],
      ['outbound', 0],
      ['collected', 6],
      ['delivered', 12],
    ])
    expect(f[2]!.ageP90).toBe(300)
    expect(f[1]!.ageP90).toBeNull()
  })
})
