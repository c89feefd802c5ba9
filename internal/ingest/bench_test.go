package ingest_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/ingest"
)

// BenchmarkGroupCommit measures ingest throughput with 64 concurrent
// clients: one op is 64 deliveries submitted at once (one per client), each
// waiting until its commit is durable.
func BenchmarkGroupCommit(b *testing.B) {
	const clients = 64
	for _, perDelivery := range []int{1, 100} {
		b.Run(fmt.Sprintf("events=%d", perDelivery), func(b *testing.B) {
			src := uniqueSource(b.Name())
			c, m := startCommitter(b, ingest.Options{})
			var seq atomic.Int64
			next := func() *ingest.Delivery {
				n := seq.Add(1)
				es := make([]order.Event, perDelivery)
				for j := range es {
					es[j] = ev(src, fmt.Sprintf("e-%d-%d", n, j))
				}
				return delivery(src, fmt.Sprint("d-", n), es...)
			}
			ctx := ctxT(b)
			var failed atomic.Int64
			for b.Loop() {
				var wg sync.WaitGroup
				for range clients {
					wg.Go(func() {
						res, err := c.Submit(ctx, next())
						if err != nil || res.Accepted != perDelivery {
							failed.Add(1)
						}
					})
				}
				wg.Wait()
			}
			if n := failed.Load(); n > 0 {
				b.Fatalf("%d deliveries failed or were not fully accepted", n)
			}
			events := float64(b.N) * clients * float64(perDelivery)
			b.ReportMetric(events/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(b.N)*clients/b.Elapsed().Seconds(), "deliveries/s")
			if n, deliveries := commits(b, m); n > 0 {
				b.ReportMetric(deliveries/float64(n), "deliveries/commit")
			}
		})
	}
}
