import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { throttle } from './throttle'

describe('throttle (coalescing, leading + trailing)', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    vi.setSystemTime(new Date('2025-01-01T00:00:00Z'))
  })
  afterEach(() => vi.useRealTimers())

  it('runs at once on the first call', () => {
    const fn = vi.fn()
    throttle(fn, 2000).call()
    expect(fn).toHaveBeenCalledTimes(1)
  })

  it('coalesces a burst into one trailing run at the end of the interval', () => {
    const fn = vi.fn()
    const th = throttle(fn, 2000)
    th.call() // leading
    for (let i = 0; i < 50; i++) {
      vi.advanceTimersByTime(10)
      th.call()
    }
    expect(fn).toHaveBeenCalledTimes(1)
    vi.advanceTimersByTime(1499) // t = 1999
    expect(fn).toHaveBeenCalledTimes(1)
    vi.advanceTimersByTime(1) // t = 2000
    expect(fn).toHaveBeenCalledTimes(2)
    vi.advanceTimersByTime(10_000)
    expect(fn).toHaveBeenCalledTimes(2) // nothing pending
  })

  it('never runs more than once per interval under steady calls', () => {
    const fn = vi.fn()
    const th = throttle(fn, 2000)
    for (let i = 0; i < 100; i++) {
      th.call()
      vi.advanceTimersByTime(100) // 10 s in all
    }
    vi.advanceTimersByTime(2000)
    // t = 0, 2000, 4000, 6000, 8000, 10000
    expect(fn).toHaveBeenCalledTimes(6)
  })

  it('runs immediately again once the interval has passed', () => {
    const fn = vi.fn()
    const th = throttle(fn, 2000)
    th.call()
    vi.advanceTimersByTime(2500)
    th.call()
    expect(fn).toHaveBeenCalledTimes(2)
  })

  it('cancel drops the pending trailing run', () => {
    const fn = vi.fn()
    const th = throttle(fn, 2000)
    th.call()
    th.call()
    th.cancel()
    vi.advanceTimersByTime(5000)
    expect(fn).toHaveBeenCalledTimes(1)
  })
})
