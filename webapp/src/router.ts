import { createRouter, createWebHistory, type RouteRecordRaw } from 'vue-router'
import BacklogView from './views/BacklogView.vue'
import OrderView from './views/OrderView.vue'
import OrderSearchView from './views/OrderSearchView.vue'
import NotFoundView from './views/NotFoundView.vue'
import AlertsView from './views/AlertsView.vue'
import RulesView from './views/RulesView.vue'
import CeoView from './views/ceo/CeoView.vue'
import WarehouseView from './views/warehouse/WarehouseView.vue'

declare module 'vue-router' {
  interface RouteMeta {
    /** i18n key of the page title. */
    titleKey?: string
  }
}

export const routes: RouteRecordRaw[] = [
  { path: '/', name: 'backlog', component: BacklogView, meta: { titleKey: 'backlog.title' } },
  { path: '/orders', name: 'orders', component: OrderSearchView, meta: { titleKey: 'nav.orders' } },
  {
    path: '/orders/:channel/:orderNo',
    name: 'order',
    component: OrderView,
    meta: { titleKey: 'order.title' },
  },
  { path: '/alerts', name: 'alerts', component: AlertsView, meta: { titleKey: 'alerts.title' } },
  { path: '/rules', name: 'rules', component: RulesView, meta: { titleKey: 'rules.title' } },
  { path: '/ceo', name: 'ceo', component: CeoView, meta: { titleKey: 'ceo.title' } },
  { path: '/warehouse', name: 'warehouse', component: WarehouseView, meta: { titleKey: 'warehouse.title' } },
  { path: '/:pathMatch(.*)*', name: 'not-found', component: NotFoundView, meta: { titleKey: 'notFound.title' } },
]

export const router = createRouter({
  history: createWebHistory(),
  routes,
})

/** Route location of an order page. */
export function orderRoute(channel: string, orderNo: string) {
  return { name: 'order', params: { channel, orderNo } } as const
}
