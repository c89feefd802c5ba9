// Documents and types of the access page: accounts, API tokens, audit log.
import { gql, type TypedDocumentNode } from '@urql/core'
import type { Role } from '../auth/session'
import type { PageInfo, Time } from './types'

export interface User {
  name: string
  role: Role
  scopes: string[]
  disabled: boolean
  demo: boolean
  lastLoginAt: Time | null
  createdAt: Time
  createdBy: string
  /** The user's own zone ('': the business zone). */
  timeZone: string
}

export interface ApiToken {
  name: string
  prefix: string
  role: Role
  scopes: string[]
  createdAt: Time
  createdBy: string
  expiresAt: Time | null
  lastUsedAt: Time | null
  revokedAt: Time | null
}

export interface AuditEntry {
  at: Time
  actor: string
  action: string
  subject: string
  remote: string
}

const USER_FIELDS = 'name role scopes disabled demo lastLoginAt createdAt createdBy timeZone'
const TOKEN_FIELDS = 'name prefix role scopes createdAt createdBy expiresAt lastUsedAt revokedAt'

export const USERS_QUERY: TypedDocumentNode<{ users: User[] }, Record<string, never>> = gql`
  query Users { users { ${USER_FIELDS} } }
`
export const TOKENS_QUERY: TypedDocumentNode<{ apiTokens: ApiToken[] }, Record<string, never>> = gql`
  query ApiTokens { apiTokens { ${TOKEN_FIELDS} } }
`
export const AUDIT_QUERY: TypedDocumentNode<
  { auditLog: { edges: { cursor: string; node: AuditEntry }[]; pageInfo: PageInfo } },
  { first?: number; after?: string | null }
> = gql`
  query AuditLog($first: Int, $after: String) {
    auditLog(first: $first, after: $after) {
      edges { cursor node { at actor action subject remote } }
      pageInfo { hasNextPage endCursor }
    }
  }
`
export const CREATE_USER: TypedDocumentNode<
  { createUser: User },
  { input: { name: string; role: Role; scopes: string[]; password: string } }
> = gql`
  mutation CreateUser($input: UserInput!) { createUser(input: $input) { ${USER_FIELDS} } }
`
export const SET_USER_DISABLED: TypedDocumentNode<{ setUserDisabled: User }, { name: string; disabled: boolean }> = gql`
  mutation SetUserDisabled($name: String!, $disabled: Boolean!) { setUserDisabled(name: $name, disabled: $disabled) { ${USER_FIELDS} } }
`
export const SET_USER_TIME_ZONE: TypedDocumentNode<{ setUserTimeZone: User }, { name: string; timeZone: string }> = gql`
  mutation SetUserTimeZone($name: String!, $timeZone: String!) { setUserTimeZone(name: $name, timeZone: $timeZone) { ${USER_FIELDS} } }
`
export const RESET_PASSWORD: TypedDocumentNode<{ resetPassword: boolean }, { name: string; password: string }> = gql`
  mutation ResetPassword($name: String!, $password: String!) { resetPassword(name: $name, password: $password) }
`
export const END_SESSIONS: TypedDocumentNode<{ endSessions: number }, { name: string }> = gql`
  mutation EndSessions($name: String!) { endSessions(name: $name) }
`
export const CREATE_TOKEN: TypedDocumentNode<
  { createApiToken: { token: string; apiToken: ApiToken } },
  { input: { name: string; role: Role; scopes: string[]; expiresIn?: string | null } }
> = gql`
  mutation CreateApiToken($input: ApiTokenInput!) { createApiToken(input: $input) { token apiToken { ${TOKEN_FIELDS} } } }
`
export const REVOKE_TOKEN: TypedDocumentNode<{ revokeApiToken: boolean }, { name: string }> = gql`
  mutation RevokeApiToken($name: String!) { revokeApiToken(name: $name) }
`

/** Scopes typed as "channel=douyin, warehouse=HZ-01". */
export function parseScopes(text: string): string[] {
  return text
    .split(/[,，\s]+/)
    .map((s) => s.trim())
    .filter(Boolean)
}

export interface SystemHealth {
  at: Time
  checks: { name: string; ok: boolean; error: string | null }[]
  connectors: {
    source: string
    type: string
    reconciled: boolean
    lastRunAt: Time | null
    lastListed: number | null
    lastRecovered: number | null
    lastError: string | null
  }[]
  parkedMessages: number
}

export const SYSTEM_HEALTH_QUERY: TypedDocumentNode<{ systemHealth: SystemHealth }, Record<string, never>> = gql`
  query SystemHealth {
    systemHealth {
      at
      checks { name ok error }
      connectors { source type reconciled lastRunAt lastListed lastRecovered lastError }
      parkedMessages
    }
  }
`
