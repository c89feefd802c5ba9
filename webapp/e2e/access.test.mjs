// Browser tests of logging in and of what each role sees, against a
// RUNNING Tower server; same environment as backlog.test.mjs, plus
// TOWER_ACCOUNTS (one account per role, made by internal/app's TestBrowser).
// The SPA only hides what the server refuses anyway: these tests check
// that the pages and actions a role may not use are not offered, and that
// opening one by its address is refused.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { ACCOUNTS, RESULTS, TOWER_URL, openBrowser, requireEnv, sendWebhook, text, uniqueOrderNo } from './helpers.mjs'

const WAIT = 15_000

/** The header's page links, as their data-testid suffixes. */
async function navPages(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('nav [data-testid^="nav-"]')].map((a) => a.getAttribute('data-testid').slice(4)),
  )
}

test('anonymous visitors get the login page, and a wrong password an error', { timeout: 60_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_ACCOUNTS')
  const { page } = await openBrowser(null)
  await page.goto(`${TOWER_URL}/rules`)
  await page.waitForURL('**/login?next=/rules', { timeout: WAIT })
  await page.getByTestId('login-name').fill(ACCOUNTS.ops.name)
  await page.getByTestId('login-password').fill('not the password')
  await page.getByTestId('login-submit').click()
  await page.waitForSelector('[data-testid="login-error"]', { timeout: WAIT })
  assert.equal(await text(page, 'login-error'), '账号或密码错误')
  // The right one goes on to the page asked for.
  await page.getByTestId('login-password').fill(ACCOUNTS.ops.password)
  await page.getByTestId('login-submit').click()
  await page.waitForURL('**/rules', { timeout: WAIT })
  await page.waitForSelector('[data-testid="user-role"][data-role="ops"]', { timeout: WAIT })
})

test('a warehouse lead sees the backlog, the boards, orders and alerts, and is refused the rules', { timeout: 60_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_ACCOUNTS')
  await mkdir(RESULTS, { recursive: true })
  const { page, pageErrors } = await openBrowser('warehouse')
  assert.equal(await text(page, 'user-name'), ACCOUNTS.warehouse.name)
  assert.equal(await text(page, 'user-role'), '仓库主管')
  assert.deepEqual(await navPages(page), ['backlog', 'ceo', 'warehouse', 'orders', 'alerts'])
  // The warehouse board is the lead's start page; the backlog is one click away.
  await page.waitForURL('**/warehouse', { timeout: WAIT })
  await page.getByTestId('nav-backlog').click()
  await page.waitForSelector('[data-testid="backlog-total"]', { timeout: WAIT })
  await page.screenshot({ path: path.join(RESULTS, 'warehouse.png'), fullPage: true })

  // Alerts: acknowledging is offered (warehouse may), silencing is not.
  await page.goto(`${TOWER_URL}/alerts`)
  await page.waitForSelector('[data-testid="alerts-table"][data-loaded="true"]', { timeout: WAIT })
  assert.equal(await page.locator('[data-testid="alert-silence"]').count(), 0, 'silence offered to a warehouse lead')

  await page.goto(`${TOWER_URL}/rules`)
  await page.waitForSelector('[data-testid="page-forbidden"]', { timeout: WAIT })
  await page.goto(`${TOWER_URL}/access`)
  await page.waitForSelector('[data-testid="page-forbidden"]', { timeout: WAIT })

  await page.getByTestId('logout').click()
  await page.waitForSelector('[data-testid="login-page"]', { timeout: WAIT })
  await page.goto(`${TOWER_URL}/`)
  await page.waitForSelector('[data-testid="login-page"]', { timeout: WAIT })
  assert.deepEqual(pageErrors, [])
})

test('an IT engineer starts on system health, reads the audit log and is refused the orders', { timeout: 60_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_ACCOUNTS')
  const { page, pageErrors } = await openBrowser('it')
  await page.waitForURL('**/system', { timeout: WAIT })
  assert.deepEqual(await navPages(page), ['system', 'access'])
  await page.waitForSelector('[data-testid="health-check"][data-ok="true"]', { timeout: WAIT })
  await page.waitForSelector('[data-testid="connector"]', { timeout: WAIT })
  await page.getByTestId('nav-access').click()
  await page.waitForSelector('[data-testid="audit-table"] [data-testid="audit-action"]', { timeout: WAIT })
  // No websocket for a role that may subscribe to nothing.
  assert.equal(await page.locator('[data-testid="connection-state"]').count(), 0)
  await page.goto(`${TOWER_URL}/orders/douyin/123`)
  await page.waitForSelector('[data-testid="page-forbidden"]', { timeout: WAIT })
  assert.deepEqual(pageErrors, [])
})

test('customer service sees one order\'s receiver, operations sees it masked', { timeout: 60_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_ACCOUNTS', 'TOWER_WEBHOOK_SECRET')
  const orderNo = uniqueOrderNo('E2EP')
  const res = await sendWebhook({
    id: `e2e-${randomUUID()}`,
    type: 'order.paid',
    occurredAt: new Date().toISOString(),
    system: 'channel',
    order: { channel: 'douyin', orderNo },
    data: { amount: '19.90', warehouse: 'HZ-01', receiver: { name: '王小明', phone: '13912345678', province: '浙江省', city: '杭州市', address: '文一路 8 号' } },
  })
  assert.equal(res.status, 200, res.body)
  const seen = {}
  for (const role of ['cs', 'ops']) {
    const { page } = await openBrowser(role)
    await page.goto(`${TOWER_URL}/orders/douyin/${orderNo}`)
    await page.waitForSelector('[data-testid="order-stage"]', { timeout: WAIT })
    seen[role] = await page.evaluate(() => document.querySelector('[data-testid="page-order"]')?.textContent ?? document.body.textContent)
  }
  assert.ok(seen.cs.includes('13912345678') && seen.cs.includes('王小明'), 'cs does not see the receiver')
  assert.ok(!seen.ops.includes('13912345678') && seen.ops.includes('139****5678'), 'ops sees the phone unmasked')
})

test('an admin manages accounts and makes a token shown once', { timeout: 60_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_ACCOUNTS')
  const { page, pageErrors } = await openBrowser('admin')
  assert.deepEqual(await navPages(page), ['backlog', 'ceo', 'ops', 'warehouse', 'cs', 'orders', 'alerts', 'rules', 'system', 'access'])
  await page.goto(`${TOWER_URL}/access`)
  await page.waitForSelector('[data-testid="user-row-name"]', { timeout: WAIT })
  const names = await page.evaluate(() => [...document.querySelectorAll('[data-testid="user-row-name"]')].map((e) => e.textContent))
  assert.ok(names.includes(ACCOUNTS.cs.name), `accounts listed: ${names}`)
  await page.getByText('API 令牌').click()
  const name = `e2e-${randomUUID().slice(0, 8)}`
  await page.getByTestId('new-token-name').fill(name)
  await page.getByTestId('new-token-submit').click()
  await page.waitForSelector('[data-testid="new-token"]', { timeout: WAIT })
  const token = (await text(page, 'new-token')) ?? ''
  assert.match(token, /^tower_pat_[A-Za-z0-9_-]{43}$/)
  await page.screenshot({ path: path.join(RESULTS, 'access-token.png') })
  await page.getByTestId('new-token-done').click()
  await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid="token-row-name"]')].some((e) => e.textContent === n), name, { timeout: WAIT })
  const listed = await page.evaluate(() => document.querySelector('[data-testid="tokens-table"]')?.textContent ?? '')
  assert.ok(!listed.includes(token.slice(14)), 'the token is listed after it was shown')
  assert.deepEqual(pageErrors, [])
})
