// The urql client: queries over HTTP POST /graphql, subscriptions over a
// graphql-ws ("graphql-transport-ws") WebSocket at ws(s)://<host>/graphql.
import { Client, cacheExchange, fetchExchange, subscriptionExchange } from '@urql/core'
import { createClient as createWSClient, type Client as WSClient } from 'graphql-ws'
import { readonly, ref } from 'vue'

/** localStorage key of the bearer token; there is no login UI yet. */
export const TOKEN_KEY = 'tower.token'

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting'

const state = ref<ConnectionState>('connecting')
const reconnects = ref(0)

/** Live state of the subscription WebSocket. */
export const connectionState = readonly(state)
/**
 * Bumped each time the WebSocket comes back after a drop: views refetch
 * their queries then, since pushes sent while disconnected are lost.
 */
export const reconnectCount = readonly(reconnects)

export function readToken(): string | null {
  try {
    const t = globalThis.localStorage?.getItem(TOKEN_KEY)
    return t ? t.trim() || null : null
  } catch {
    return null
  }
}

/** Authorization value for the current token, or null without one. */
export function authorization(): string | null {
  const t = readToken()
  return t ? `Bearer ${t}` : null
}

/** `connectionParams` sent in the graphql-ws ConnectionInit message. */
export function connectionParams(): Record<string, string> {
  const a = authorization()
  return a ? { Authorization: a } : {}
}

/** ws(s)://<host>/graphql for the page's own origin. */
export function wsURL(loc: Pick<Location, 'protocol' | 'host'>): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/graphql`
}

/** Randomised exponential backoff: 0.5 s, 1 s, 2 s … capped at 10 s. */
export function retryDelay(retries: number, random: () => number = Math.random): number {
  const base = Math.min(10_000, 500 * 2 ** Math.min(retries, 5))
  return Math.round(base * (0.75 + random() * 0.5))
}

function createWS(): WSClient {
  return createWSClient({
    url: wsURL(window.location),
    // Evaluated at every (re)connect, so a token stored later is picked up.
    connectionParams,
    // Connect at once and keep the socket up: the indicator then reflects it.
    lazy: false,
    keepAlive: 15_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, retryDelay(retries))),
    onNonLazyError: (err) => {
      state.value = 'reconnecting'
      console.error('graphql-ws: gave up', err)
    },
    on: {
      connecting: (isRetry) => {
        state.value = isRetry ? 'reconnecting' : 'connecting'
      },
      connected: (_socket, _payload, wasRetry) => {
        state.value = 'connected'
        if (wasRetry) reconnects.value++
      },
      closed: () => {
        state.value = 'reconnecting'
      },
    },
  })
}

export function createTowerClient(): Client {
  const ws = createWS()
  return new Client({
    url: '/graphql',
    exchanges: [
      cacheExchange,
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? '' }
          return {
            subscribe(sink) {
              const unsubscribe = ws.subscribe(input, sink)
              return { unsubscribe }
            },
          }
        },
      }),
    ],
    fetchOptions: () => {
      const a = authorization()
      return a ? { headers: { Authorization: a } } : {}
    },
    // Views pick their own policy; the default never serves stale twins.
    requestPolicy: 'network-only',
    // Always POST application/json (urql would otherwise send short queries as GET).
    preferGetMethod: false,
  })
}
