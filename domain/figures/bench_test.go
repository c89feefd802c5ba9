package figures

import (
	"testing"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
)

// BenchmarkDelta is the figures' share of one twin change in the
// projection: the facts and contribution of a delivered order's twin
// before and after its last event.
func BenchmarkDelta(b *testing.B) {
	s := DefaultSettings()
	es := []order.Event{
		ev(order.KindCreated, 0, order.Data{Shop: "flagship", ShipBy: ptr(at(600)), PromisedBy: ptr(at(3000))}),
		ev(order.KindPaid, 1, order.Data{}), ev(order.KindWMSReceived, 2, order.Data{Warehouse: "HZ-01"}),
		ev(order.KindWMSPicked, 20, order.Data{}), ev(order.KindWMSPacked, 30, order.Data{Packer: "P7"}),
		ev(order.KindWMSOutbound, 40, order.Data{Courier: "SF", TrackingNo: "SF1"}), ev(order.KindCollected, 90, order.Data{}),
		ev(order.KindInTransit, 300, order.Data{}), ev(order.KindOutForDelivery, 1900, order.Data{}),
	}
	before := twin.New(key)
	before.ApplyAll(es)
	after := before.Clone()
	after.Apply(ev(order.KindDelivered, 2000, order.Data{}))
	for b.Loop() {
		Delta(before, after, s)
	}
}
