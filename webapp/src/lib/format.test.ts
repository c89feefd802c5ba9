import { afterEach, describe, expect, it } from 'vitest'
import { displayZone, formatAmount, formatClock, formatDateTime, orDash, setDisplayZone } from './format'

describe('format', () => {
  afterEach(() => setDisplayZone(null))
  it('formats times zh-CN style in the display zone, Asia/Shanghai by default', () => {
    const d = new Date(Date.UTC(2025, 0, 31, 6, 5, 9))
    expect(displayZone.value).toBe('Asia/Shanghai')
    expect(formatDateTime(d)).toBe('2025/01/31 14:05:09')
    expect(formatDateTime(null)).toBe('—')
    expect(formatDateTime('garbage')).toBe('—')
  })
  it("follows the user's zone", () => {
    const d = new Date(Date.UTC(2025, 0, 31, 6, 5, 9))
    setDisplayZone('Europe/Berlin')
    expect(formatDateTime(d)).toBe('2025/01/31 07:05:09')
    expect(formatClock(d)).toBe('07:05:09')
    setDisplayZone('Mars/Olympus')
    expect(displayZone.value).toBe('Asia/Shanghai')
  })
  it('formats amounts', () => {
    expect(formatAmount('99.00', 'CNY')).toBe('¥99.00')
    expect(formatAmount('12.50', 'SGD')).toBe('12.50 SGD')
    expect(formatAmount(null, 'CNY')).toBe('—')
    expect(orDash('')).toBe('—')
  })
})
