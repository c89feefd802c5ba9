// Shared by the browser tests in this directory (not a test file itself):
// environment, a throwaway Chromium, and Standard Webhooks signing.
import { after } from 'node:test'
import assert from 'node:assert/strict'
import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'

const HERE = path.dirname(fileURLToPath(import.meta.url))
export const RESULTS = path.resolve(HERE, '..', 'test-results')

export const TOWER_URL = (process.env.TOWER_URL ?? '').replace(/\/+$/, '')
export const SOURCE = process.env.TOWER_WEBHOOK_SOURCE || 'erp'
export const SECRET = process.env.TOWER_WEBHOOK_SECRET ?? ''
export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
/** One account per role: {"ops": {"name": "...", "password": "..."}, ...} (TestBrowser makes them). */
export const ACCOUNTS = JSON.parse(process.env.TOWER_ACCOUNTS || '{}')

const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

export function requireEnv(...names) {
  const missing = names.filter((n) => !process.env[n])
  if (missing.length) {
    throw new Error(`${missing.join(', ')} not set: this test needs a running Tower server (see the header of e2e/backlog.test.mjs)`)
  }
}

const cleanups = []
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {})
})

/**
 * A fresh Chromium with its own throwaway profile (--user-data-dir), logged
 * in as the account of role (default ops; null: not logged in).
 */
export async function openBrowser(role = 'ops') {
  const profile = await mkdtemp(path.join(tmpdir(), 'tower-e2e-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1440, height: 1000 },
    locale: 'zh-CN',
  })
  cleanups.push(async () => {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  })
  const page = context.pages()[0] ?? (await context.newPage())
  const pageErrors = []
  page.on('pageerror', (e) => pageErrors.push(String(e)))
  page.on('console', (m) => {
    if (m.type() === 'error') console.log(`[browser console] ${m.text()}`)
  })
  if (role) await loginAs(page, role)
  return { context, page, pageErrors }
}

/** Logs in through the login page as the account of role. */
export async function loginAs(page, role) {
  const acc = ACCOUNTS[role]
  assert.ok(acc, `no account for role ${role} in TOWER_ACCOUNTS`)
  await page.goto(`${TOWER_URL}/login`)
  await page.getByTestId('login-name').fill(acc.name)
  await page.getByTestId('login-password').fill(acc.password)
  await page.getByTestId('login-submit').click()
  await page.waitForSelector(`[data-testid="user-role"][data-role="${role}"]`, { timeout: 15_000 })
}

export const text = (page, testid) =>
  page.evaluate((id) => document.querySelector(`[data-testid="${id}"]`)?.textContent?.trim() ?? null, testid)

/** Waits until the big backlog number shows digits, and returns it. */
export async function backlogTotal(page, timeout = 15_000) {
  const sel = '[data-testid="backlog-total"]'
  await page.waitForFunction((s) => /^\d+$/.test(document.querySelector(s)?.textContent?.trim() ?? ''), sel, { timeout })
  return Number(await text(page, 'backlog-total'))
}

export async function waitConnected(page, timeout = 15_000) {
  await page.waitForSelector('[data-testid="connection-state"][data-state="connected"]', { timeout })
}

/** A fresh order number no other run uses. */
export function uniqueOrderNo(prefix = 'E2E') {
  return `${prefix}${Date.now().toString(36).toUpperCase()}${randomBytes(3).toString('hex').toUpperCase()}`
}

/** POSTs one canonical event to /webhooks/<source>, signed the Standard Webhooks way. */
export async function sendWebhook(event) {
  assert.ok(SECRET.startsWith('whsec_'), 'TOWER_WEBHOOK_SECRET must start with whsec_')
  const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64')
  const body = JSON.stringify(event)
  const id = `msg_${randomUUID()}`
  const ts = Math.floor(Date.now() / 1000).toString()
  const sig = createHmac('sha256', key).update(`${id}.${ts}.${body}`).digest('base64')
  const res = await fetch(`${TOWER_URL}/webhooks/${encodeURIComponent(SOURCE)}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': ts,
      'webhook-signature': `v1,${sig}`,
    },
    body,
  })
  return { status: res.status, body: await res.text() }
}
