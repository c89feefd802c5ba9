// Documents of the view toolkit (graph/schema/viewkit.graphqls): the
// filters' choices, the orders behind a figure, the top causes of
// exceptions, and the user's time zone.
import { gql, type TypedDocumentNode } from '@urql/core'
import type { PageInfo, Stage, Time } from './types'
import type { OrderFilterVars } from '../lib/viewfilters'

export interface FilterOptions {
  channels: string[]
  shops: string[]
  warehouses: string[]
}

export const FILTER_OPTIONS: TypedDocumentNode<{ filterOptions: FilterOptions }, Record<string, never>> = gql`
  query FilterOptions { filterOptions { channels shops warehouses } }
`

export interface DrillOrder {
  id: string
  channel: string
  orderNo: string
  stage: Stage
  shop: string | null
  warehouse: string | null
  courier: string | null
  trackingNo: string | null
  shipBy: Time | null
  createdAt: Time
  updatedAt: Time
  tags: string[]
}

export const DRILL_ORDERS: TypedDocumentNode<
  { orders: { edges: { cursor: string; node: DrillOrder }[]; pageInfo: PageInfo } },
  { filter: OrderFilterVars; first?: number; after?: string | null }
> = gql`
  query DrillOrders($filter: OrderFilter, $first: Int, $after: String) {
    orders(filter: $filter, first: $first, after: $after) {
      edges { cursor node { id channel orderNo stage shop warehouse courier trackingNo shipBy createdAt updatedAt tags } }
      pageInfo { hasNextPage endCursor }
    }
  }
`

export interface ExceptionCause {
  rule: string
  kind: string
  count: number
  share: number
  orders: number
}

export const EXCEPTION_CAUSES: TypedDocumentNode<
  { exceptionCauses: { from: Time; to: Time; total: number; causes: ExceptionCause[] } },
  { from: Time; to: Time; channel?: string | null; shop?: string | null; warehouse?: string | null; first?: number }
> = gql`
  query ExceptionCauses($from: Time!, $to: Time!, $channel: String, $shop: String, $warehouse: String, $first: Int) {
    exceptionCauses(from: $from, to: $to, channel: $channel, shop: $shop, warehouse: $warehouse, first: $first) {
      from to total causes { rule kind count share orders }
    }
  }
`

export const SET_MY_TIME_ZONE: TypedDocumentNode<{ setMyTimeZone: { timeZone: string } }, { timeZone: string }> = gql`
  mutation SetMyTimeZone($timeZone: String!) { setMyTimeZone(timeZone: $timeZone) { timeZone } }
`
