// Screenshots of each role's view in zh-CN for docs/screenshots, taken
// against a server the simulator has filled (dev/simulator TestScreenshots
// runs this; it is not a test file of its own). For each view it also
// prints how long the page took to show its figures, as one JSON line per
// view on stdout: LOADTIME {"view": ..., "loadMs": ...}.
//
// Env: TOWER_URL, TOWER_ACCOUNTS (see helpers.mjs), SCREENSHOT_DIR.
import { mkdir } from 'node:fs/promises'
import path from 'node:path'
import { RESULTS, TOWER_URL, openBrowser, requireEnv } from './helpers.mjs'

requireEnv('TOWER_URL', 'TOWER_ACCOUNTS', 'SCREENSHOT_DIR')
const DIR = process.env.SCREENSHOT_DIR

// One per role, at its landing page, then a few pages worth showing.
const VIEWS = [
  { file: 'ceo.png', role: 'ceo', path: '/ceo' },
  { file: 'ceo-wall.png', role: 'ceo', path: '/ceo?wall=1', viewport: { width: 1920, height: 1080 } },
  { file: 'ops.png', role: 'ops', path: '/ops' },
  { file: 'warehouse.png', role: 'warehouse', path: '/warehouse' },
  { file: 'warehouse-wall.png', role: 'warehouse', path: '/warehouse?wall=1', viewport: { width: 1920, height: 1080 } },
  { file: 'cs.png', role: 'cs', path: '/cs' },
  { file: 'cs-phone.png', role: 'cs', path: '/cs', viewport: { width: 390, height: 844 } },
  { file: 'it.png', role: 'it', path: '/system' },
  { file: 'alerts.png', role: 'ops', path: '/alerts', full: false },
  { file: 'rules.png', role: 'ops', path: '/rules', full: false },
]

await mkdir(DIR, { recursive: true })
const browsers = new Map()
let failed = 0
for (const v of VIEWS) {
  try {
    if (!browsers.has(v.role)) browsers.set(v.role, await openBrowser(v.role))
    const { page } = browsers.get(v.role)
    await page.setViewportSize(v.viewport ?? { width: 1440, height: 1000 })
    const start = Date.now()
    await page.goto(`${TOWER_URL}${v.path}`)
    // Figures have arrived when the live connection is up (or the page
    // needs none) and no skeleton or spinner is left on screen.
    await page.waitForFunction(
      () => {
        const st = document.querySelector('[data-testid="connection-state"]')?.getAttribute('data-state')
        if (st === 'connecting' || st === 'reconnecting') return false
        const busy = document.querySelectorAll('.n-skeleton, .n-spin-container--spinning .n-spin, .n-data-table--loading')
        return [...busy].every((e) => !(e instanceof HTMLElement) || e.offsetParent === null)
      },
      null,
      { timeout: 20_000 },
    )
    const loadMs = Date.now() - start
    // Let the charts finish their entry animation.
    await page.waitForTimeout(1500)
    await page.screenshot({ path: path.join(DIR, v.file), fullPage: v.full ?? !v.viewport })
    console.log('LOADTIME ' + JSON.stringify({ view: v.file.replace(/\.png$/, ''), path: v.path, loadMs }))
  } catch (e) {
    failed++
    console.error(`screenshot ${v.file}: ${e}`)
    const b = browsers.get(v.role)
    const busy = await b?.page
      .evaluate(() =>
        [...document.querySelectorAll('.n-skeleton, .n-spin-container--spinning .n-spin, .n-data-table--loading')]
          .filter((e) => e.offsetParent !== null)
          .map((e) => e.className)
          .join(' | '),
      )
      .catch(() => '')
    console.error(`  still busy: ${busy || 'nothing'}; connection ${await b?.page.getAttribute('[data-testid="connection-state"]', 'data-state').catch(() => 'none')}`)
    await mkdir(RESULTS, { recursive: true })
    await b?.page.screenshot({ path: path.join(RESULTS, `failed-${v.file}`) }).catch(() => {})
  }
}
for (const { context } of browsers.values()) await context.close()
process.exitCode = failed ? 1 : 0
