// Types and documents of incidents (graph/schema/incident.graphqls): alerts
// sharing one cause, grouped, with their blast radius.
import { gql, type TypedDocumentNode } from '@urql/core'
import type { Time } from './types'

export const INCIDENT_STATES = ['OPEN', 'ACKNOWLEDGED', 'RESOLVED'] as const
export type IncidentState = (typeof INCIDENT_STATES)[number]
export const INCIDENT_CAUSES = ['COURIER_STOPPED', 'SIGNATURE_FAILURES', 'CHANNEL_SILENT'] as const
export type IncidentCause = (typeof INCIDENT_CAUSES)[number]

export interface BlastRadius {
  orders: number
  /** Yuan, as a decimal string ("1234.50"). */
  money: string
  shops: string[]
  channels: string[]
}

export interface Incident {
  id: string
  cause: IncidentCause
  key: string
  warehouse: string | null
  state: IncidentState
  severity: string
  startedAt: Time
  lastSeenAt: Time
  memberCount: number
  blastRadius: BlastRadius
  acknowledgedBy: string | null
  resolvedBy: string | null
  resolvedAt: Time | null
}

const INCIDENT_FIELDS = `id cause key warehouse state severity startedAt lastSeenAt memberCount
  blastRadius { orders money shops channels } acknowledgedBy resolvedBy resolvedAt`

export const INCIDENTS_QUERY: TypedDocumentNode<
  { incidents: { edges: { node: Incident }[] } },
  { state?: IncidentState | null; first?: number }
> = gql`
  query Incidents($state: IncidentState, $first: Int) {
    incidents(state: $state, first: $first) { edges { node { ${INCIDENT_FIELDS} } } }
  }
`

export const INCIDENT_CHANGED: TypedDocumentNode<{ incidentChanged: Incident }, Record<string, never>> = gql`
  subscription IncidentChanged {
    incidentChanged { ${INCIDENT_FIELDS} }
  }
`

export const ACKNOWLEDGE_INCIDENT: TypedDocumentNode<{ acknowledgeIncident: Incident }, { id: string }> = gql`
  mutation AcknowledgeIncident($id: ID!) {
    acknowledgeIncident(id: $id) { ${INCIDENT_FIELDS} }
  }
`

export const RESOLVE_INCIDENT: TypedDocumentNode<{ resolveIncident: Incident }, { id: string }> = gql`
  mutation ResolveIncident($id: ID!) {
    resolveIncident(id: $id) { ${INCIDENT_FIELDS} }
  }
`

/** applyIncident puts a pushed or returned incident in the list (newest start first). */
export function applyIncident(list: readonly Incident[], in_: Incident): Incident[] {
  const rest = list.filter((i) => i.id !== in_.id)
  rest.push(in_)
  return rest.sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || Number(b.id) - Number(a.id))
}
