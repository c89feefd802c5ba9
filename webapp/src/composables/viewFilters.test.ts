import { describe, expect, it } from 'vitest'
import { createApp, effectScope, nextTick } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import { useViewFilters, withFilters } from './viewFilters'
import { setDisplayZone } from '../lib/format'

async function setup(url: string) {
  const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/ceo', component: { render: () => null } }] })
  const app = createApp({ render: () => null })
  app.use(router)
  await router.push(url)
  const scope = effectScope()
  const filters = app.runWithContext(() => scope.run(() => useViewFilters())!)
  return { router, filters, stop: () => scope.stop() }
}

describe('useViewFilters', () => {
  it('reads the filters from the URL and writes them back, keeping the page’s other keys', async () => {
    const { router, filters, stop } = await setup('/ceo?range=yesterday&warehouse=HZ-01&wall=1')
    expect(filters.state.value.range).toBe('yesterday')
    expect(filters.scope.value).toEqual({ channel: null, shop: null, warehouse: 'HZ-01' })
    expect(filters.window.value.live).toBe(false)
    filters.update({ channel: 'douyin', range: 'today' })
    await new Promise((r) => setTimeout(r, 0))
    await nextTick()
    expect(router.currentRoute.value.query).toEqual({ wall: '1', channel: 'douyin', warehouse: 'HZ-01' })
    expect(filters.figureVars.value.channel).toBe('douyin')
    expect(filters.figureVars.value.to).toBeNull()
    expect(filters.exportHref({ set: 'OPEN_DIVERGENCE' })).toBe('/api/export/orders.csv?set=OPEN_DIVERGENCE&channel=douyin&warehouse=HZ-01')
    stop()
  })
  it('counts days in the user’s zone', async () => {
    setDisplayZone('Europe/Berlin')
    const { filters, stop } = await setup('/ceo')
    const from = new Date(filters.window.value.from)
    const hour = new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Berlin', hour: '2-digit', hourCycle: 'h23' }).format(from)
    expect(hour).toBe('00')
    expect(filters.timeZone.value).toBe('Europe/Berlin')
    stop()
    setDisplayZone(null)
  })
  it('leaves keys it does not own alone', () => {
    expect(withFilters({ wall: '1', range: 'custom', from: 'x' }, { range: '7d', from: null, to: null, channel: null, shop: null, warehouse: null })).toEqual({
      wall: '1',
      range: '7d',
    })
  })
})
