// vue-i18n setup: zh-CN by default, en-US on request, choice kept in localStorage.
import { createI18n } from 'vue-i18n'
import zhCN from './zh-CN'
import enUS from './en-US'

export const LOCALES = ['zh-CN', 'en-US'] as const
export type Locale = (typeof LOCALES)[number]
export const DEFAULT_LOCALE: Locale = 'zh-CN'
export const LOCALE_KEY = 'tower.locale'

export const messages = { 'zh-CN': zhCN, 'en-US': enUS } satisfies Record<Locale, typeof zhCN>
export type MessageSchema = typeof zhCN

export function isLocale(v: unknown): v is Locale {
  return typeof v === 'string' && (LOCALES as readonly string[]).includes(v)
}

export function storedLocale(): Locale {
  try {
    const v = globalThis.localStorage?.getItem(LOCALE_KEY)
    return isLocale(v) ? v : DEFAULT_LOCALE
  } catch {
    return DEFAULT_LOCALE
  }
}

export const i18n = createI18n<[MessageSchema], Locale, false>({
  legacy: false,
  locale: storedLocale(),
  fallbackLocale: DEFAULT_LOCALE,
  messages,
  missingWarn: false,
  fallbackWarn: false,
})

/** Switch language, remember it, and mark the document. */
export function setLocale(l: Locale): void {
  i18n.global.locale.value = l
  try {
    globalThis.localStorage?.setItem(LOCALE_KEY, l)
  } catch {
    /* private mode: the choice lasts for this page only */
  }
  if (typeof document !== 'undefined') document.documentElement.lang = l
}
