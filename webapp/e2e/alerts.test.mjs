// Browser tests of the alert and rule pages against a RUNNING Tower server
// with its default rules; same environment as backlog.test.mjs:
//
//   TOWER_URL=http://127.0.0.1:18080 \
//   TOWER_WEBHOOK_SOURCE=erp \
//   TOWER_WEBHOOK_SECRET=whsec_... \
//   npm run e2e
//
// The first test sends a signed order.paid whose receiver address is vague
// ("万达广场后面"): the default rule vague_address must raise a
// suspicious_address alert, which has to show up on the open /alerts page
// through the alertRaised subscription (no reload). Acknowledging it must
// turn the row to 已确认, and the order page must list the alert and the tag.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { RESULTS, TOWER_URL, openBrowser, requireEnv, sendWebhook, uniqueOrderNo, waitConnected } from './helpers.mjs'

const WAIT = 15_000

/** Waits for an attribute of the first element matching `sel` to equal `want`. */
async function waitAttr(page, sel, attr, want, what) {
  try {
    await page.waitForFunction(
      ([s, a, w]) => document.querySelector(s)?.getAttribute(a) === w,
      [sel, attr, want],
      { timeout: WAIT },
    )
  } catch {
    const got = await page.evaluate(([s, a]) => document.querySelector(s)?.getAttribute(a) ?? null, [sel, attr])
    assert.fail(`${what}: ${attr} did not become ${want} within ${WAIT / 1000} s (is ${got})`)
  }
}

test('a vague address raises a live alert that can be acknowledged', { timeout: 120_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_WEBHOOK_SECRET')
  await mkdir(RESULTS, { recursive: true })
  const { page, pageErrors } = await openBrowser()

  await page.goto(`${TOWER_URL}/alerts`)
  await page.waitForSelector('[data-testid="alerts-table"][data-loaded="true"]', { timeout: WAIT })
  await waitConnected(page, WAIT)
  await page.waitForSelector('[data-testid="alerts-live"]', { timeout: WAIT })
  // The subscribe messages follow the connection ack; give them a moment to land.
  await page.waitForTimeout(500)
  await page.evaluate(() => {
    window.__towerE2E = 'alerts-page'
  })

  const orderNo = uniqueOrderNo('E2EA')
  const res = await sendWebhook({
    id: `e2e-${randomUUID()}`,
    type: 'order.paid',
    occurredAt: new Date().toISOString(),
    system: 'channel',
    order: { channel: 'douyin', orderNo },
    data: {
      amount: '59.00',
      currency: 'CNY',
      warehouse: 'HZ-01',
      receiver: {
        name: '测试',
        phone: '13800001234',
        province: '浙江省',
        city: '杭州市',
        district: '西湖区',
        address: '万达广场后面',
      },
    },
  })
  assert.equal(res.status, 200, `webhook answered ${res.status}: ${res.body}`)

  // The alert must arrive as an alertRaised push: no reload, no polling.
  const rowSel = `[data-testid="alert-row"][data-order-no="${orderNo}"][data-kind="suspicious_address"]`
  const row = page.locator(rowSel)
  try {
    await row.waitFor({ timeout: WAIT })
  } catch {
    const rows = await page.locator('[data-testid="alert-row"]').count()
    assert.fail(`no suspicious_address alert for ${orderNo} within ${WAIT / 1000} s (${rows} rows on screen)`)
  }
  assert.equal(await page.evaluate(() => window.__towerE2E), 'alerts-page', 'the page was reloaded')
  assert.match((await row.textContent()) ?? '', /地址可疑/)
  assert.equal(await row.getAttribute('data-state'), 'FIRING')
  assert.match((await row.getByTestId('alert-state').textContent()) ?? '', /触发中/)
  assert.equal(await row.getAttribute('data-rule'), 'vague_address')
  await page.screenshot({ path: path.join(RESULTS, 'alerts.png'), fullPage: true })

  // 确认 → acknowledgeAlert; the row turns 已确认 in place.
  const ack = row.getByTestId('alert-ack')
  assert.match((await ack.textContent()) ?? '', /确认/)
  await ack.click()
  await waitAttr(page, rowSel, 'data-state', 'ACKNOWLEDGED', 'alert row')
  assert.match((await row.getByTestId('alert-state').textContent()) ?? '', /已确认/)
  assert.equal(await row.getByTestId('alert-ack').isDisabled(), true, '确认 still enabled after acknowledging')
  assert.equal(await page.evaluate(() => window.__towerE2E), 'alerts-page', 'the page was reloaded')

  // The order link leads to the order page, which lists the alert and the rule's tag.
  await row.getByTestId('alert-order-link').click()
  await page.waitForURL(`**/orders/douyin/${orderNo}`, { timeout: WAIT })
  const orderAlert = page.locator('[data-testid="order-alert"][data-kind="suspicious_address"]')
  await orderAlert.waitFor({ timeout: WAIT })
  assert.equal(await orderAlert.getAttribute('data-state'), 'ACKNOWLEDGED')
  assert.match((await orderAlert.textContent()) ?? '', /地址可疑/)
  await page.waitForFunction(
    () => [...document.querySelectorAll('[data-testid="order-tag"]')].some((e) => e.textContent?.includes('地址模糊')),
    null,
    { timeout: WAIT },
  )
  await page.screenshot({ path: path.join(RESULTS, 'order-alerts.png'), fullPage: true })

  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})

test('the rules page lists the default rules, reports compile errors and backtests', { timeout: 120_000 }, async () => {
  requireEnv('TOWER_URL')
  // vague_address reads the receiver's address: only a role that sees
  // personal data may backtest it (ops would be refused).
  const { page, pageErrors } = await openBrowser('admin')
  await page.goto(`${TOWER_URL}/rules`)

  const row = page.locator('[data-testid="rule-row"][data-rule="vague_address"]')
  await row.waitFor({ timeout: WAIT })
  assert.equal(await row.getAttribute('data-enabled'), 'true')
  await row.getByTestId('rule-open').click()
  const drawer = page.getByTestId('rule-drawer')
  await drawer.waitFor({ timeout: WAIT })

  const editor = drawer.getByTestId('rule-expression')
  const original = await editor.inputValue()
  assert.match(original, /后面/)

  // A syntax error is not saved: it comes back with its position, shown in the drawer.
  await editor.fill(`${original}\n&& (`)
  await drawer.getByTestId('rule-save').click()
  const err = drawer.getByTestId('rule-compile-error')
  await err.waitFor({ timeout: WAIT })
  const line = Number(await err.getAttribute('data-line'))
  assert.ok(line >= 1, `compile error without a line (data-line=${line})`)
  await drawer.getByTestId('expression-error-mark').waitFor({ timeout: WAIT })

  // Back to the stored text; backtest it over the last 24 h.
  await drawer.getByTestId('rule-reset').click()
  assert.equal(await editor.inputValue(), original)
  await drawer.getByTestId('rule-backtest').click()
  const result = drawer.getByTestId('backtest-result')
  await result.waitFor({ timeout: 60_000 })
  assert.match((await drawer.getByTestId('backtest-eventsScanned').textContent()) ?? '', /^[\d,]+$/)
  await page.screenshot({ path: path.join(RESULTS, 'rules.png'), fullPage: true })

  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})
