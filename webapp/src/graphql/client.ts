// The urql client: queries over HTTP POST /graphql (with the session's
// CSRF token, or a stored API token), subscriptions over a graphql-ws
// ("graphql-transport-ws") WebSocket at ws(s)://<host>/graphql, opened once
// someone is logged in whose role may subscribe. The browser sends the
// session cookie with the upgrade; the server closes the socket with 4401
// when the session ends, 4403 when the role may subscribe to nothing.
import { Client, cacheExchange, fetchExchange, mapExchange, subscriptionExchange } from '@urql/core'
import { createClient as createWSClient, type Client as WSClient } from 'graphql-ws'
import { readonly, ref } from 'vue'
import { authHeaders, maySubscribe, onSessionChange, readToken, sessionEnded, type Me } from '../auth/session'
import { errorCode } from './errors'

export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'off'

const state = ref<ConnectionState>('off')
const reconnects = ref(0)

/** Live state of the subscription WebSocket ('off': none is open). */
export const connectionState = readonly(state)
/**
 * Bumped each time the WebSocket comes back after a drop: views refetch
 * their queries then, since pushes sent while disconnected are lost.
 */
export const reconnectCount = readonly(reconnects)

/** `connectionParams` sent in the graphql-ws ConnectionInit message. */
export function connectionParams(): Record<string, string> {
  const t = readToken()
  return t ? { Authorization: `Bearer ${t}` } : {}
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

/** Close codes after which reconnecting cannot help: the credentials are gone. */
export const CLOSE_UNAUTHORIZED = 4401
export const CLOSE_FORBIDDEN = 4403

function closeCode(e: unknown): number | null {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'number'
    ? (e as { code: number }).code
    : null
}

/** Whether graphql-ws should reconnect after e. */
export function shouldRetry(e: unknown): boolean {
  const code = closeCode(e)
  return code !== CLOSE_UNAUTHORIZED && code !== CLOSE_FORBIDDEN
}

function createWS(): WSClient {
  return createWSClient({
    url: wsURL(window.location),
    connectionParams,
    // Connect at once and keep the socket up: the indicator then reflects it.
    lazy: false,
    keepAlive: 15_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry,
    retryWait: (retries) => new Promise((resolve) => setTimeout(resolve, retryDelay(retries))),
    onNonLazyError: (err) => {
      if (closeCode(err) === CLOSE_UNAUTHORIZED) {
        sessionEnded()
        return
      }
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
      closed: (e) => {
        if (closeCode(e) === CLOSE_UNAUTHORIZED) sessionEnded()
        state.value = ws ? 'reconnecting' : 'off'
      },
    },
  })
}

let ws: WSClient | null = null

/** Opens the websocket for a caller who may subscribe, closes it otherwise. */
function follow(m: Me | null) {
  const want = m !== null && maySubscribe(m)
  if (want && !ws) {
    ws = createWS()
  } else if (!want && ws) {
    const old = ws
    ws = null
    void old.dispose()
    state.value = 'off'
  }
}

export function createTowerClient(): Client {
  onSessionChange(follow)
  return new Client({
    url: '/graphql',
    exchanges: [
      cacheExchange,
      mapExchange({
        onError(error) {
          if (errorCode(error) === 'UNAUTHENTICATED') sessionEnded()
        },
      }),
      fetchExchange,
      subscriptionExchange({
        forwardSubscription(request) {
          const input = { ...request, query: request.query ?? '' }
          return {
            subscribe(sink) {
              if (!ws) {
                sink.complete()
                return { unsubscribe() {} }
              }
              const unsubscribe = ws.subscribe(input, sink)
              return { unsubscribe }
            },
          }
        },
      }),
    ],
    fetchOptions: () => ({ headers: authHeaders() }),
    // Views pick their own policy; the default never serves stale twins.
    requestPolicy: 'network-only',
    // Always POST application/json (urql would otherwise send short queries as GET).
    preferGetMethod: false,
  })
}
