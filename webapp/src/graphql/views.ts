// Types and documents of the operations, customer-service and IT views
// (graph/schema/views.graphqls, queue.graphqls, poison.graphqls and the
// systemFigures of figures.graphqls).
import { gql, type TypedDocumentNode } from '@urql/core'
import type { Order, Time } from './types'

export interface OrderAnswer {
  state: string
  shipped: boolean
  divergent: boolean
  since: Time | null
  text: string
}

/** An order with its answer in both languages (switching language asks nothing again). */
export type AnsweredOrder = Order & { answer: OrderAnswer; answerEn: Pick<OrderAnswer, 'text'> }

const ANSWERED_ORDER = `
  id channel orderNo stage
  systems { system status at source }
  timeline { at system type source eventId recovered }
  tags amount currency warehouse courier trackingNo
  receiver { name phone province city district address }
  shipBy promisedBy createdAt updatedAt
  answer(lang: "zh-CN") { state shipped divergent since text }
  answerEn: answer(lang: "en-US") { text }
`

export interface LookupVars {
  text: string
  channel?: string | null
}

/** Orders by order number, tracking number or phone tail, each with its answer. */
export const ORDER_LOOKUP: TypedDocumentNode<{ orderLookup: AnsweredOrder[] }, LookupVars> = gql`
  query OrderLookup($text: String!, $channel: String) {
    orderLookup(text: $text, channel: $channel) { ${ANSWERED_ORDER} }
  }
`

/** The twin of the order on screen, pushed on every change, with its answer. */
export const ANSWERED_ORDER_UPDATED: TypedDocumentNode<{ orderUpdated: AnsweredOrder }, { channel: string; orderNo: string }> = gql`
  subscription AnsweredOrderUpdated($channel: String!, $orderNo: String!) {
    orderUpdated(channel: $channel, orderNo: $orderNo) { ${ANSWERED_ORDER} }
  }
`

export interface WorkNote {
  at: Time
  by: string
  text: string
}

export interface WorkItem {
  id: string
  queue: string
  rule: string
  status: 'open' | 'claimed' | 'resolved'
  assignee: string | null
  notes: WorkNote[]
  order: Pick<Order, 'id' | 'channel' | 'orderNo' | 'stage' | 'trackingNo'>
  createdAt: Time
  updatedAt: Time
}

const WORK_ITEM = `id queue rule status assignee notes { at by text } order { id channel orderNo stage trackingNo } createdAt updatedAt`

export const WORK_ITEMS: TypedDocumentNode<
  { workItems: WorkItem[] },
  { queue: string; status?: string | null; first?: number; channel?: string | null; warehouse?: string | null }
> = gql`
  query WorkItems($queue: String!, $status: String, $first: Int, $channel: String, $warehouse: String) {
    workItems(queue: $queue, status: $status, first: $first, channel: $channel, warehouse: $warehouse) { ${WORK_ITEM} }
  }
`

export const WORK_ITEM_CHANGED: TypedDocumentNode<{ workItemChanged: Pick<WorkItem, 'id' | 'status'> }, { queue?: string | null }> = gql`
  subscription WorkItemChanged($queue: String) {
    workItemChanged(queue: $queue) { id status }
  }
`

export const CLAIM_WORK_ITEM: TypedDocumentNode<{ claimWorkItem: WorkItem }, { id: string }> = gql`
  mutation ClaimWorkItem($id: ID!) { claimWorkItem(id: $id) { ${WORK_ITEM} } }
`

export const RESOLVE_WORK_ITEM: TypedDocumentNode<{ resolveWorkItem: WorkItem }, { id: string; note?: string | null }> = gql`
  mutation ResolveWorkItem($id: ID!, $note: String) { resolveWorkItem(id: $id, note: $note) { ${WORK_ITEM} } }
`

export interface WorkQueueSize {
  queue: string
  open: number
  claimed: number
  oldestOpenSince: Time | null
}

export interface RuleFiring {
  rule: string
  kind: string | null
  raised: number
  open: number
  hits: number | null
  lastRaisedAt: Time | null
}

export interface OpsSideVars {
  from: Time
  to: Time
  channel?: string | null
  warehouse?: string | null
}

/** The operations view's queues and rules (queried; refreshed on pushes). */
export const OPS_SIDE: TypedDocumentNode<{ workQueueSizes: WorkQueueSize[]; topRules: RuleFiring[] }, OpsSideVars> = gql`
  query OpsSide($from: Time!, $to: Time!, $channel: String, $warehouse: String) {
    workQueueSizes(channel: $channel, warehouse: $warehouse) { queue open claimed oldestOpenSince }
    topRules(from: $from, to: $to, channel: $channel, warehouse: $warehouse, first: 10) { rule kind raised open hits lastRaisedAt }
  }
`

/** Any alert raised: the operations view refreshes its rules on it. */
export const ALERT_RAISED_ID: TypedDocumentNode<{ alertRaised: { id: string } }, Record<string, never>> = gql`
  subscription AlertRaisedId { alertRaised { id } }
`

export interface ConnectorFigures {
  source: string
  type: string | null
  channel: string | null
  requests: number
  succeeded: number
  successRate: number | null
  signatureFailures: number
  latencyP50: number | null
  latencyP90: number | null
  ratePerMinute: number
  trend: { at: Time; requests: number; succeeded: number; signatureFailures: number }[]
}

export interface HandlerFigures {
  handler: string
  messages: number
  failures: number
  poisoned: number
  lagP50: number | null
  lagP90: number | null
}

export interface TopicBacklog {
  topic: string
  group: string
  unread: number
  parked: number
}

export interface SystemFigures {
  at: Time
  from: Time
  to: Time
  stepSeconds: number
  connectors: ConnectorFigures[]
  handlers: HandlerFigures[]
  topics: TopicBacklog[]
}

export interface PoisonMessage {
  id: string
  messageId: string
  topic: string
  handler: string
  consumerGroup: string | null
  reason: string
  parkedAt: Time
  attempts: number | null
  payloadPreview: string
  status: string
  retriable: boolean
}

export interface RobotDelivery {
  id: string
  at: Time
  robot: string
  robotType: string | null
  group: string
  rule: string | null
  scope: string | null
  alerts: number
  status: string
  attempt: number
  error: string | null
  latencyMs: number
  retryAt: Time | null
}

const POISON = `id messageId topic handler consumerGroup reason parkedAt attempts payloadPreview status retriable`

/** Everything the IT view polls (IT may subscribe to nothing): the traffic of its range and channel. */
export const IT_FIGURES: TypedDocumentNode<
  { systemFigures: SystemFigures; poisonMessages: PoisonMessage[]; robotDeliveries: RobotDelivery[] },
  { from: string; to: string | null; channel: string | null }
> = gql`
  query ItFigures($from: Time, $to: Time, $channel: String) {
    systemFigures(from: $from, to: $to, channel: $channel) {
      at from to stepSeconds
      connectors {
        source type channel requests succeeded successRate signatureFailures latencyP50 latencyP90 ratePerMinute
        trend { at requests succeeded signatureFailures }
      }
      handlers { handler messages failures poisoned lagP50 lagP90 }
      topics { topic group unread parked }
    }
    poisonMessages(first: 50) { ${POISON} }
    robotDeliveries(first: 50) { id at robot robotType group rule scope alerts status attempt error latencyMs retryAt }
  }
`

export const RETRY_POISON: TypedDocumentNode<{ retryPoisonMessage: PoisonMessage }, { id: string }> = gql`
  mutation RetryPoison($id: ID!) { retryPoisonMessage(id: $id) { ${POISON} } }
`

export const DISCARD_POISON: TypedDocumentNode<{ discardPoisonMessage: PoisonMessage }, { id: string }> = gql`
  mutation DiscardPoison($id: ID!) { discardPoisonMessage(id: $id) { ${POISON} } }
`
