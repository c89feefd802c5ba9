// useViewFilters: the view filters of one page (time range, channel, shop,
// warehouse), kept in the URL query so a view can be shared, and the
// variables every query, subscription, drill-down and export of the view
// takes from them.
//
// Dropping the toolkit into a view (ops, cs, IT views too):
//
//   const filters = useViewFilters()
//   useSubscription({ query: FIGURES_CHANGED, variables: filters.figureVars })
//   <ViewFilters :filters="filters" />                     // range + pickers
//   <ExportButton :href="filters.exportHref({})" />        // CSV of the view's orders
//   <DrillDrawer v-model:spec="drill" :filters="filters" /> // orders behind a tile
//   <FigureTile ... clickable @drill="drill = { set: 'ABNORMAL', title: t('…') }" />
//
// figureVars ends a live window (today, last 7 days) at the present; pass
// `pickers` to ViewFilters to offer only some of channel, shop, warehouse.
import { computed, getCurrentScope, onScopeDispose, ref, type ComputedRef, type Ref } from 'vue'
import { useRoute, useRouter } from 'vue-router'
import { displayZone } from '../lib/format'
import {
  FILTER_KEYS,
  drillFilter,
  exportHref,
  figureVars,
  filterQuery,
  parseFilterQuery,
  rangeWindow,
  scopeVars,
  weekBefore,
  type DrillSpec,
  type FilterState,
  type OrderFilterVars,
  type Query,
  type ScopeVars,
  type Window,
} from '../lib/viewfilters'

export interface ViewFilters {
  state: ComputedRef<FilterState>
  window: ComputedRef<Window>
  /** The same stretch one week earlier (week over week). */
  lastWeek: ComputedRef<{ from: number; to: number }>
  scope: ComputedRef<ScopeVars>
  figureVars: ComputedRef<ScopeVars & { from: string; to: string | null }>
  timeZone: Readonly<Ref<string>>
  now: Readonly<Ref<number>>
  update(patch: Partial<FilterState>): void
  drillFilter(d: DrillSpec): OrderFilterVars
  exportHref(d: DrillSpec): string
}

/** Merges the filters' keys into a query, leaving the page's other keys. */
export function withFilters(query: Query, s: FilterState): Query {
  const out: Query = {}
  for (const [k, v] of Object.entries(query)) if (!(FILTER_KEYS as readonly string[]).includes(k)) out[k] = v
  return { ...out, ...filterQuery(s) }
}

export function useViewFilters(options: { tickMs?: number } = {}): ViewFilters {
  const route = useRoute()
  const router = useRouter()
  const now = ref(Date.now())
  // Live windows move on; a minute is fine for "today" and its hours.
  const tick = setInterval(() => (now.value = Date.now()), options.tickMs ?? 60_000)
  if (getCurrentScope()) onScopeDispose(() => clearInterval(tick))

  const state = computed(() => parseFilterQuery(route.query as Query))
  const window = computed(() => rangeWindow(state.value, now.value, displayZone.value))
  return {
    state,
    window,
    lastWeek: computed(() => weekBefore(window.value, now.value)),
    scope: computed(() => scopeVars(state.value)),
    figureVars: computed(() => figureVars(state.value, window.value)),
    timeZone: displayZone,
    now,
    update(patch) {
      void router.replace({ query: withFilters(route.query as Query, { ...state.value, ...patch }) as Record<string, string> })
    },
    drillFilter: (d) => drillFilter(state.value, window.value, d),
    exportHref: (d) => exportHref(drillFilter(state.value, window.value, d)),
  }
}
