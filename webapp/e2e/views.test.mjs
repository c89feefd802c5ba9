// Browser tests of the operations, customer-service and IT views against a
// running Tower server (see the header of e2e/backlog.test.mjs): each role
// logs in through the login page, lands on its own view, and sees it move
// when signed webhooks arrive. Customer service works on a phone-sized
// screen (360×740) without horizontal scrolling.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomUUID } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { RESULTS, SECRET, SOURCE, TOWER_URL, openBrowser, requireEnv, sendWebhook, text, uniqueOrderNo, waitConnected } from './helpers.mjs'

const WAIT = 15_000
/** How long a webhook may take to show (a loaded 2-core box projects slowly). */
const LIVE = 45_000

async function count(page, testid, timeout = WAIT) {
  const sel = `[data-testid="${testid}"]`
  await page.waitForFunction((s) => /^[\d,]+$/.test(document.querySelector(s)?.textContent?.trim() ?? ''), sel, { timeout })
  return Number((await text(page, testid)).replaceAll(',', ''))
}

async function waitCount(page, testid, ok, what, timeout = WAIT) {
  const sel = `[data-testid="${testid}"]`
  const deadline = Date.now() + timeout
  for (;;) {
    const v = Number(((await text(page, testid)) ?? '').replaceAll(',', ''))
    if (ok(v)) return v
    if (Date.now() > deadline) assert.fail(`${testid} ${what} within ${timeout} ms (shows ${await text(page, testid)})`)
    await page.waitForTimeout(200)
  }
}

async function send(event) {
  const res = await sendWebhook({ id: `e2e-${randomUUID()}`, ...event })
  assert.equal(res.status, 200, `webhook answered ${res.status}: ${res.body}`)
}

const ago = (min) => new Date(Date.now() - min * 60_000).toISOString()

/** Whether the page scrolls sideways (wider than the viewport). */
const scrollsSideways = (page) => page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth)

test('operations lands on its view and sees a paid order counted live, with the projection explained', { timeout: 90_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_WEBHOOK_SECRET', 'TOWER_ACCOUNTS')
  await mkdir(RESULTS, { recursive: true })
  const { page, pageErrors } = await openBrowser('ops')
  await page.waitForURL('**/ops', { timeout: WAIT })
  const inflow = await count(page, 'tile-inflow-value')
  const paid = await count(page, 'funnel-paid-value')
  await page.waitForSelector('[data-testid="queue-sizes"] td', { timeout: WAIT })
  await waitConnected(page)
  await page.waitForTimeout(500)

  await send({
    type: 'order.paid',
    occurredAt: new Date().toISOString(),
    system: 'channel',
    order: { channel: 'douyin', orderNo: uniqueOrderNo('OPS') },
    data: { amount: '59.00', currency: 'CNY', warehouse: 'HZ-01' },
  })
  await waitCount(page, 'tile-inflow-value', (v) => v === inflow + 1, `did not become ${inflow + 1}`, LIVE)
  await waitCount(page, 'funnel-paid-value', (v) => v === paid + 1, `did not become ${paid + 1}`, LIVE)
  assert.ok((await count(page, 'tile-to-pack-value')) >= 1)
  await page.getByTestId('projection-help-trigger').hover()
  await page.waitForSelector('[data-testid="projection-help"]', { timeout: WAIT })
  assert.match((await text(page, 'projection-help')) ?? '', /待打包 \d+ 单 \+ 付款 [\d.]+ 单\/时 × 1 小时 − 打包 [\d.]+ 单\/时 × 1 小时 = \d+ 单/)
  await page.screenshot({ path: path.join(RESULTS, 'ops.png'), fullPage: true })
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})

test('customer service finds an order by number, tracking number and phone tail on a phone, reads the answer and works the queue', { timeout: 120_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_WEBHOOK_SECRET', 'TOWER_ACCOUNTS')
  const { page, pageErrors } = await openBrowser('cs')
  await page.waitForURL('**/cs', { timeout: WAIT })
  await page.setViewportSize({ width: 360, height: 740 })
  await waitConnected(page)

  const a = uniqueOrderNo('CSA')
  const b = uniqueOrderNo('CSB')
  const tail = String(1000 + Math.floor(Math.random() * 9000))
  const track = `SF${a}`
  // a: paid with an urgent buyer message (the customer-service queue), out
  // of the warehouse 3 minutes ago, no courier yet. b: another channel,
  // the same phone tail.
  await send({
    type: 'order.paid',
    occurredAt: ago(20),
    system: 'channel',
    order: { channel: 'douyin', orderNo: a },
    data: { amount: '88.00', warehouse: 'HZ-01', buyerMessage: '请尽快发货', receiver: { name: '李小红', phone: `1380013${tail}`, province: '浙江省', city: '杭州市', address: '文二路 9 号' } },
  })
  await send({
    type: 'wms.outbound',
    occurredAt: ago(3),
    system: 'wms',
    order: { channel: 'douyin', orderNo: a },
    data: { warehouse: 'HZ-01', courier: 'SF', trackingNo: track },
  })
  await send({
    type: 'order.paid',
    occurredAt: ago(5),
    system: 'channel',
    order: { channel: 'tmall', orderNo: b },
    data: { amount: '12.00', warehouse: 'HZ-01', receiver: { name: '王五', phone: `1390013${tail}` } },
  })

  const search = async (q) => {
    await page.getByTestId('cs-search').locator('input').fill(q)
    await page.getByTestId('cs-search-submit').click()
  }
  const answerOf = async (no) => {
    await page.waitForSelector(`[data-testid="cs-order"][data-order-no="${no}"]`, { timeout: WAIT })
    return text(page, 'cs-answer')
  }
  const notCollected = /^仓库显示已出库，但快递尚无揽收记录（已 \d+ 分钟）——尚未真正发出$/

  // By order number (the twin may still be on its way: ask again).
  for (let i = 0; ; i++) {
    await search(a)
    try {
      await page.waitForSelector(`[data-testid="cs-answer"][data-state="outbound_not_collected"]`, { timeout: 2000 })
      break
    } catch (e) {
      if (i > 20) {
        await page.screenshot({ path: path.join(RESULTS, 'cs-failed.png'), fullPage: true })
        console.log(`[cs page] ${await page.evaluate(() => document.querySelector('[data-testid="cs-view"]')?.textContent)}`)
        throw e
      }
    }
  }
  assert.match((await answerOf(a)) ?? '', notCollected)
  assert.equal(await page.getByTestId('cs-shipped').getAttribute('data-shipped'), 'false')
  assert.ok(!(await text(page, 'cs-receiver')).includes(`1380013${tail}`), 'the phone is shown unmasked')
  assert.ok((await page.locator('[data-testid="cs-timeline-entry"]').count()) >= 2, 'timeline entries')
  assert.equal(await scrollsSideways(page), false, 'the answer scrolls sideways at 360 px')

  // By tracking number.
  await search(track)
  assert.match((await answerOf(a)) ?? '', notCollected)

  // By phone tail: two channels match; pick one.
  await search(tail)
  await page.waitForSelector('[data-testid="cs-pick-channel"]', { timeout: WAIT })
  await page.getByTestId('cs-channel-douyin').click()
  assert.match((await answerOf(a)) ?? '', notCollected)

  // The courier collects it: the sentence changes by itself.
  await send({ type: 'courier.collected', occurredAt: new Date().toISOString(), system: 'courier', order: { channel: 'douyin', orderNo: a }, data: { trackingNo: track } })
  await page.waitForSelector('[data-testid="cs-answer"][data-state="shipped"]', { timeout: LIVE })
  assert.match((await text(page, 'cs-answer')) ?? '', new RegExp(`^已出库，快递已揽收（顺丰 ${track}，\\d\\d:\\d\\d）`))
  assert.equal(await page.getByTestId('cs-shipped').getAttribute('data-shipped'), 'true')

  // The queue: claim the item of a, then resolve it with a note.
  const item = page.locator(`[data-testid="cs-item"][data-order-no="${a}"]`)
  await item.waitFor({ timeout: LIVE })
  // The filter bar narrows the queue: another warehouse's queue lacks a,
  // its own has it.
  await page.goto(`${TOWER_URL}/cs?warehouse=GZ-03`)
  await page.waitForSelector('[data-testid="cs-queue"][data-loaded="true"]', { timeout: WAIT })
  assert.equal(await item.count(), 0, 'an HZ-01 order in the GZ-03 queue')
  await page.goto(`${TOWER_URL}/cs?warehouse=HZ-01`)
  await item.waitFor({ timeout: LIVE })
  assert.equal(await scrollsSideways(page), false, 'the queue scrolls sideways at 360 px')
  await page.screenshot({ path: path.join(RESULTS, 'cs-phone.png'), fullPage: true })
  await item.getByTestId('cs-item-claim').click()
  await page.waitForSelector(`[data-testid="cs-item"][data-order-no="${a}"][data-status="claimed"]`, { timeout: WAIT })
  await item.getByTestId('cs-item-note').locator('input').fill('已联系顺丰，包裹已揽收')
  await item.getByTestId('cs-item-resolve').click()
  await page.waitForSelector(`[data-testid="cs-item"][data-order-no="${a}"]`, { state: 'detached', timeout: WAIT })
  assert.equal(await scrollsSideways(page), false, 'the page scrolls sideways at 360 px')
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})

test('IT lands on system health, sees a connector\'s requests and signature failures move, changes the range and exports it', { timeout: 90_000 }, async () => {
  requireEnv('TOWER_URL', 'TOWER_WEBHOOK_SECRET', 'TOWER_ACCOUNTS')
  const { page, pageErrors } = await openBrowser('it')
  await page.waitForURL('**/system', { timeout: WAIT })
  const requests = await count(page, `connector-requests-${SOURCE}`)
  const sigfail = await count(page, `connector-sigfail-${SOURCE}`)

  await send({ type: 'order.paid', occurredAt: new Date().toISOString(), system: 'channel', order: { channel: 'tmall', orderNo: uniqueOrderNo('IT') }, data: {} })
  // One signed with the wrong key: refused, and counted.
  const body = JSON.stringify({ id: `e2e-${randomUUID()}`, type: 'order.paid', occurredAt: new Date().toISOString(), order: { channel: 'tmall', orderNo: uniqueOrderNo('ITX') } })
  const id = `msg_${randomUUID()}`
  const ts = Math.floor(Date.now() / 1000).toString()
  const wrong = createHmac('sha256', Buffer.from('not the key')).update(`${id}.${ts}.${body}`).digest('base64')
  const res = await fetch(`${TOWER_URL}/webhooks/${SOURCE}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': ts, 'webhook-signature': `v1,${wrong}` },
    body,
  })
  assert.equal(res.status, 401)
  assert.ok(SECRET)

  await waitCount(page, `connector-requests-${SOURCE}`, (v) => v >= requests + 2, `did not grow by 2 from ${requests}`, LIVE)
  await waitCount(page, `connector-sigfail-${SOURCE}`, (v) => v === sigfail + 1, `did not become ${sigfail + 1}`, LIVE)
  await page.waitForSelector('[data-testid="topics-table"] td', { timeout: WAIT })
  await page.screenshot({ path: path.join(RESULTS, 'system.png'), fullPage: true })

  // The export writes the range's figures, this connector's among them.
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), page.getByTestId('export-system').click()])
  const csv = (await readFile(await download.path(), 'utf8')).replace(/^\ufeff/, '')
  const rows = csv.trim().split(/\r?\n/).map((l) => l.split(','))
  assert.equal(rows[0][0], '类别', `header ${rows[0]}`)
  const row = rows.find((r) => r[1] === SOURCE)
  assert.ok(row && Number(row[6]) >= requests + 2, `no ${SOURCE} row with ${requests + 2}+ requests: ${csv}`)
  assert.match(download.suggestedFilename(), /^system-\d{8}-\d{6}\.csv$/)

  // Yesterday the server was not running: nothing to show.
  await page.getByTestId('filter-range-yesterday').click()
  await page.waitForURL('**/system?*range=yesterday*', { timeout: WAIT })
  await page.waitForSelector(`[data-testid="connector-requests-${SOURCE}"]`, { timeout: WAIT })
  await waitCount(page, `connector-requests-${SOURCE}`, (v) => v === 0, 'yesterday shows requests', LIVE)
  assert.deepEqual(pageErrors, [], 'uncaught errors in the page')
})
