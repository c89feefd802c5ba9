// Browser tests of the view toolkit against a running Tower server (see the
// header of e2e/backlog.test.mjs): the view filters narrow a figure and
// live in the URL, a tile opens the orders behind it, the CSV export
// downloads those orders, and a page whose server goes away says plainly
// that it is stale and recovers its figures when the server is back
// (TOWER_PROXY_URL is a proxy in front of the server that
// TOWER_PROXY_CONTROL cuts and restores: the websocket really drops).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { ACCOUNTS, TOWER_URL, openBrowser, requireEnv, sendWebhook, text, uniqueOrderNo, waitConnected } from './helpers.mjs'

async function waitCount(page, testid, want, timeout = 30_000) {
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

async function count(page, testid, timeout = 15_000) {
  const sel = `[data-testid="${testid}"]`
  await page.waitForFunction((s) => /^[\d,]+$/.test(document.querySelector(s)?.textContent?.trim() ?? ''), sel, { timeout })
  return Number((await text(page, testid)).replaceAll(',', ''))
}

/** Pays for an order of warehouse wh and has the WMS receive it. */
async function orderInWarehouse(wh, orderNo) {
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
      data: { warehouse: wh, amount: '42.00', receiver: { name: '李四', phone: '13912345678', province: '浙江省', city: '杭州市', address: '文一路 1 号' } },
    })
    assert.equal(res.status, 200, `webhook answered ${res.status}: ${res.body}`)
  }
}

test('the filters narrow a figure, stay in the URL, drill down to the orders and export them', { timeout: 120_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_WEBHOOK_SECRET')
  const whA = `WA-${randomUUID().slice(0, 8)}`
  const whB = `WB-${randomUUID().slice(0, 8)}`
  const a1 = uniqueOrderNo('VA')
  const a2 = uniqueOrderNo('VA')
  const b1 = uniqueOrderNo('VB')

  const { page, pageErrors } = await openBrowser('ops')
  await page.goto(`${TOWER_URL}/warehouse?warehouse=${encodeURIComponent(whA)}`)
  await waitCount(page, 'tile-to-ship-value', 0)
  await waitConnected(page)
  await page.waitForTimeout(500)
  await orderInWarehouse(whA, a1)
  await orderInWarehouse(whA, a2)
  await orderInWarehouse(whB, b1)
  // The filter narrows: two of the three orders are this warehouse's.
  await waitCount(page, 'tile-to-ship-value', 2)

  // Pick the other warehouse: typed (it is also among the options).
  await page.getByTestId('filter-warehouse').click()
  await page.keyboard.type(whB)
  await page.keyboard.press('Enter')
  await page.waitForFunction((w) => new URLSearchParams(location.search).get('warehouse') === w, whB, { timeout: 10_000 })
  await waitCount(page, 'tile-to-ship-value', 1)

  // The URL is the view: opened again, it shows the same.
  await page.reload()
  await waitCount(page, 'tile-to-ship-value', 1)

  // All warehouses count at least the three.
  await page.goto(`${TOWER_URL}/warehouse`)
  const everywhere = await count(page, 'tile-to-ship-value')
  assert.ok(everywhere >= 3, `all warehouses: ${everywhere} to ship`)
  await page.goBack()
  await waitCount(page, 'tile-to-ship-value', 1)

  // Drill down: the tile's orders, each a link to its page.
  await page.getByTestId('tile-to-ship').click()
  await page.locator('[data-testid="drill-table"] [data-testid="drill-order-link"]', { hasText: b1 }).waitFor({ timeout: 10_000 })
  assert.equal(await page.locator('[data-testid="drill-table"] [data-testid="drill-order-link"]').count(), 1)

  // Export the same orders: a CSV with a zh-CN header, masked for ops.
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), page.getByTestId('drill-export').click()])
  const csv = (await readFile(await download.path(), 'utf8')).replace(/^\ufeff/, '')
  const lines = csv.trim().split(/\r?\n/)
  assert.match(lines[0], /^渠道,订单号,阶段/)
  assert.match(lines[0], /\(Asia\/Shanghai\)/)
  assert.equal(lines.length, 2, `one order: ${csv}`)
  assert.ok(lines[1].includes(b1), lines[1])
  assert.ok(lines[1].includes('139****5678') && !lines[1].includes('13912345678'), `phone masked: ${lines[1]}`)
  assert.match(download.suggestedFilename(), /^orders-backlog-\d{8}-\d{6}\.csv$/)

  // The order page is one click away.
  await page.locator('[data-testid="drill-order-link"]', { hasText: b1 }).click()
  await page.waitForURL(new RegExp(`/orders/tmall/${b1}$`), { timeout: 10_000 })
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})

test('the CEO view compares with last week and lists the top causes, in the filters’ window', { timeout: 90_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_WEBHOOK_SECRET')
  const { page, pageErrors } = await openBrowser('ceo')
  await page.goto(`${TOWER_URL}/ceo?range=7d`)
  await page.getByTestId('week-over-week').waitFor({ timeout: 15_000 })
  assert.equal(await page.locator('[data-testid="week-over-week"] tbody tr').count(), 6)
  await page.getByTestId('top-causes').waitFor({ timeout: 15_000 })
  assert.equal(await page.locator('[data-testid="filter-range-7d"].n-radio-button--checked').count(), 1, 'the range from the URL is selected')
  await page.getByTestId('filter-range-yesterday').click()
  await page.waitForFunction(() => new URLSearchParams(location.search).get('range') === 'yesterday', null, { timeout: 10_000 })
  assert.match((await text(page, 'time-zone')) ?? '', /Asia\/Shanghai/)

  // The person's own zone, chosen in the header, applies at once and is kept.
  const chooseZone = async (label) => {
    await page.getByTestId('tz-menu').click()
    await page.locator('.n-base-select-option', { hasText: label }).first().click()
  }
  await chooseZone('Europe/Berlin')
  await page.waitForFunction(() => /Europe\/Berlin/.test(document.querySelector('[data-testid="time-zone"]')?.textContent ?? ''), null, { timeout: 10_000 })
  await page.reload()
  await page.waitForFunction(() => /Europe\/Berlin/.test(document.querySelector('[data-testid="time-zone"]')?.textContent ?? ''), null, { timeout: 15_000 })
  await chooseZone('业务时区')
  await page.waitForFunction(() => /Asia\/Shanghai/.test(document.querySelector('[data-testid="time-zone"]')?.textContent ?? ''), null, { timeout: 10_000 })
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})

test('a page whose server goes away says it is stale, and its figures come back', { timeout: 120_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_WEBHOOK_SECRET', 'TOWER_PROXY_URL', 'TOWER_PROXY_CONTROL')
  const PROXY = process.env.TOWER_PROXY_URL.replace(/\/+$/, '')
  const CONTROL = process.env.TOWER_PROXY_CONTROL.replace(/\/+$/, '')
  const control = async (what) => {
    const res = await fetch(`${CONTROL}/${what}`, { method: 'POST' })
    assert.equal(res.status, 204, `proxy ${what}: ${res.status}`)
  }
  const { page, pageErrors } = await openBrowser(null)
  const acc = ACCOUNTS.ceo
  await page.goto(`${PROXY}/login`)
  await page.getByTestId('login-name').fill(acc.name)
  await page.getByTestId('login-password').fill(acc.password)
  await page.getByTestId('login-submit').click()
  await page.waitForSelector('[data-testid="user-role"][data-role="ceo"]', { timeout: 15_000 })
  await page.goto(`${PROXY}/ceo`)
  await waitConnected(page)
  const inflow = await count(page, 'tile-inflow-value')
  assert.equal(await page.getByTestId('stale-notice').count(), 0, 'no stale notice while connected')

  await control('pause')
  try {
    await page.getByTestId('stale-notice').waitFor({ timeout: 15_000 })
    assert.match((await text(page, 'stale-notice')) ?? '', /实时连接已断开/)
    assert.notEqual(await page.getAttribute('[data-testid="connection-state"]', 'data-state'), 'connected')
    // An order paid while the page cannot hear of it (the server itself is up).
    const res = await sendWebhook({
      id: `e2e-${randomUUID()}`,
      type: 'order.paid',
      occurredAt: new Date().toISOString(),
      system: 'channel',
      order: { channel: 'douyin', orderNo: uniqueOrderNo('STALE') },
      data: { amount: '9.90', warehouse: 'HZ-01' },
    })
    assert.equal(res.status, 200, `webhook answered ${res.status}: ${res.body}`)
    await page.waitForTimeout(1500)
    assert.equal(await count(page, 'tile-inflow-value'), inflow, 'nothing reaches a page that is cut off')
  } finally {
    await control('resume')
  }
  // Back: reconnected, resubscribed, the notice gone, the missed order counted.
  await waitConnected(page, 30_000)
  await page.getByTestId('stale-notice').waitFor({ state: 'detached', timeout: 15_000 })
  await waitCount(page, "tile-inflow-value", inflow + 1, 40_000)
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})
