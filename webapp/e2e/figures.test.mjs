// Browser tests of the figure views (CEO overview, warehouse board) against
// a running Tower server (see the header of e2e/backlog.test.mjs): each
// view's figures change, without a reload, when signed webhooks arrive.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { RESULTS, TOWER_URL, openBrowser, requireEnv, sendWebhook, text, uniqueOrderNo, waitConnected } from './helpers.mjs'

/** Waits until the element with testid shows a whole number, and returns it. */
async function count(page, testid, timeout = 15_000) {
  const sel = `[data-testid="${testid}"]`
  await page.waitForFunction((s) => /^[\d,]+$/.test(document.querySelector(s)?.textContent?.trim() ?? ''), sel, { timeout })
  return Number((await text(page, testid)).replaceAll(',', ''))
}

async function waitCount(page, testid, want, timeout = 15_000) {
  try {
    await page.waitForFunction(
      ([s, w]) => (document.querySelector(s)?.textContent?.trim() ?? '').replaceAll(',', '') === String(w),
      [`[data-testid="${testid}"]`, want],
      { timeout },
    )
  } catch {
    assert.fail(`${testid} did not become ${want} within ${timeout} ms (shows ${await text(page, testid)})`)
  }
}

test('the CEO overview shows the health index and counts a new paid order live', { timeout: 90_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_WEBHOOK_SECRET')
  await mkdir(RESULTS, { recursive: true })
  const { page, pageErrors } = await openBrowser()
  await page.goto(`${TOWER_URL}/ceo`)
  await page.waitForFunction(() => /^\d+\.\d$/.test(document.querySelector('[data-testid="health-index"]')?.textContent?.trim() ?? ''), null, {
    timeout: 15_000,
  })
  assert.equal(await page.locator('[data-testid^="component-"]').count(), 5, 'five components shown')
  assert.match((await text(page, 'time-zone')) ?? '', /Asia\/Shanghai/)
  const inflow = await count(page, 'tile-inflow-value')
  await waitConnected(page)
  await page.waitForTimeout(500)
  await page.evaluate(() => {
    window.__towerE2E = 'same-document'
  })

  const orderNo = uniqueOrderNo('CEO')
  const res = await sendWebhook({
    id: `e2e-${randomUUID()}`,
    type: 'order.paid',
    occurredAt: new Date().toISOString(),
    system: 'channel',
    order: { channel: 'douyin', orderNo },
    data: { amount: '99.00', currency: 'CNY', warehouse: 'HZ-01' },
  })
  assert.equal(res.status, 200, `webhook answered ${res.status}: ${res.body}`)
  await waitCount(page, 'tile-inflow-value', inflow + 1)
  assert.equal(await page.evaluate(() => window.__towerE2E), 'same-document', 'the page was reloaded')
  await page.screenshot({ path: path.join(RESULTS, 'ceo.png'), fullPage: true })
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})

test('the warehouse board counts an order to ship in its warehouse live', { timeout: 90_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_WEBHOOK_SECRET')
  const { page, pageErrors } = await openBrowser()
  const wh = `WH-${randomUUID().slice(0, 8)}`
  // The view filters live in the URL: a link opens the board of one warehouse.
  await page.goto(`${TOWER_URL}/warehouse?warehouse=${encodeURIComponent(wh)}`)
  await waitCount(page, 'tile-to-ship-value', 0)
  await waitConnected(page)
  await page.waitForTimeout(500)

  const orderNo = uniqueOrderNo('WH')
  const paid = new Date(Date.now() - 60_000).toISOString()
  for (const [type, system, at] of [
    ['order.paid', 'channel', paid],
    ['wms.received', 'wms', new Date().toISOString()],
  ]) {
    const res = await sendWebhook({
      id: `e2e-${randomUUID()}`,
      type,
      occurredAt: at,
      system,
      order: { channel: 'tmall', orderNo },
      data: { warehouse: wh },
    })
    assert.equal(res.status, 200, `webhook answered ${res.status}: ${res.body}`)
  }
  await waitCount(page, 'tile-to-ship-value', 1)
  await page.locator('[data-testid="backlog-table"] td', { hasText: '已入仓' }).waitFor({ timeout: 10_000 })
  await page.screenshot({ path: path.join(RESULTS, 'warehouse.png'), fullPage: true })
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})
