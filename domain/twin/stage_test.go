package twin

import (
	"fmt"
	"testing"

	"github.com/towerhq/tower/domain/order"
)

var progressStages = []Stage{
	StageCreated, StagePaid, StageInWarehouse, StagePicked, StagePacked,
	StageOutbound, StageCollected, StageInTransit, StageOutForDelivery, StageDelivered,
}

var progressKinds = []order.Kind{
	order.KindCreated, order.KindPaid, order.KindWMSReceived, order.KindWMSPicked,
	order.KindWMSPacked, order.KindWMSOutbound, order.KindCollected, order.KindInTransit,
	order.KindOutForDelivery, order.KindDelivered,
}

type transitionCase struct {
	rule string
	cur  Stage
	kind order.Kind
	want Stage
}

// transitionTable spells out the stage machine: hand-picked examples first,
// then every (stage, kind) pair each rule speaks about.
func transitionTable() []transitionCase {
	cs := []transitionCase{
		// Happy path, one step at a time.
		{"progress", StageCreated, order.KindCreated, StageCreated},
		{"progress", StageCreated, order.KindPaid, StagePaid},
		{"progress", StagePaid, order.KindWMSReceived, StageInWarehouse},
		{"progress", StageInWarehouse, order.KindWMSPicked, StagePicked},
		{"progress", StagePicked, order.KindWMSPacked, StagePacked},
		{"progress", StagePacked, order.KindWMSOutbound, StageOutbound},
		{"progress", StageOutbound, order.KindCollected, StageCollected},
		{"progress", StageCollected, order.KindInTransit, StageInTransit},
		{"progress", StageInTransit, order.KindOutForDelivery, StageOutForDelivery},
		{"progress", StageOutForDelivery, order.KindDelivered, StageDelivered},
		// Lost events: skip ahead.
		{"skip lost", StageCreated, order.KindWMSReceived, StageInWarehouse},
		{"skip lost", StagePacked, order.KindCollected, StageCollected},
		{"skip lost", StageCreated, order.KindDelivered, StageDelivered},
		// Late events: never backwards.
		{"late", StagePacked, order.KindPaid, StagePacked},
		{"late", StageInTransit, order.KindWMSOutbound, StageInTransit},
		{"late", StageOutbound, order.KindCreated, StageOutbound},
		{"repeat", StagePicked, order.KindWMSPicked, StagePicked},
		// Cancellation.
		{"cancel before shipping", StagePacked, order.KindCancelled, StageCancelled},
		{"cancel after shipping", StageOutbound, order.KindCancelled, StageOutbound},
		{"cancel after failure", StageDeliveryFailed, order.KindCancelled, StageDeliveryFailed},
		{"cancelled then shipped", StageCancelled, order.KindWMSOutbound, StageCancelled},
		{"cancelled then returned", StageCancelled, order.KindReturned, StageCancelled},
		{"cancelled then refunded", StageCancelled, order.KindRefundCompleted, StageRefunded},
		// Delivery failure and re-attempts.
		{"failed", StageInTransit, order.KindDeliveryFailed, StageDeliveryFailed},
		{"failed then re-attempt", StageDeliveryFailed, order.KindOutForDelivery, StageOutForDelivery},
		{"failed then delivered", StageDeliveryFailed, order.KindDelivered, StageDelivered},
		{"failed then late transit", StageDeliveryFailed, order.KindInTransit, StageDeliveryFailed},
		{"failed after delivered", StageDelivered, order.KindDeliveryFailed, StageDelivered},
		// Returns and refunds.
		{"returned", StageDelivered, order.KindReturned, StageReturned},
		{"returned in transit", StageInTransit, order.KindReturned, StageReturned},
		{"returned after refund", StageRefunded, order.KindReturned, StageRefunded},
		{"refund requested", StageDelivered, order.KindRefundRequested, StageDelivered},
		{"refunded", StageReturned, order.KindRefundCompleted, StageRefunded},
		{"refunded is final", StageRefunded, order.KindDelivered, StageRefunded},
		// Unknown kind.
		{"unknown kind", StagePaid, order.Kind("wms.exploded"), StagePaid},
	}

	// Progress among happy-path stages: forward only.
	for _, cur := range progressStages[:len(progressStages)-1] { // DELIVERED below
		cr, _ := progressRank(cur)
		for _, k := range progressKinds {
			target, _ := progressTarget(k)
			tr, _ := progressRank(target)
			want := cur
			if tr > cr {
				want = target
			}
			cs = append(cs, transitionCase{"progress only forward", cur, k, want})
		}
	}
	// address_changed and refund.requested never change the stage.
	for _, cur := range Stages {
		for _, k := range []order.Kind{order.KindAddressChanged, order.KindRefundRequested} {
			cs = append(cs, transitionCase{"no stage change", cur, k, cur})
		}
	}
	// order.cancelled: only before OUTBOUND.
	for _, cur := range Stages {
		want := cur
		switch cur {
		case StageCreated, StagePaid, StageInWarehouse, StagePicked, StagePacked:
			want = StageCancelled
		}
		cs = append(cs, transitionCase{"cancel before OUTBOUND only", cur, order.KindCancelled, want})
	}
	// courier.failed from any non-final stage.
	for _, cur := range Stages {
		want := StageDeliveryFailed
		if cur.Final() {
			want = cur
		}
		cs = append(cs, transitionCase{"failed from non-final", cur, order.KindDeliveryFailed, want})
	}
	// From DELIVERY_FAILED only OUT_FOR_DELIVERY and DELIVERED move on.
	for _, k := range progressKinds {
		want := StageDeliveryFailed
		switch k {
		case order.KindOutForDelivery:
			want = StageOutForDelivery
		case order.KindDelivered:
			want = StageDelivered
		}
		cs = append(cs, transitionCase{"from DELIVERY_FAILED", StageDeliveryFailed, k, want})
	}
	// courier.returned from any stage but REFUNDED (and CANCELLED).
	for _, cur := range Stages {
		want := StageReturned
		if cur == StageRefunded || cur == StageCancelled {
			want = cur
		}
		cs = append(cs, transitionCase{"returned", cur, order.KindReturned, want})
	}
	// refund.completed from any stage.
	for _, cur := range Stages {
		cs = append(cs, transitionCase{"refund completed", cur, order.KindRefundCompleted, StageRefunded})
	}
	for _, k := range order.Kinds {
		// REFUNDED is absorbing.
		cs = append(cs, transitionCase{"REFUNDED absorbing", StageRefunded, k, StageRefunded})
		// CANCELLED and RETURNED accept only refund.completed.
		if k != order.KindRefundCompleted {
			cs = append(cs,
				transitionCase{"CANCELLED only refund", StageCancelled, k, StageCancelled},
				transitionCase{"RETURNED only refund", StageReturned, k, StageReturned})
		}
		// DELIVERED accepts only courier.returned and refund.completed.
		if k != order.KindRefundCompleted && k != order.KindReturned {
			cs = append(cs, transitionCase{"DELIVERED only return/refund", StageDelivered, k, StageDelivered})
		}
	}
	return cs
}

func TestTransition(t *testing.T) {
	for _, c := range transitionTable() {
		t.Run(fmt.Sprintf("%s/%s+%s", c.rule, c.cur, c.kind), func(t *testing.T) {
			if got := Transition(c.cur, c.kind); got != c.want {
				t.Errorf("Transition(%s, %s) = %s, want %s", c.cur, c.kind, got, c.want)
			}
		})
	}
}

// The table speaks about every (stage, kind) pair, and rows never disagree.
func TestTransitionTableComplete(t *testing.T) {
	type pair struct {
		s Stage
		k order.Kind
	}
	seen := map[pair]Stage{}
	for _, c := range transitionTable() {
		p := pair{c.cur, c.kind}
		if w, ok := seen[p]; ok && w != c.want {
			t.Errorf("table disagrees on %s+%s: %s and %s", c.cur, c.kind, w, c.want)
		}
		seen[p] = c.want
	}
	for _, s := range Stages {
		for _, k := range order.Kinds {
			if _, ok := seen[pair{s, k}]; !ok {
				t.Errorf("no row for %s+%s", s, k)
			}
			if got := Transition(s, k); !got.Valid() {
				t.Errorf("Transition(%s, %s) = invalid %q", s, k, got)
			}
		}
	}
}

func TestStages(t *testing.T) {
	want := []string{"CREATED", "PAID", "IN_WAREHOUSE", "PICKED", "PACKED", "OUTBOUND",
		"COLLECTED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED", "CANCELLED",
		"REFUNDED", "DELIVERY_FAILED", "RETURNED"}
	if len(Stages) != len(want) {
		t.Fatalf("len(Stages) = %d, want %d", len(Stages), len(want))
	}
	for i, s := range Stages {
		if string(s) != want[i] {
			t.Errorf("Stages[%d] = %s, want %s", i, s, want[i])
		}
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
		final := s == StageDelivered || s == StageCancelled || s == StageRefunded || s == StageReturned
		if s.Final() != final {
			t.Errorf("%s.Final() = %v, want %v", s, s.Final(), final)
		}
	}
	for _, s := range []Stage{"", "created", "SHIPPED", "DELIVERED "} {
		if s.Valid() {
			t.Errorf("%q valid", s)
		}
		if s.Final() {
			t.Errorf("%q final", s)
		}
	}
}

func TestParseStage(t *testing.T) {
	tests := []struct {
		in      string
		want    Stage
		wantErr bool
	}{
		{"CREATED", StageCreated, false},
		{"OUT_FOR_DELIVERY", StageOutForDelivery, false},
		{"in_transit", StageInTransit, false},
		{" Delivery_Failed ", StageDeliveryFailed, false},
		{"", "", true},
		{"SHIPPED", "", true},
		{"OUT FOR DELIVERY", "", true},
	}
	for _, tt := range tests {
		got, err := ParseStage(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseStage(%q) = %q, %v; want %q, err %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
	for _, s := range Stages {
		if got, err := ParseStage(string(s)); err != nil || got != s {
			t.Errorf("ParseStage(%q) = %q, %v", s, got, err)
		}
	}
}
