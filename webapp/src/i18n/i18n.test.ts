import { describe, expect, it } from 'vitest'
import { createI18n } from 'vue-i18n'
import schema from '../../../graph/schema/order.graphqls?raw'
import alertSchema from '../../../graph/schema/alert.graphqls?raw'
import accessSchema from '../../../graph/schema/access.graphqls?raw'
import { ROLES } from '../auth/session'
import { LOCALES, messages } from './index'
import { ALERT_KINDS, ALERT_STATES, CHANNELS, EVENT_TYPES, QUEUES, SEVERITIES, STAGES, SYSTEMS } from '../graphql/types'
import { ERROR_CODES } from '../graphql/errors'

type Tree = { [k: string]: string | Tree }

/** Every leaf path of a message tree, as "a.b.c". */
function leaves(tree: Tree, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>()
  for (const [k, v] of Object.entries(tree)) {
    const path = prefix ? `${prefix}.${k}` : k
    if (v !== null && typeof v === 'object') for (const [p, x] of leaves(v, path)) out.set(p, x)
    else out.set(path, v)
  }
  return out
}

const keysByLocale = Object.fromEntries(LOCALES.map((l) => [l, leaves(messages[l] as unknown as Tree)]))
const allKeys = [...new Set(LOCALES.flatMap((l) => [...keysByLocale[l]!.keys()]))].sort()

describe('i18n completeness', () => {
  it.each(LOCALES)('%s has every key, each a non-empty string', (locale) => {
    const mine = keysByLocale[locale]!
    const missing = allKeys.filter((k) => !mine.has(k))
    expect(missing, `keys missing in ${locale}`).toEqual([])
    const empty = [...mine].filter(([, v]) => typeof v !== 'string' || v.trim() === '').map(([k]) => k)
    expect(empty, `empty or non-string messages in ${locale}`).toEqual([])
  })

  it.each(LOCALES)('%s messages avoid vue-i18n syntax characters', (locale) => {
    const bad = [...keysByLocale[locale]!].filter(([, v]) => /[@$|]/.test(String(v))).map(([k]) => k)
    expect(bad).toEqual([])
  })

  it.each(LOCALES)('%s: every message resolves through vue-i18n', (locale) => {
    const i18n = createI18n({ legacy: false, locale, messages, missingWarn: false, fallbackWarn: false })
    const t = i18n.global.t as (key: string, named?: Record<string, unknown>) => string
    for (const key of allKeys) {
      const out = t(key, {
        time: 'T',
        pct: 'P',
        channel: 'C',
        orderNo: 'N',
        source: 'S',
        n: 1,
        name: 'R',
        version: 2,
        line: 3,
        column: 4,
        who: 'W',
        d: '10m',
        expr: 'E',
      })
      expect(out, key).not.toBe(key)
      expect(out, key).not.toMatch(/[{}]/)
    }
  })

  const expectTranslated = (prefix: string, names: readonly string[]) => {
    for (const locale of LOCALES) {
      const missing = names.filter((n) => !keysByLocale[locale]!.has(`${prefix}.${n}`))
      expect(missing, `${prefix}.* missing in ${locale}`).toEqual([])
    }
  }

  it('translates every stage, event type, system, channel and error code', () => {
    expectTranslated('stage', STAGES)
    expectTranslated('event', EVENT_TYPES)
    expectTranslated('system', SYSTEMS)
    expectTranslated('channel', CHANNELS)
    expectTranslated('errors', ERROR_CODES)
    expectTranslated('alertState', ALERT_STATES)
    expectTranslated('alertKind', ALERT_KINDS)
    expectTranslated('severity', SEVERITIES)
    expectTranslated('queue', QUEUES)
    expectTranslated('role', ROLES)
    // System status words are the part after the dot of each event type.
    expectTranslated('status', EVENT_TYPES.map((e) => e.slice(e.indexOf('.') + 1)))
  })

  it('has the required Chinese wording', () => {
    const zh = keysByLocale['zh-CN']!
    expect(zh.get('backlog.title')).toBe('实时积压')
    expect(zh.get('app.name')).toBe('塔台 Tower')
    expect(zh.get('conn.connected')).toBe('已连接')
    expect(zh.get('conn.reconnecting')).toBe('重连中')
    expect(zh.get('order.notFound')).toBe('未找到订单')
    expect(zh.get('order.notReported')).toBe('未上报')
    expect(zh.get('stage.PAID')).toBe('已支付')
    expect(zh.get('event.order.paid')).toBe('支付')
    expect(zh.get('event.courier.failed')).toBe('派送失败')
    expect(zh.get('nav.alerts')).toBe('告警')
    expect(zh.get('nav.rules')).toBe('规则')
    expect(zh.get('alertState.FIRING')).toBe('触发中')
    expect(zh.get('alertState.ACKNOWLEDGED')).toBe('已确认')
    expect(zh.get('alertState.RESOLVED')).toBe('已恢复')
    expect(zh.get('severity.critical')).toBe('严重')
    expect(zh.get('alertKind.suspicious_address')).toBe('地址可疑')
    expect(zh.get('alerts.all')).toBe('全部')
    expect(zh.get('alerts.acknowledge')).toBe('确认')
    expect(zh.get('alerts.resolve')).toBe('关闭')
    expect(zh.get('alerts.silence')).toBe('静默')
    expect(keysByLocale['en-US']!.get('backlog.title')).toBe('Live backlog')
    expect(keysByLocale['en-US']!.get('nav.alerts')).toBe('Alerts')
    expect(keysByLocale['en-US']!.get('nav.rules')).toBe('Rules')
    expect(zh.get('auth.submit')).toBe('登录')
    expect(zh.get('role.cs')).toBe('客服')
  })
})

describe('types match the GraphQL schema', () => {
  it('STAGES lists the Stage enum of graph/schema/order.graphqls, in order', () => {
    const m = /enum\s+Stage\s*\{([^}]*)\}/.exec(schema)
    expect(m, 'enum Stage not found in schema').not.toBeNull()
    const values = m![1]!
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter((l) => /^[A-Z_]+$/.test(l))
    expect(values).toEqual([...STAGES])
  })
  it('ALERT_STATES lists the AlertState enum of graph/schema/alert.graphqls, in order', () => {
    const m = /enum\s+AlertState\s*\{([^}]*)\}/.exec(alertSchema)
    expect(m, 'enum AlertState not found in schema').not.toBeNull()
    const values = m![1]!
      .split('\n')
      .map((l) => l.replace(/#.*/, '').trim())
      .filter((l) => /^[A-Z_]+$/.test(l))
    expect(values).toEqual([...ALERT_STATES])
  })
  it('ROLES lists the Role enum of graph/schema/access.graphqls, in order', () => {
    const m = /enum\s+Role\s*\{([^}]*)\}/.exec(accessSchema)
    expect(m, 'enum Role not found in schema').not.toBeNull()
    const values = m![1]!
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => /^[a-z]+$/.test(l))
    expect(values).toEqual([...ROLES])
  })
})
