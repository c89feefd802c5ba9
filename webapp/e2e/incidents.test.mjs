// Browser test of incidents against a RUNNING Tower server; same
// environment as backlog.test.mjs. An ops account saves a rule raising a
// not_collected alert on each outbound of one (unique) courier, so the
// alerts come at once instead of after the default ten minutes; several
// signed webhooks then put orders of two shops out of warehouse HZ-01 with
// that courier. The warehouse lead's page (limited to HZ-01) must show one
// incident, live, with its blast radius (orders, shops, money at stake),
// and acknowledge it.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { RESULTS, TOWER_URL, openBrowser, requireEnv, sendWebhook, uniqueOrderNo, waitConnected } from './helpers.mjs'

const WAIT = 30_000

/** Runs a GraphQL operation as the page's logged-in account (cookie + CSRF token). */
async function gql(page, query, variables) {
  return page.evaluate(
    async ([q, v]) => {
      const s = await (await fetch('/auth/session')).json()
      const res = await fetch('/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': s.csrfToken },
        body: JSON.stringify({ query: q, variables: v }),
      })
      return res.json()
    },
    [query, variables],
  )
}

test('member alerts sharing a cause show as one incident with its blast radius', { timeout: 150_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_WEBHOOK_SECRET')
  await mkdir(RESULTS, { recursive: true })
  const courier = `E2E${randomBytes(3).toString('hex').toUpperCase()}`
  const rule = `e2e_incident_${courier.toLowerCase()}`

  const ops = await openBrowser('ops')
  await ops.page.goto(`${TOWER_URL}/alerts`)
  const saved = await gql(
    ops.page,
    `mutation($i: RuleInput!) { saveRule(input: $i) { name } }`,
    {
      i: {
        name: rule, description: 'e2e: courier not collecting', expression: `order.courier == "${courier}"`,
        on: ['wms.outbound'], alert: true, kind: 'not_collected', severity: 'critical', enabled: true,
      },
    },
  )
  assert.equal(saved.errors, undefined, JSON.stringify(saved.errors))

  try {
    const { page, pageErrors } = await openBrowser('warehouse')
    await page.goto(`${TOWER_URL}/warehouse`)
    await page.waitForSelector('[data-testid="incidents-panel"][data-loaded="true"]', { timeout: WAIT })
    await waitConnected(page, WAIT)
    await page.waitForTimeout(500) // the subscribe message follows the connection ack

    const orders = 6
    const amounts = ['120.00', '80.50', '99.90', '10.00', '250.00', '39.60']
    for (let i = 0; i < orders; i++) {
      const orderNo = uniqueOrderNo('E2EI')
      const order = { channel: i % 2 ? 'douyin' : 'tmall', orderNo }
      const at = new Date().toISOString()
      for (const ev of [
        { type: 'order.paid', system: 'channel', data: { amount: amounts[i], currency: 'CNY', shop: i % 2 ? '抖音旗舰店' : '天猫旗舰店' } },
        { type: 'wms.outbound', system: 'wms', data: { warehouse: 'HZ-01', courier, trackingNo: `T${orderNo}` } },
      ]) {
        const res = await sendWebhook({ id: `e2e-${randomUUID()}`, occurredAt: at, order, ...ev })
        assert.ok(res.status >= 200 && res.status < 300, `webhook ${ev.type}: ${res.status} ${res.body}`)
      }
    }
    const sel = `[data-testid="incident-row"][data-key="HZ-01/${courier}"]`
    try {
      await page.waitForFunction(
        ([s, n]) => document.querySelector(`${s} [data-testid="incident-orders"]`)?.textContent?.trim() === String(n),
        [sel, orders],
        { timeout: WAIT },
      )
    } catch {
      await page.screenshot({ path: path.join(RESULTS, 'incidents-missing.png'), fullPage: true })
      const shown = await page.evaluate(() => document.querySelector('[data-testid="incidents-panel"]')?.textContent ?? null)
      const server = await gql(page, `{ incidents(first: 5) { edges { node { key memberCount blastRadius { orders } } } } }`, {})
      assert.fail(
        `no incident for HZ-01/${courier} with ${orders} orders within ${WAIT / 1000} s; the panel shows: ${shown}; the server has ${JSON.stringify(server)}`,
      )
    }
    assert.equal(await page.locator(sel).count(), 1, 'one incident for the cause')
    const cell = (id) => page.locator(`${sel} [data-testid="${id}"]`).first()
    assert.equal((await cell('incident-members').textContent()).trim(), String(orders))
    assert.equal((await cell('incident-shops').textContent()).trim(), '2')
    assert.equal(await cell('incident-money').getAttribute('data-money'), '600.00')
    assert.match(await cell('incident-cause').textContent(), /快递停止揽收/)
    assert.equal(await page.locator(sel).getAttribute('data-state'), 'OPEN')

    await cell('incident-ack').click()
    await page.waitForSelector(`${sel}[data-state="ACKNOWLEDGED"]`, { timeout: WAIT })
    await page.screenshot({ path: path.join(RESULTS, 'incidents-warehouse.png'), fullPage: true })
    assert.deepEqual(pageErrors, [])
  } finally {
    await gql(ops.page, `mutation($n: String!) { deleteRule(name: $n) }`, { n: rule })
  }
})
