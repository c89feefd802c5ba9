// Hand-written TypeScript types matching graph/schema/order.graphqls.
// src/i18n/i18n.test.ts checks STAGES against the schema's Stage enum.

/** RFC 3339 date-time string (GraphQL scalar Time). */
export type Time = string

export const STAGES = [
  'CREATED',
  'PAID',
  'IN_WAREHOUSE',
  'PICKED',
  'PACKED',
  'OUTBOUND',
  'COLLECTED',
  'IN_TRANSIT',
  'OUT_FOR_DELIVERY',
  'DELIVERED',
  'CANCELLED',
  'REFUNDED',
  'DELIVERY_FAILED',
  'RETURNED',
] as const
export type Stage = (typeof STAGES)[number]

/** Final stages: shown in `Backlog.stages` but left out of `Backlog.total`. */
export const FINAL_STAGES: readonly Stage[] = ['DELIVERED', 'CANCELLED', 'REFUNDED', 'RETURNED']
/** Open stages, in lifecycle order: the ones `Backlog.total` counts. */
export const OPEN_STAGES: readonly Stage[] = STAGES.filter((s) => !FINAL_STAGES.includes(s))

export function isStage(s: string): s is Stage {
  return (STAGES as readonly string[]).includes(s)
}

/** Canonical event types (TimelineEntry.type), in lifecycle order. */
export const EVENT_TYPES = [
  'order.created',
  'order.paid',
  'order.address_changed',
  'order.cancelled',
  'refund.requested',
  'refund.completed',
  'wms.received',
  'wms.picked',
  'wms.packed',
  'wms.outbound',
  'courier.collected',
  'courier.in_transit',
  'courier.out_for_delivery',
  'courier.delivered',
  'courier.failed',
  'courier.returned',
] as const
export type EventType = (typeof EVENT_TYPES)[number]

/** Systems that report on an order, in display order. */
export const SYSTEMS = ['channel', 'erp', 'wms', 'courier'] as const
export type SystemName = (typeof SYSTEMS)[number]

/** Known sales channels. */
export const CHANNELS = ['tmall', 'douyin', 'miniprogram'] as const
export type Channel = (typeof CHANNELS)[number]

export interface Receiver {
  name: string | null
  phone: string | null
  province: string | null
  city: string | null
  district: string | null
  address: string | null
}

export interface SystemStatus {
  /** channel | erp | wms | courier */
  system: string
  /** Short status word, e.g. "outbound". */
  status: string
  at: Time | null
  source: string
}

export interface TimelineEntry {
  at: Time
  system: string
  /** Canonical event type, e.g. "wms.outbound". */
  type: string
  source: string
  eventId: string
  recovered: boolean
}

export interface Order {
  id: string
  channel: string
  orderNo: string
  stage: Stage
  systems: SystemStatus[]
  timeline: TimelineEntry[]
  tags: string[]
  amount: string | null
  currency: string | null
  warehouse: string | null
  courier: string | null
  trackingNo: string | null
  receiver: Receiver | null
  shipBy: Time | null
  promisedBy: Time | null
  createdAt: Time
  updatedAt: Time
}

/** The subset of Order fields the recent-orders table asks for. */
export type OrderSummary = Pick<
  Order,
  'id' | 'channel' | 'orderNo' | 'stage' | 'amount' | 'currency' | 'warehouse' | 'courier' | 'updatedAt'
>

export interface StageCount {
  stage: Stage
  count: number
}

export interface Backlog {
  total: number
  stages: StageCount[]
  at: Time
}

export interface OrderFilter {
  stage?: Stage | null
  channel?: string | null
  updatedFrom?: Time | null
  updatedTo?: Time | null
}

export interface PageInfo {
  hasNextPage: boolean
  endCursor: string | null
}

export interface OrderEdge<N = Order> {
  cursor: string
  node: N
}

export interface OrderConnection<N = Order> {
  edges: OrderEdge<N>[]
  pageInfo: PageInfo
}

// Operation result and variable shapes.

export interface BacklogQueryData {
  backlog: Backlog
}
export interface BacklogChangedData {
  backlogChanged: Backlog
}
export interface RecentOrdersData {
  orders: OrderConnection<OrderSummary>
}
export interface RecentOrdersVars {
  first: number
  filter?: OrderFilter | null
  after?: string | null
  [key: string]: unknown
}
export interface OrderQueryData {
  order: Order | null
}
export interface OrderUpdatedData {
  orderUpdated: Order
}
export interface OrderKeyVars {
  channel: string
  orderNo: string
  [key: string]: unknown
}
