// Maps GraphQL / transport errors to a small set of codes the UI translates.
import type { CombinedError } from '@urql/core'

export const ERROR_CODES = [
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'BAD_USER_INPUT',
  'CONFLICT',
  'INVALID_QUERY',
  'INTERNAL',
  'NETWORK',
  'UNKNOWN',
] as const
export type ErrorCode = (typeof ERROR_CODES)[number]

const ALIASES: Record<string, ErrorCode> = {
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  UNAUTHORIZED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  NOT_FOUND: 'NOT_FOUND',
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  CONFLICT: 'CONFLICT',
  GRAPHQL_VALIDATION_FAILED: 'INVALID_QUERY',
  GRAPHQL_PARSE_FAILED: 'INVALID_QUERY',
  INTERNAL: 'INTERNAL',
  INTERNAL_SERVER_ERROR: 'INTERNAL',
}

/** The error-shaped subset of CombinedError this module reads. */
export type ErrorLike = Pick<CombinedError, 'graphQLErrors' | 'networkError'> & {
  response?: { status?: number } | undefined
}

/** The code of the first GraphQL error, else one derived from the transport. */
export function errorCode(err: ErrorLike | null | undefined): ErrorCode | null {
  if (!err) return null
  for (const e of err.graphQLErrors ?? []) {
    const raw = e.extensions?.code
    if (typeof raw === 'string') return ALIASES[raw.toUpperCase()] ?? 'UNKNOWN'
  }
  const status = err.response?.status
  if (status === 401) return 'UNAUTHENTICATED'
  if (status === 403) return 'FORBIDDEN'
  if (status === 404) return 'NOT_FOUND'
  if (typeof status === 'number' && status >= 500) return 'INTERNAL'
  if (err.networkError) return 'NETWORK'
  return err.graphQLErrors?.length ? 'UNKNOWN' : null
}

const DETAIL_MAX = 160

/** The server's message for the first error, for a detail line under the translated one. */
export function errorDetail(err: ErrorLike | null | undefined): string {
  if (!err) return ''
  const raw = (err.graphQLErrors?.[0]?.message ?? err.networkError?.message ?? '').replace(/\s+/g, ' ').trim()
  return raw.length > DETAIL_MAX ? `${raw.slice(0, DETAIL_MAX - 1)}…` : raw
}
