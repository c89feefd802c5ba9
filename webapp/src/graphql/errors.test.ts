import { describe, expect, it } from 'vitest'
import { CombinedError } from '@urql/core'
import { errorCode, errorDetail } from './errors'
import { connectionParams, retryDelay, shouldRetry, wsURL } from './client'
import { TOKEN_KEY } from '../auth/session'

const gqlError = (code?: string, message = 'boom') =>
  new CombinedError({ graphQLErrors: [{ message, extensions: code ? { code } : {} }] })

describe('errorCode', () => {
  it.each([
    ['UNAUTHENTICATED', 'UNAUTHENTICATED'],
    ['FORBIDDEN', 'FORBIDDEN'],
    ['NOT_FOUND', 'NOT_FOUND'],
    ['BAD_USER_INPUT', 'BAD_USER_INPUT'],
    ['CONFLICT', 'CONFLICT'],
    ['INTERNAL', 'INTERNAL'],
    ['GRAPHQL_VALIDATION_FAILED', 'INVALID_QUERY'],
    ['SOMETHING_ELSE', 'UNKNOWN'],
  ])('maps extensions.code %s to %s', (code, want) => {
    expect(errorCode(gqlError(code))).toBe(want)
  })
  it('is UNKNOWN for a GraphQL error without a code, NETWORK for a transport failure', () => {
    expect(errorCode(gqlError())).toBe('UNKNOWN')
    expect(errorCode(new CombinedError({ networkError: new Error('Failed to fetch') }))).toBe('NETWORK')
  })
  it('uses the HTTP status when there is no GraphQL error', () => {
    const e = new CombinedError({ networkError: new Error('Unauthorized'), response: { status: 401 } })
    expect(errorCode(e)).toBe('UNAUTHENTICATED')
  })
  it('is null without an error', () => {
    expect(errorCode(undefined)).toBeNull()
  })
  it('gives the server message as detail', () => {
    expect(errorDetail(gqlError('NOT_FOUND', 'order not found'))).toBe('order not found')
    expect(errorDetail(new CombinedError({ networkError: new Error('<html>\n' + 'x'.repeat(500)) }))).toHaveLength(160)
  })
})

describe('websocket wiring', () => {
  it('derives ws/wss URLs from the page origin', () => {
    expect(wsURL({ protocol: 'http:', host: '127.0.0.1:18080' })).toBe('ws://127.0.0.1:18080/graphql')
    expect(wsURL({ protocol: 'https:', host: 'tower.example' })).toBe('wss://tower.example/graphql')
  })
  it('backs off exponentially, capped at ~10 s', () => {
    const mid = () => 0.5
    expect(retryDelay(0, mid)).toBe(500)
    expect(retryDelay(1, mid)).toBe(1000)
    expect(retryDelay(3, mid)).toBe(4000)
    expect(retryDelay(50, mid)).toBe(10_000)
  })
  it('stops reconnecting once the credentials are refused', () => {
    expect(shouldRetry({ code: 4401, reason: 'unauthorized' })).toBe(false)
    expect(shouldRetry({ code: 4403, reason: 'forbidden' })).toBe(false)
    expect(shouldRetry({ code: 1006, reason: '' })).toBe(true)
    expect(shouldRetry(new Error('network'))).toBe(true)
  })
  it('sends Authorization only when a token is stored', () => {
    const store = new Map<string, string>()
    const ls = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) }
    const g = globalThis as { localStorage?: unknown }
    const saved = g.localStorage
    g.localStorage = ls
    try {
      expect(connectionParams()).toEqual({})
      store.set(TOKEN_KEY, 'abc.def')
      expect(connectionParams()).toEqual({ Authorization: 'Bearer abc.def' })
    } finally {
      g.localStorage = saved
    }
  })
})
