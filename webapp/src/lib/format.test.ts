import { describe, expect, it } from 'vitest'
import { formatAmount, formatDateTime, orDash } from './format'

describe('format', () => {
  it('formats times zh-CN style in local time', () => {
    const d = new Date(2025, 0, 31, 14, 5, 9) // local
    expect(formatDateTime(d)).toBe('2025/01/31 14:05:09')
    expect(formatDateTime(null)).toBe('—')
    expect(formatDateTime('garbage')).toBe('—')
  })
  it('formats amounts', () => {
    expect(formatAmount('99.00', 'CNY')).toBe('¥99.00')
    expect(formatAmount('12.50', 'SGD')).toBe('12.50 SGD')
    expect(formatAmount(null, 'CNY')).toBe('—')
    expect(orDash('')).toBe('—')
  })
})
