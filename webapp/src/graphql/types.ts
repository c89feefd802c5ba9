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

// ---------------------------------------------------------------------------
// Alerts (graph/schema/alert.graphqls). i18n.test.ts checks ALERT_STATES
// against the schema's AlertState enum.

export const ALERT_STATES = ['FIRING', 'ACKNOWLEDGED', 'RESOLVED'] as const
export type AlertState = (typeof ALERT_STATES)[number]

export function isAlertState(s: unknown): s is AlertState {
  return typeof s === 'string' && (ALERT_STATES as readonly string[]).includes(s)
}

/** Alert severities, most severe first (Alert.severity, Rule.severity). */
export const SEVERITIES = ['critical', 'warning', 'info'] as const
export type Severity = (typeof SEVERITIES)[number]

/** Alert kinds the default rules use; any other kind is shown raw. */
export const ALERT_KINDS = [
  'late_ship',
  'late_delivery',
  'divergence',
  'suspicious_address',
  'ip_burst',
  'amount_outlier',
  'not_collected',
  'refund_after_outbound',
  'address_change_after_wms',
  'cancelled_after_picking',
  'delivery_failed',
  'returned',
  'no_courier_update',
  'erp_wms_divergence',
  'duplicate_order',
  'suspicious_phone',
  'order_burst',
] as const

/** Work queues a rule can route an order to (Rule.queue). */
export const QUEUES = ['customer_service', 'risk_review', 'warehouse_hold', 'logistics_follow_up'] as const

/** The order fields an alert row shows. */
export type AlertOrder = Pick<Order, 'id' | 'channel' | 'orderNo'>

export interface Alert {
  id: string
  rule: string
  kind: string
  /** info | warning | critical */
  severity: string
  state: AlertState
  order: AlertOrder
  /** Warehouse or channel the alert is grouped by. */
  scope: string
  summary: string
  conditionSince: Time
  raisedAt: Time
  acknowledgedAt: Time | null
  acknowledgedBy: string | null
  resolvedAt: Time | null
  resolvedBy: string | null
}

/** The alert fields the order page asks for. */
export type OrderAlert = Pick<Alert, 'id' | 'kind' | 'severity' | 'state' | 'rule' | 'summary' | 'conditionSince' | 'raisedAt'>

export interface AlertConnection {
  edges: { cursor: string; node: Alert }[]
  pageInfo: PageInfo
}

export interface Silence {
  id: string
  rule: string
  scope: string
  until: Time
  reason: string
  createdBy: string
}

export interface SilenceInput {
  rule?: string | null
  scope?: string | null
  until: Time
  reason?: string | null
}

export interface AlertsData {
  alerts: AlertConnection
}
export interface AlertsVars {
  first: number
  state?: AlertState | null
  after?: string | null
  [key: string]: unknown
}

/** Ids of the latest alerts in one state, and whether there are more. */
export interface AlertIdPage {
  edges: { node: { id: string } }[]
  pageInfo: { hasNextPage: boolean }
}
export interface AlertCountsData {
  firing: AlertIdPage
  acknowledged: AlertIdPage
  resolved: AlertIdPage
}
export interface AlertRaisedData {
  alertRaised: Alert
}
export interface AlertChangedData {
  alertChanged: Alert
}
export interface AcknowledgeAlertData {
  acknowledgeAlert: Alert
}
export interface ResolveAlertData {
  resolveAlert: Alert
}
export interface AlertIdVars {
  id: string
  [key: string]: unknown
}
export interface SilenceData {
  silence: Silence
}
export interface SilenceVars {
  input: SilenceInput
  [key: string]: unknown
}
export interface OrderAlertsData {
  order: (Pick<Order, 'id' | 'channel' | 'orderNo' | 'tags'> & { alerts: OrderAlert[] }) | null
}
/** alertChanged as the order page listens to it: only the order key. */
export interface AlertChangedKeyData {
  alertChanged: { id: string; order: AlertOrder }
}

// ---------------------------------------------------------------------------
// Rules (graph/schema/rule.graphqls).

export interface HourCount {
  hour: Time
  count: number
}

export interface Rule {
  name: string
  description: string
  expression: string
  /** Event types it listens to; empty: every type. */
  on: string[]
  /** Deadline rules: Go duration, e.g. "10m". */
  after: string | null
  /** Deadline rules: expression giving the due time. */
  dueExpr: string | null
  until: string[]
  tags: string[]
  severity: string
  queue: string | null
  alert: boolean
  kind: string
  enabled: boolean
  version: number
  updatedAt: Time
  updatedBy: string
  /** Hits per hour over the last 24 hours, oldest first. */
  hitsByHour: HourCount[]
  errors24h: number
  /** Why Tower switched the rule off by itself (it kept failing); null otherwise. */
  disabledReason: string | null
}

export interface RuleInput {
  name: string
  description?: string | null
  expression: string
  on?: string[] | null
  after?: string | null
  dueExpr?: string | null
  until?: string[] | null
  tags?: string[] | null
  severity?: string | null
  queue?: string | null
  alert?: boolean | null
  kind?: string | null
  enabled?: boolean | null
}

export interface BacktestSample {
  channel: string
  orderNo: string
  at: Time
  eventType: string
}

export interface Backtest {
  eventsScanned: number
  ordersScanned: number
  hits: number
  ordersHit: number
  errors: number
  samples: BacktestSample[]
}

export interface RulesData {
  rules: Rule[]
}
export interface SaveRuleData {
  saveRule: Rule
}
export interface SaveRuleVars {
  input: RuleInput
  [key: string]: unknown
}
export interface SetRuleEnabledData {
  setRuleEnabled: Rule
}
export interface SetRuleEnabledVars {
  name: string
  enabled: boolean
  [key: string]: unknown
}
export interface BacktestData {
  backtestRule: Backtest
}
export interface BacktestVars {
  input: RuleInput
  from: Time
  to: Time
  samples?: number | null
  [key: string]: unknown
}
