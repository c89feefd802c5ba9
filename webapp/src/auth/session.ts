// Who is using the SPA. A person logs in with POST /auth/login and gets an
// HttpOnly session cookie the page never sees, plus a CSRF token it keeps
// in memory and sends back in X-CSRF-Token on every GraphQL request.
// `me { can }` lists the root fields the server lets this person use: the
// SPA hides the pages and buttons of the others. It only hides; the server
// refuses them anyway.
import { readonly, ref } from 'vue'

export const ROLES = ['ceo', 'ops', 'warehouse', 'cs', 'it', 'admin'] as const
export type Role = (typeof ROLES)[number]

export interface Me {
  name: string
  role: Role
  scopes: string[]
  via: 'session' | 'token'
  queues: string[]
  personalData: 'masked' | 'one_order' | 'unmasked'
  can: string[]
  /** The IANA zone times are shown in (the user's, else the business zone). */
  timeZone: string
}

/** What the permission checks read of a caller. */
export type Caller = { readonly can: readonly string[] }

/** localStorage key of an API token, for tools driving the SPA; people log in. */
export const TOKEN_KEY = 'tower.token'

const me = ref<Me | null>(null)
const loaded = ref(false)
let csrf = ''

/** The logged-in caller, or null. */
export const current = readonly(me)
/** Whether the session has been asked for since the page loaded. */
export const sessionLoaded = readonly(loaded)

export function csrfToken(): string {
  return csrf
}

/** Whether the caller may use a root field, e.g. `Mutation.saveRule`. */
export function can(field: string, who: Caller | null = me.value): boolean {
  return who?.can.includes(field) ?? false
}

/** Whether the caller may use at least one of fields. */
export function canAny(fields: readonly string[], who: Caller | null = me.value): boolean {
  return fields.some((f) => can(f, who))
}

/** Whether the caller may subscribe at all (else no websocket is opened). */
export function maySubscribe(who: Caller | null = me.value): boolean {
  return who?.can.some((f) => f.startsWith('Subscription.')) ?? false
}

export function readToken(): string | null {
  try {
    const t = globalThis.localStorage?.getItem(TOKEN_KEY)
    return t ? t.trim() || null : null
  } catch {
    return null
  }
}

/** Headers of an authenticated GraphQL request over HTTP. */
export function authHeaders(): Record<string, string> {
  const tok = readToken()
  if (tok) return { Authorization: `Bearer ${tok}` }
  return csrf ? { 'X-CSRF-Token': csrf } : {}
}

const ME_QUERY = 'query Me { me { name role scopes via queues personalData can timeZone } }'

async function fetchMe(): Promise<Me | null> {
  const res = await fetch('/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...authHeaders() },
    body: JSON.stringify({ query: ME_QUERY }),
  })
  if (!res.ok) return null
  const body = (await res.json()) as { data?: { me?: Me } }
  return body.data?.me ?? null
}

const listeners: Array<(m: Me | null) => void> = []

/** Calls f whenever the caller changes (login, logout, session ended). */
export function onSessionChange(f: (m: Me | null) => void): void {
  listeners.push(f)
}

function set(m: Me | null) {
  me.value = m
  loaded.value = true
  for (const f of listeners) f(m)
}

/** Asks the server who the cookie (or stored token) belongs to. */
export async function loadSession(): Promise<Me | null> {
  try {
    if (!readToken()) {
      const res = await fetch('/auth/session', { headers: { Accept: 'application/json' } })
      if (res.status !== 200) {
        csrf = ''
        set(null)
        return null
      }
      csrf = ((await res.json()) as { csrfToken?: string }).csrfToken ?? ''
    }
    const m = await fetchMe()
    set(m)
    return m
  } catch {
    set(null)
    return null
  }
}

export type LoginResult =
  | { ok: true; me: Me }
  | { ok: false; reason: 'wrong' | 'throttled' | 'network'; retryAfter?: number }

/** Logs in; the cookie is set by the answer. */
export async function login(name: string, password: string): Promise<LoginResult> {
  let res: Response
  try {
    res = await fetch('/auth/login', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name, password }),
    })
  } catch {
    return { ok: false, reason: 'network' }
  }
  if (res.status === 429) {
    return { ok: false, reason: 'throttled', retryAfter: Number(res.headers.get('Retry-After') ?? '0') || undefined }
  }
  if (!res.ok) return { ok: false, reason: res.status === 401 || res.status === 400 ? 'wrong' : 'network' }
  csrf = ((await res.json()) as { csrfToken?: string }).csrfToken ?? ''
  const m = await fetchMe()
  if (!m) return { ok: false, reason: 'network' }
  set(m)
  return { ok: true, me: m }
}

/** Ends the session (server side too) and forgets the caller. */
export async function logout(): Promise<void> {
  try {
    await fetch('/auth/logout', { method: 'POST', headers: { 'X-CSRF-Token': csrf } })
  } catch {
    /* the cookie is cleared by the next answer that sees it ended */
  }
  try {
    globalThis.localStorage?.removeItem(TOKEN_KEY)
  } catch {
    /* nothing stored */
  }
  csrf = ''
  set(null)
}

/** The caller chose another time zone (setMyTimeZone answered). */
export function timeZoneChanged(timeZone: string): void {
  if (me.value) set({ ...me.value, timeZone })
}

/** The server said the credentials no longer hold (401, websocket 4401). */
export function sessionEnded(): void {
  if (me.value === null) return
  csrf = ''
  set(null)
}
