// Downloads a CSV export: fetched with the session's credentials (the CSRF
// header a plain link cannot send) and handed to the browser as a file.
import { authHeaders } from '../auth/session'

/** The file name of a Content-Disposition header, or fallback. */
export function fileName(disposition: string | null, fallback: string): string {
  const m = /filename="?([^";]+)"?/i.exec(disposition ?? '')
  return m?.[1] ?? fallback
}

/** GETs href and saves the answer; throws with the server's message on refusal. */
export async function download(href: string, language: string): Promise<string> {
  const res = await fetch(href, { headers: { ...authHeaders(), 'Accept-Language': language } })
  if (!res.ok) throw new Error((await res.text()).trim() || `HTTP ${res.status}`)
  const blob = await res.blob()
  const name = fileName(res.headers.get('Content-Disposition'), 'orders.csv')
  const url = URL.createObjectURL(blob)
  const a = document.createElement('a')
  a.href = url
  a.download = name
  document.body.appendChild(a)
  a.click()
  a.remove()
  setTimeout(() => URL.revokeObjectURL(url), 10_000)
  return name
}
