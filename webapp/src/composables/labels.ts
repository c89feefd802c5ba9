// Translated labels for server words, falling back to the raw word when the
// UI has no translation (a new alert kind, channel or queue).
import { useI18n } from 'vue-i18n'

export function useLabels() {
  const { t, te } = useI18n()
  const label = (prefix: string) => (word: string | null | undefined): string => {
    if (!word) return '—'
    const key = `${prefix}.${word}`
    return te(key) ? t(key) : word
  }
  return {
    channelLabel: label('channel'),
    kindLabel: label('alertKind'),
    severityLabel: label('severity'),
    alertStateLabel: label('alertState'),
    queueLabel: label('queue'),
    eventLabel: label('event'),
  }
}
