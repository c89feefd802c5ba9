// GraphQL documents the SPA sends. Field selections mirror src/graphql/types.ts.
// The figure views' documents live in ./figures, re-exported here so the
// schema test checks them too.
export * from './figures'
import { gql, type TypedDocumentNode } from '@urql/core'
import type {
  AcknowledgeAlertData,
  AlertChangedData,
  AlertChangedKeyData,
  AlertCountsData,
  AlertIdVars,
  AlertRaisedData,
  AlertsData,
  AlertsVars,
  BacktestData,
  BacktestVars,
  OrderAlertsData,
  ResolveAlertData,
  RulesData,
  SaveRuleData,
  SaveRuleVars,
  SetRuleEnabledData,
  SetRuleEnabledVars,
  SilenceData,
  SilenceVars,
  BacklogChangedData,
  BacklogQueryData,
  OrderKeyVars,
  OrderQueryData,
  OrderUpdatedData,
  RecentOrdersData,
  RecentOrdersVars,
} from './types'

const BACKLOG_FIELDS = `
  total
  at
  stages { stage count }
`

const ORDER_FIELDS = `
  id
  channel
  orderNo
  stage
  systems { system status at source }
  timeline { at system type source eventId recovered }
  tags
  amount
  currency
  warehouse
  courier
  trackingNo
  receiver { name phone province city district address }
  shipBy
  promisedBy
  createdAt
  updatedAt
`

export const BACKLOG_QUERY: TypedDocumentNode<BacklogQueryData, Record<string, never>> = gql`
  query Backlog {
    backlog { ${BACKLOG_FIELDS} }
  }
`

export const BACKLOG_CHANGED: TypedDocumentNode<BacklogChangedData, Record<string, never>> = gql`
  subscription BacklogChanged {
    backlogChanged { ${BACKLOG_FIELDS} }
  }
`

export const RECENT_ORDERS_QUERY: TypedDocumentNode<RecentOrdersData, RecentOrdersVars> = gql`
  query RecentOrders($first: Int!, $filter: OrderFilter, $after: String) {
    orders(first: $first, filter: $filter, after: $after) {
      edges {
        cursor
        node { id channel orderNo stage amount currency warehouse courier updatedAt }
      }
      pageInfo { hasNextPage endCursor }
    }
  }
`

export const ORDER_QUERY: TypedDocumentNode<OrderQueryData, OrderKeyVars> = gql`
  query Order($channel: String!, $orderNo: String!) {
    order(channel: $channel, orderNo: $orderNo) { ${ORDER_FIELDS} }
  }
`

export const ORDER_UPDATED: TypedDocumentNode<OrderUpdatedData, OrderKeyVars> = gql`
  subscription OrderUpdated($channel: String!, $orderNo: String!) {
    orderUpdated(channel: $channel, orderNo: $orderNo) { ${ORDER_FIELDS} }
  }
`

// --- Alerts ---------------------------------------------------------------

const ALERT_FIELDS = `
  id
  rule
  kind
  severity
  state
  scope
  summary
  conditionSince
  raisedAt
  acknowledgedAt
  acknowledgedBy
  resolvedAt
  resolvedBy
  order { id channel orderNo }
`

export const ALERTS_QUERY: TypedDocumentNode<AlertsData, AlertsVars> = gql`
  query Alerts($first: Int!, $state: AlertState, $after: String) {
    alerts(first: $first, state: $state, after: $after) {
      edges { cursor node { ${ALERT_FIELDS} } }
      pageInfo { hasNextPage endCursor }
    }
  }
`

/** The latest ids per state, for the counts above the alert list. */
export const ALERT_COUNTS_QUERY: TypedDocumentNode<AlertCountsData, Record<string, never>> = gql`
  query AlertCounts {
    firing: alerts(first: 100, state: FIRING) { edges { node { id } } pageInfo { hasNextPage } }
    acknowledged: alerts(first: 100, state: ACKNOWLEDGED) { edges { node { id } } pageInfo { hasNextPage } }
    resolved: alerts(first: 100, state: RESOLVED) { edges { node { id } } pageInfo { hasNextPage } }
  }
`

export const ALERT_RAISED: TypedDocumentNode<AlertRaisedData, Record<string, never>> = gql`
  subscription AlertRaised {
    alertRaised { ${ALERT_FIELDS} }
  }
`

export const ALERT_CHANGED: TypedDocumentNode<AlertChangedData, Record<string, never>> = gql`
  subscription AlertChanged {
    alertChanged { ${ALERT_FIELDS} }
  }
`

/** alertChanged, reduced to what the order page needs to decide on a refetch. */
export const ALERT_CHANGED_KEY: TypedDocumentNode<AlertChangedKeyData, Record<string, never>> = gql`
  subscription AlertChangedKey {
    alertChanged { id order { id channel orderNo } }
  }
`

export const ACKNOWLEDGE_ALERT: TypedDocumentNode<AcknowledgeAlertData, AlertIdVars> = gql`
  mutation AcknowledgeAlert($id: ID!) {
    acknowledgeAlert(id: $id) { ${ALERT_FIELDS} }
  }
`

export const RESOLVE_ALERT: TypedDocumentNode<ResolveAlertData, AlertIdVars> = gql`
  mutation ResolveAlert($id: ID!) {
    resolveAlert(id: $id) { ${ALERT_FIELDS} }
  }
`

export const SILENCE: TypedDocumentNode<SilenceData, SilenceVars> = gql`
  mutation Silence($input: SilenceInput!) {
    silence(input: $input) { id rule scope until reason createdBy }
  }
`

export const ORDER_ALERTS_QUERY: TypedDocumentNode<OrderAlertsData, OrderKeyVars> = gql`
  query OrderAlerts($channel: String!, $orderNo: String!) {
    order(channel: $channel, orderNo: $orderNo) {
      id
      channel
      orderNo
      tags
      alerts { id kind severity state rule summary conditionSince raisedAt }
    }
  }
`

// --- Rules ----------------------------------------------------------------

const RULE_FIELDS = `
  name
  description
  expression
  on
  after
  dueExpr
  until
  tags
  severity
  queue
  alert
  kind
  enabled
  version
  updatedAt
  updatedBy
  hitsByHour { hour count }
  errors24h
  disabledReason
`

export const RULES_QUERY: TypedDocumentNode<RulesData, Record<string, never>> = gql`
  query Rules {
    rules { ${RULE_FIELDS} }
  }
`

export const SAVE_RULE: TypedDocumentNode<SaveRuleData, SaveRuleVars> = gql`
  mutation SaveRule($input: RuleInput!) {
    saveRule(input: $input) { ${RULE_FIELDS} }
  }
`

export const SET_RULE_ENABLED: TypedDocumentNode<SetRuleEnabledData, SetRuleEnabledVars> = gql`
  mutation SetRuleEnabled($name: String!, $enabled: Boolean!) {
    setRuleEnabled(name: $name, enabled: $enabled) { ${RULE_FIELDS} }
  }
`

export const BACKTEST_RULE: TypedDocumentNode<BacktestData, BacktestVars> = gql`
  query BacktestRule($input: RuleInput!, $from: Time!, $to: Time!, $samples: Int) {
    backtestRule(input: $input, from: $from, to: $to, samples: $samples) {
      eventsScanned
      ordersScanned
      hits
      ordersHit
      errors
      samples { channel orderNo at eventType }
    }
  }
`
