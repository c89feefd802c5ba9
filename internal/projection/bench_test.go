package projection_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/projection"
)

// BenchmarkApply measures the twin projection: one op is one bus message of
// 20 events (a typical group commit under load), each for a fresh or an
// existing order. Reports events/s.
func BenchmarkApply(b *testing.B) {
	p, _ := newTwins(b)
	ctx := ctxT(b)
	n := 0
	start := time.Now()
	for b.Loop() {
		evs := make([]order.Event, 0, 20)
		for i := range 10 {
			k := uniqueKey(fmt.Sprintf("B%d", i))
			evs = append(evs, event(k, "c-"+k.OrderNo, order.KindCreated, 0), event(k, "p-"+k.OrderNo, order.KindPaid, 1))
		}
		if _, err := p.Apply(ctx, evs); err != nil {
			b.Fatal(err)
		}
		n += len(evs)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}

// lifecycle is the path an order takes in BenchmarkApplyLifecycle.
var lifecycle = []order.Kind{
	order.KindCreated, order.KindPaid, order.KindWMSReceived, order.KindWMSPicked, order.KindWMSPacked,
	order.KindWMSOutbound, order.KindCollected, order.KindInTransit, order.KindOutForDelivery, order.KindDelivered,
}

// BenchmarkApplyLifecycle measures the projection as a fulfilment day
// loads it: one op is one bus message of 20 events, each moving a different
// existing order one step along its lifecycle (created to delivered), with
// the facts the figures read (shop, warehouse, courier, deadlines, the
// packer). Every op changes 20 twins' stages and timestamps. With rollups
// on, the op also keeps the figure rollups of those changes. Reports
// events/s.
func BenchmarkApplyLifecycle(b *testing.B) {
	b.Run("rollups=off", func(b *testing.B) {
		p, _ := newTwins(b)
		benchLifecycle(b, p)
	})
	b.Run("rollups=on", func(b *testing.B) {
		p, _ := newFigureTwins(b)
		benchLifecycle(b, p)
	})
}

func benchLifecycle(b *testing.B, p *projection.Twins) {
	ctx := ctxT(b)
	const inFlight = 20 * 10 // 20 orders at each of the 10 steps
	keys := make([]order.Key, 0, inFlight)
	step := make([]int, 0, inFlight)
	for i := range inFlight {
		keys = append(keys, uniqueKey(fmt.Sprintf("L%d", i%20)))
		step = append(step, -(i / 20)) // staggered: 20 orders start per op
	}
	n, op := 0, 0
	start := time.Now()
	for b.Loop() {
		evs := make([]order.Event, 0, 20)
		for i := range keys {
			if len(evs) == 20 {
				break
			}
			j := (op*20 + i) % inFlight
			s := step[j]
			step[j]++
			if s < 0 {
				continue
			}
			if s >= len(lifecycle) { // delivered: a fresh order takes its place
				keys[j], step[j], s = uniqueKey(fmt.Sprintf("L%d", j%20)), 1, 0
			}
			evs = append(evs, lifecycleEvent(keys[j], s))
		}
		op++
		if _, err := p.Apply(ctx, evs); err != nil {
			b.Fatal(err)
		}
		n += len(evs)
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "events/s")
}

// lifecycleEvent is step s of k's lifecycle, s*7 minutes after t0, with the
// data its system would send.
func lifecycleEvent(k order.Key, s int) order.Event {
	kind := lifecycle[s]
	e := event(k, fmt.Sprintf("%s-%d", k.OrderNo, s), kind, s*7)
	switch kind {
	case order.KindCreated:
		shipBy, promisedBy := t0.Add(24*time.Hour), t0.Add(72*time.Hour)
		amount := order.Money(12900)
		e.Data = order.Data{
			Shop: "flagship", Amount: &amount, ShipBy: &shipBy, PromisedBy: &promisedBy,
			Receiver: &order.Receiver{Name: "张三", Phone: "13800001234", Province: "浙江省", City: "杭州市", Address: "文三路 1 号"},
			Items:    []order.Item{{SKU: "SKU-1", Qty: 1, Price: amount}},
		}
	case order.KindWMSReceived, order.KindWMSPicked, order.KindWMSPacked:
		e.Data = order.Data{Warehouse: "HZ-01"}
	case order.KindWMSOutbound:
		e.Data = order.Data{Warehouse: "HZ-01", Courier: "SF", TrackingNo: "SF" + k.OrderNo}
	}
	return e
}
