package projection_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
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
