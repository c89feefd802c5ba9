// Types and documents of the role views' figures (graph/schema/figures.graphqls).
import { gql, type TypedDocumentNode } from '@urql/core'
import type { Stage, Time } from './types'

export interface Rate {
  count: number
  of: number
  /** count/of; null when there was nothing to measure. */
  value: number | null
}

export interface Durations {
  count: number
  /** Seconds. */
  p50: number | null
  p90: number | null
}

export interface HealthComponent {
  name: string
  value: number
  weight: number
  target: number | null
  zero: number
  score: number
  measured: boolean
}

export interface Health {
  index: number
  at: Time
  from: Time
  components: HealthComponent[]
}

export interface StageBacklog {
  stage: Stage
  count: number
  oldestSince: Time
  /** Seconds. */
  ageP50: number
  ageP90: number
}

export interface Throughput {
  by: 'station' | 'packer'
  id: string
  packed: number
  perHour: number
}

export interface FigureHour {
  at: Time
  orders: number
  inflow: number
  outbound: number
  packed: number
  backlog: { stage: Stage; count: number }[]
}

export interface Figures {
  from: Time
  to: Time
  at: Time
  timeZone: string
  orders: number
  inflow: number
  outbound: number
  delivered: number
  packed: number
  onTimeShip: Rate
  onTimeDelivery: Rate
  sameDayShipping: Rate
  abnormal: Rate
  repeatedLookups: Rate
  paidToWms: Durations
  paidToOutbound: Durations
  outboundToCollected: Durations
  paidToFirstCourierUpdate: Durations
  detectionTime: Durations
  backlog: StageBacklog[]
  waiting: Rate
  openDivergences: Rate
  throughput: Throughput[]
  hours: FigureHour[]
}

export interface ScopeVars {
  channel?: string | null
  shop?: string | null
  warehouse?: string | null
  courier?: string | null
}

export interface FiguresVars extends ScopeVars {
  from: Time
  to?: Time | null
}

const RATE = `count of value`
const DURATIONS = `count p50 p90`
const HEALTH_FIELDS = `index at from components { name value weight target zero score measured }`
const FIGURE_FIELDS = `
  from to at timeZone
  orders inflow outbound delivered packed
  onTimeShip { ${RATE} } onTimeDelivery { ${RATE} } sameDayShipping { ${RATE} }
  abnormal { ${RATE} } repeatedLookups { ${RATE} } waiting { ${RATE} } openDivergences { ${RATE} }
  paidToWms { ${DURATIONS} } paidToOutbound { ${DURATIONS} } outboundToCollected { ${DURATIONS} }
  paidToFirstCourierUpdate { ${DURATIONS} } detectionTime { ${DURATIONS} }
  backlog { stage count oldestSince ageP50 ageP90 }
  throughput { by id packed perHour }
  hours { at orders inflow outbound packed backlog { stage count } }
`

/** The health index, pushed at once and on every change (coalesced). */
export const HEALTH_CHANGED: TypedDocumentNode<{ fulfillmentHealthChanged: Health }, ScopeVars> = gql`
  subscription HealthChanged($channel: String, $warehouse: String) {
    fulfillmentHealthChanged(channel: $channel, warehouse: $warehouse) { ${HEALTH_FIELDS} }
  }
`

/** A window's figures, pushed at once and on every change; without `to` it ends now. */
export const FIGURES_CHANGED: TypedDocumentNode<{ figuresChanged: Figures }, FiguresVars> = gql`
  subscription FiguresChanged($from: Time!, $to: Time, $channel: String, $shop: String, $warehouse: String, $courier: String) {
    figuresChanged(from: $from, to: $to, channel: $channel, shop: $shop, warehouse: $warehouse, courier: $courier) { ${FIGURE_FIELDS} }
  }
`

/** A comparison window: the headline rates only (no series). */
export const FIGURES_COMPARE: TypedDocumentNode<{ figures: Pick<Figures, 'inflow' | 'outbound' | 'onTimeShip' | 'onTimeDelivery' | 'sameDayShipping' | 'abnormal'> }, FiguresVars & { to: Time }> = gql`
  query FiguresCompare($from: Time!, $to: Time!, $channel: String, $shop: String, $warehouse: String) {
    figures(from: $from, to: $to, channel: $channel, shop: $shop, warehouse: $warehouse) {
      inflow outbound onTimeShip { ${RATE} } onTimeDelivery { ${RATE} } sameDayShipping { ${RATE} } abnormal { ${RATE} }
    }
  }
`
