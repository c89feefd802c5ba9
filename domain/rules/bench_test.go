package rules

import (
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
)

// BenchmarkEvalDefaults: every default rule compiled once, then, per
// event, NewEnv plus an evaluation of every rule (whether or not it
// listens to the event: the worst case). A typical event: order.paid on a
// created order with a full receiver, two lines and a buyer message.
// Sub-benchmarks: Eval (Env by value) and EvalRef (shared *Env).
func BenchmarkEvalDefaults(b *testing.B) {
	ps, err := CompileAll(Defaults())
	if err != nil {
		b.Fatal(err)
	}
	first := created(data(func(d *order.Data) {
		d.Items = append(d.Items, order.Item{SKU: "SKU-2", Qty: 2, Price: 4990})
		d.BuyerMessage = "请尽快发货"
	}))
	trigger := paid()
	tw := twinOf(first, trigger)
	f := Features{OrdersFromIP1h: 2, OrdersFromPhone1h: 1, OrdersFromAddress1h: 1, SamePhoneAddressItem10m: 1,
		BuyerOrderCount: 4, BuyerMeanAmount: 150, ShopOrderCount: 1000, ShopMeanAmount: 180}
	now := trigger.OccurredAt.Add(time.Second)

	report := func(b *testing.B) {
		perEvent := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(perEvent, "ns/event-all-rules")
		b.ReportMetric(perEvent/float64(len(ps)), "ns/rule")
		b.ReportMetric(float64(len(ps)), "rules")
	}
	b.Run("Eval", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			env := NewEnv(&trigger, tw, f, now)
			for _, p := range ps {
				if _, err := p.Eval(env); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b)
	})
	b.Run("EvalRef", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			env := NewEnv(&trigger, tw, f, now)
			for _, p := range ps {
				if _, err := p.EvalRef(&env); err != nil {
					b.Fatal(err)
				}
			}
		}
		report(b)
	})
	b.Run("NewEnv", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = NewEnv(&trigger, tw, f, now)
		}
	})
}
