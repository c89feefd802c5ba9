import { createRouter, createWebHistory, type RouteLocationRaw, type RouteRecordRaw } from 'vue-router'
import BacklogView from './views/BacklogView.vue'
import OrderView from './views/OrderView.vue'
import OrderSearchView from './views/OrderSearchView.vue'
import NotFoundView from './views/NotFoundView.vue'
import AlertsView from './views/AlertsView.vue'
import RulesView from './views/RulesView.vue'
import CeoView from './views/ceo/CeoView.vue'
import WarehouseView from './views/warehouse/WarehouseView.vue'
import LoginView from './views/LoginView.vue'
import ForbiddenView from './views/ForbiddenView.vue'
import AccessView from './views/AccessView.vue'
import SystemView from './views/SystemView.vue'
import OpsView from './views/ops/OpsView.vue'
import CsView from './views/cs/CsView.vue'
import { canAny, current, loadSession, onSessionChange, sessionLoaded, type Caller } from './auth/session'

declare module 'vue-router' {
  interface RouteMeta {
    /** i18n key of the page title. */
    titleKey?: string
    /** Open without logging in. */
    public?: boolean
    /** Root fields the page is built on: the caller must may use one of them. */
    needs?: readonly string[]
    /** A work queue the page is built on: the caller must read it. */
    queue?: string
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'backlog', component: BacklogView, meta: { titleKey: 'backlog.title', needs: ['Query.backlog'] } },
  { path: '/orders', name: 'orders', component: OrderSearchView, meta: { titleKey: 'nav.orders', needs: ['Query.order'] } },
  {
    path: '/orders/:channel/:orderNo',
    name: 'order',
    component: OrderView,
    meta: { titleKey: 'order.title', needs: ['Query.order'] },
  },
  { path: '/alerts', name: 'alerts', component: AlertsView, meta: { titleKey: 'alerts.title', needs: ['Query.alerts'] } },
  { path: '/rules', name: 'rules', component: RulesView, meta: { titleKey: 'rules.title', needs: ['Query.rules'] } },
  { path: '/ceo', name: 'ceo', component: CeoView, meta: { titleKey: 'ceo.title', needs: ['Query.figures'] } },
  { path: '/ops', name: 'ops', component: OpsView, meta: { titleKey: 'ops.title', needs: ['Query.topRules'] } },
  { path: '/cs', name: 'cs', component: CsView, meta: { titleKey: 'cs.title', needs: ['Query.orderLookup'], queue: 'customer_service' } },
  { path: '/warehouse', name: 'warehouse', component: WarehouseView, meta: { titleKey: 'warehouse.title', needs: ['Query.figures'] } },
  { path: '/system', name: 'system', component: SystemView, meta: { titleKey: 'sysHealth.title', needs: ['Query.systemHealth'] } },
  {
    path: '/access',
    name: 'access',
    component: AccessView,
    meta: { titleKey: 'access.title', needs: ['Query.users', 'Query.apiTokens', 'Query.auditLog'] },
  },
  { path: '/login', name: 'login', component: LoginView, meta: { titleKey: 'auth.loginTitle', public: true } },
  { path: '/forbidden', name: 'forbidden', component: ForbiddenView, meta: { titleKey: 'auth.forbiddenTitle' } },
  { path: '/:pathMatch(.*)*', name: 'not-found', component: NotFoundView, meta: { titleKey: 'notFound.title' } },
]

/** The pages of the header, in order. */
export const NAV = ['backlog', 'ceo', 'ops', 'warehouse', 'cs', 'orders', 'alerts', 'rules', 'system', 'access'] as const

/** The page each role starts on (admin: the backlog). */
export const ROLE_HOME: Readonly<Record<string, (typeof NAV)[number]>> = {
  ceo: 'ceo',
  ops: 'ops',
  warehouse: 'warehouse',
  cs: 'cs',
  it: 'system',
  admin: 'backlog',
}

/** What mayOpen reads of a caller: its fields, and its role and queues when known. */
type Visitor = Caller & { readonly role?: string; readonly queues?: readonly string[] }

function metaOf(name: string) {
  return routes.find((r) => r.name === name)?.meta
}

/** Whether who may open the page called name. */
export function mayOpen(name: string, who: Visitor | null = current.value): boolean {
  const meta = metaOf(name)
  const needs = meta?.needs ?? []
  if (needs.length > 0 && !canAny(needs, who)) return false
  return !meta?.queue || (who?.queues?.includes(meta.queue) ?? false)
}

/** The start page of who's role, else the first header page who may open. */
export function homeFor(who: Visitor | null): RouteLocationRaw {
  const own = who?.role ? ROLE_HOME[who.role] : undefined
  const name = own && mayOpen(own, who) ? own : NAV.find((n) => mayOpen(n, who))
  if (name === 'backlog') return '/'
  return name ? { name } : { name: 'forbidden' }
}

export const router = createRouter({
  history: createWebHistory(),
  routes,
})

router.beforeEach(async (to) => {
  if (!sessionLoaded.value) await loadSession()
  const me = current.value
  if (to.meta.public) return to.name === 'login' && me ? homeFor(me) : true
  if (!me) return { name: 'login', query: to.fullPath === '/' ? {} : { next: to.fullPath } }
  if (to.name && !mayOpen(String(to.name), me)) {
    // The start page follows the role; any other page says no.
    if (to.name === 'backlog') return homeFor(me)
    return { name: 'forbidden', query: { from: to.fullPath } }
  }
  return true
})

// A session that ends (logout, expiry, an admin disabling the account)
// leaves for the login page.
onSessionChange((me) => {
  const r = router.currentRoute.value
  if (!me && !r.meta.public) void router.push({ name: 'login', query: r.fullPath === '/' ? {} : { next: r.fullPath } })
})

/** Route location of an order page. */
export function orderRoute(channel: string, orderNo: string) {
  return { name: 'order', params: { channel, orderNo } } as const
}
