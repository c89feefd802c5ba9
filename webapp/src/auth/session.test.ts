import { describe, expect, it } from 'vitest'
import { can, canAny, maySubscribe } from './session'

describe('what the caller may use', () => {
  const it_ = { can: ['Query.auditLog', 'Query.me', 'Mutation.setClockSpeed'] }
  const ops = { can: ['Query.backlog', 'Mutation.saveRule', 'Subscription.backlogChanged'] }
  it('answers from me.can', () => {
    expect(can('Mutation.saveRule', ops)).toBe(true)
    expect(can('Mutation.saveRule', it_)).toBe(false)
    expect(can('Query.backlog', null)).toBe(false)
    expect(canAny(['Query.users', 'Query.auditLog'], it_)).toBe(true)
    expect(canAny(['Query.users'], ops)).toBe(false)
  })
  it('opens a websocket only for roles that may subscribe', () => {
    expect(maySubscribe(ops)).toBe(true)
    expect(maySubscribe(it_)).toBe(false)
    expect(maySubscribe(null)).toBe(false)
  })
})

import { parseScopes } from '../graphql/access'

describe('scopes typed by an admin', () => {
  it('splits on commas, full-width commas and spaces', () => {
    expect(parseScopes('channel=douyin, warehouse=HZ-01')).toEqual(['channel=douyin', 'warehouse=HZ-01'])
    expect(parseScopes('channel=tmall，warehouse=SH-02  ')).toEqual(['channel=tmall', 'warehouse=SH-02'])
    expect(parseScopes('')).toEqual([])
  })
})
