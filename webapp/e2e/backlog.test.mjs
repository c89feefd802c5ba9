// Browser test against a RUNNING Tower server (the Go binary serving this SPA).
//
//   TOWER_URL=http://127.0.0.1:18080 \
//   TOWER_WEBHOOK_SOURCE=erp \
//   TOWER_WEBHOOK_SECRET=whsec_... \
//   npm run e2e
//
// It drives Debian's Chromium (/usr/bin/chromium, or CHROMIUM_PATH) through
// playwright-core; nothing is downloaded. The first test sends a real signed
// Standard Webhooks event and expects the open backlog on screen to grow by
// one over the GraphQL subscription, without a page reload. Shared helpers
// live in helpers.mjs.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import {
  RESULTS,
  TOWER_URL,
  backlogTotal,
  openBrowser,
  requireEnv,
  sendWebhook,
  text,
  waitConnected,
} from './helpers.mjs'

test('a signed webhook moves the live backlog and shows up on the order page', { timeout: 90_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_WEBHOOK_SECRET')
  await mkdir(RESULTS, { recursive: true })
  const { page, pageErrors } = await openBrowser()

  await page.goto(`${TOWER_URL}/`)
  const n = await backlogTotal(page)
  const paidBefore = Number(await text(page, 'stage-count-PAID'))
  await waitConnected(page)
  // The subscribe message follows the connection ack; give it a moment to land.
  await page.waitForTimeout(500)
  // A marker that a reload or a full navigation would wipe out.
  await page.evaluate(() => {
    window.__towerE2E = 'same-document'
  })

  const orderNo = `E2E${Date.now().toString(36).toUpperCase()}${randomBytes(3).toString('hex').toUpperCase()}`
  const res = await sendWebhook({
    id: `e2e-${randomUUID()}`,
    type: 'order.paid',
    occurredAt: new Date().toISOString(),
    system: 'channel',
    order: { channel: 'douyin', orderNo },
    data: { amount: '99.00', currency: 'CNY', warehouse: 'HZ-01' },
  })
  assert.equal(res.status, 200, `webhook answered ${res.status}: ${res.body}`)

  // The new open order must arrive as a push: no reload, no polling.
  try {
    await page.waitForFunction(
      (want) => document.querySelector('[data-testid="backlog-total"]')?.textContent?.trim() === String(want),
      n + 1,
      { timeout: 10_000 },
    )
  } catch {
    assert.fail(`backlog total did not become ${n + 1} within 10 s (shows ${await text(page, 'backlog-total')})`)
  }
  assert.equal(await page.evaluate(() => window.__towerE2E), 'same-document', 'the page was reloaded')
  assert.equal(Number(await text(page, 'stage-count-PAID')), paidBefore + 1, 'PAID tile did not grow by one')

  // The recent-orders table refreshes on pushes (throttled to once per 2 s).
  const row = page.locator(`[data-testid="recent-order-row"][data-order-no="${orderNo}"]`)
  await row.waitFor({ timeout: 10_000 })
  await page.screenshot({ path: path.join(RESULTS, 'backlog.png'), fullPage: true })

  // Row link -> order page (client-side navigation).
  await row.getByTestId('recent-order-link').click()
  await page.waitForURL(`**/orders/douyin/${orderNo}`)
  const stage = page.getByTestId('order-stage')
  await stage.waitFor({ timeout: 10_000 })
  assert.equal((await stage.textContent())?.trim(), '已支付')
  const paid = page.locator('[data-testid="timeline-entry"][data-type="order.paid"]')
  await paid.waitFor({ timeout: 10_000 })
  assert.match((await paid.textContent()) ?? '', /支付/)
  assert.equal(await text(page, 'order-amount'), '¥99.00')
  assert.equal(await text(page, 'order-warehouse'), 'HZ-01')
  const wms = page.locator('[data-testid="system-wms"] [data-testid="system-status"]')
  assert.equal((await wms.textContent())?.trim(), '未上报')
  await page.screenshot({ path: path.join(RESULTS, 'order.png'), fullPage: true })

  // The order page follows `orderUpdated`: a second event shows up live.
  await page.evaluate(() => {
    window.__towerE2E = 'order-page'
  })
  await page.waitForTimeout(300) // let the orderUpdated subscribe land
  const res2 = await sendWebhook({
    id: `e2e-${randomUUID()}`,
    type: 'wms.received',
    occurredAt: new Date().toISOString(), // ties with order.paid sort by lifecycle rank
    system: 'wms',
    order: { channel: 'douyin', orderNo },
    data: { warehouse: 'HZ-01' },
  })
  assert.equal(res2.status, 200, `webhook answered ${res2.status}: ${res2.body}`)
  const received = page.locator('[data-testid="timeline-entry"][data-type="wms.received"]')
  await received.waitFor({ timeout: 10_000 })
  assert.match((await received.textContent()) ?? '', /仓库接单/)
  await page.waitForFunction(() => document.querySelector('[data-testid="order-stage"]')?.textContent?.trim() === '已入仓', null, {
    timeout: 10_000,
  })
  assert.equal(await page.evaluate(() => window.__towerE2E), 'order-page', 'the page was reloaded')

  // A deep link loaded from the server (SPA fallback) shows the same order.
  await page.reload()
  await stage.waitFor({ timeout: 10_000 })
  assert.equal((await stage.textContent())?.trim(), '已入仓')
  assert.equal(await page.locator('[data-testid="timeline-entry"]').count(), 2)

  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})

test('the search box finds orders and says when there is none', { timeout: 60_000 }, async () => {
  requireEnv('TOWER_URL')
  const { page, pageErrors } = await openBrowser()
  await page.goto(`${TOWER_URL}/`)
  await backlogTotal(page)

  const missing = `NOPE${randomBytes(6).toString('hex').toUpperCase()}`
  await page.getByTestId('search-channel').click()
  await page.locator('.n-base-select-option', { hasText: '抖音' }).click()
  await page.getByTestId('search-order-no').locator('input').fill(missing)
  await page.getByTestId('search-submit').click()
  await page.waitForURL(`**/orders/douyin/${missing}`)
  const nf = page.getByTestId('order-not-found')
  await nf.waitFor({ timeout: 10_000 })
  assert.match((await nf.textContent()) ?? '', /未找到订单/)
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})

test('switching to English relabels the UI and is remembered', { timeout: 60_000 }, async () => {
  requireEnv('TOWER_URL')
  const { page, pageErrors } = await openBrowser()
  await page.goto(`${TOWER_URL}/`)
  const title = page.getByTestId('page-title')
  await title.waitFor()
  assert.equal((await title.textContent())?.trim(), '实时积压')
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN')

  await page.getByTestId('lang-en').click()
  await page.waitForFunction(() => document.querySelector('[data-testid="page-title"]')?.textContent?.trim() === 'Live backlog', null, {
    timeout: 5_000,
  })
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'en-US')
  assert.match((await page.getByTestId('stage-PAID').textContent()) ?? '', /Paid/)

  await page.reload()
  await title.waitFor()
  assert.equal((await title.textContent())?.trim(), 'Live backlog', 'language choice not persisted')

  await page.getByTestId('lang-zh').click()
  await page.waitForFunction(() => document.querySelector('[data-testid="page-title"]')?.textContent?.trim() === '实时积压', null, {
    timeout: 5_000,
  })
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})
