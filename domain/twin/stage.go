package twin

import (
	"fmt"
	"strings"

	"github.com/towerhq/tower/domain/order"
)

// Stage is where an order is in its lifecycle, as one word. The values are
// the GraphQL enum values.
type Stage string

const (
	StageCreated        Stage = "CREATED"
	StagePaid           Stage = "PAID"
	StageInWarehouse    Stage = "IN_WAREHOUSE"
	StagePicked         Stage = "PICKED"
	StagePacked         Stage = "PACKED"
	StageOutbound       Stage = "OUTBOUND"
	StageCollected      Stage = "COLLECTED"
	StageInTransit      Stage = "IN_TRANSIT"
	StageOutForDelivery Stage = "OUT_FOR_DELIVERY"
	StageDelivered      Stage = "DELIVERED"
	StageCancelled      Stage = "CANCELLED"
	StageRefunded       Stage = "REFUNDED"
	StageDeliveryFailed Stage = "DELIVERY_FAILED"
	StageReturned       Stage = "RETURNED"
)

// Stages lists every stage in display (GraphQL enum) order.
var Stages = []Stage{
	StageCreated, StagePaid, StageInWarehouse, StagePicked, StagePacked,
	StageOutbound, StageCollected, StageInTransit, StageOutForDelivery,
	StageDelivered, StageCancelled, StageRefunded, StageDeliveryFailed,
	StageReturned,
}

// Valid reports whether s is a known stage.
func (s Stage) Valid() bool {
	switch s {
	case StageCreated, StagePaid, StageInWarehouse, StagePicked, StagePacked,
		StageOutbound, StageCollected, StageInTransit, StageOutForDelivery,
		StageDelivered, StageCancelled, StageRefunded, StageDeliveryFailed,
		StageReturned:
		return true
	}
	return false
}

// Final reports whether s ends the order's fulfilment: final orders are not
// part of the open backlog. DELIVERED, CANCELLED, REFUNDED and RETURNED are
// final (DELIVERED can still become RETURNED or REFUNDED).
func (s Stage) Final() bool {
	switch s {
	case StageDelivered, StageCancelled, StageRefunded, StageReturned:
		return true
	}
	return false
}

func (s Stage) String() string { return string(s) }

// ParseStage reads a stage name. It is case-insensitive and ignores
// surrounding white space: "in_transit" gives StageInTransit.
func ParseStage(s string) (Stage, error) {
	st := Stage(strings.ToUpper(strings.TrimSpace(s)))
	if !st.Valid() {
		return "", fmt.Errorf("unknown stage %q", s)
	}
	return st, nil
}

// progressRank is the position of a stage on the happy path; stages off the
// happy path (CANCELLED, REFUNDED, DELIVERY_FAILED, RETURNED) have none.
func progressRank(s Stage) (int, bool) {
	switch s {
	case StageCreated:
		return 0, true
	case StagePaid:
		return 1, true
	case StageInWarehouse:
		return 2, true
	case StagePicked:
		return 3, true
	case StagePacked:
		return 4, true
	case StageOutbound:
		return 5, true
	case StageCollected:
		return 6, true
	case StageInTransit:
		return 7, true
	case StageOutForDelivery:
		return 8, true
	case StageDelivered:
		return 9, true
	}
	return -1, false
}

// progressTarget is the happy-path stage a progress event reports.
func progressTarget(k order.Kind) (Stage, bool) {
	switch k {
	case order.KindCreated:
		return StageCreated, true
	case order.KindPaid:
		return StagePaid, true
	case order.KindWMSReceived:
		return StageInWarehouse, true
	case order.KindWMSPicked:
		return StagePicked, true
	case order.KindWMSPacked:
		return StagePacked, true
	case order.KindWMSOutbound:
		return StageOutbound, true
	case order.KindCollected:
		return StageCollected, true
	case order.KindInTransit:
		return StageInTransit, true
	case order.KindOutForDelivery:
		return StageOutForDelivery, true
	case order.KindDelivered:
		return StageDelivered, true
	}
	return "", false
}

// Transition is the stage an order in stage cur moves to when an event of
// kind k happens. It is pure and total: unknown kinds leave the stage as it
// is. Rules:
//
//   - Progress events (order.created … courier.delivered) only move forward
//     along CREATED < PAID < IN_WAREHOUSE < PICKED < PACKED < OUTBOUND <
//     COLLECTED < IN_TRANSIT < OUT_FOR_DELIVERY < DELIVERED, never back:
//     lost and late events are normal.
//   - order.address_changed and refund.requested never change the stage.
//   - order.cancelled gives CANCELLED only before OUTBOUND (not yet shipped).
//   - courier.failed gives DELIVERY_FAILED from any non-final stage; from
//     DELIVERY_FAILED only OUT_FOR_DELIVERY (a re-attempt) or DELIVERED move on.
//   - courier.returned gives RETURNED from any stage but REFUNDED (and
//     CANCELLED, below).
//   - refund.completed gives REFUNDED from any stage.
//   - REFUNDED is absorbing; CANCELLED and RETURNED accept only
//     refund.completed; DELIVERED accepts only courier.returned and
//     refund.completed.
func Transition(cur Stage, k order.Kind) Stage {
	switch k {
	case order.KindRefundCompleted:
		return StageRefunded
	case order.KindReturned:
		if cur == StageRefunded || cur == StageCancelled {
			return cur
		}
		return StageReturned
	}
	if cur.Final() {
		// DELIVERED, CANCELLED, RETURNED: only the two kinds above apply.
		return cur
	}
	switch k {
	case order.KindCancelled:
		if r, ok := progressRank(cur); ok && r < 5 /* OUTBOUND */ {
			return StageCancelled
		}
		return cur
	case order.KindDeliveryFailed:
		return StageDeliveryFailed
	}
	target, ok := progressTarget(k)
	if !ok {
		// address_changed, refund.requested, unknown kinds.
		return cur
	}
	tr, _ := progressRank(target)
	if cur == StageDeliveryFailed {
		if tr >= 8 /* OUT_FOR_DELIVERY */ {
			return target
		}
		return cur
	}
	// An unknown cur has rank -1: any progress event moves it on.
	if cr, _ := progressRank(cur); tr > cr {
		return target
	}
	return cur
}
