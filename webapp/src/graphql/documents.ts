// GraphQL documents the SPA sends. Field selections mirror src/graphql/types.ts.
import { gql, type TypedDocumentNode } from '@urql/core'
import type {
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
