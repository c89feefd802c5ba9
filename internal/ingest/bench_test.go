package ingest_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/ingest"
)

// BenchmarkGroupCommit measures ingest throughput with 64 concurrent
// clients: one op is 64 deliveries submitted at once (one per client), each
// waiting until its commit is durable; wait is Options.BatchWait (2ms is
// the configured default).
func BenchmarkGroupCommit(b *testing.B) {
	const clients = 64
	for _, tc := range []struct {
		perDelivery int
		wait        time.Duration
	}{{1, 0}, {1, 2 * time.Millisecond}, {100, 0}} {
		perDelivery := tc.perDelivery
		b.Run(fmt.Sprintf("events=%d/wait=%s", perDelivery, tc.wait), func(b *testing.B) {
			src := uniqueSource(b.Name())
			c, m := startCommitter(b, ingest.Options{BatchWait: tc.wait})
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

// BenchmarkGroupCommitSenders is single-event webhooks at saturation: 32
// senders, each submitting its next delivery as soon as the last is
// durable (closed loop), with the configured batch wait.
func BenchmarkGroupCommitSenders(b *testing.B) {
	src := uniqueSource(b.Name())
	c, m := startCommitter(b, ingest.Options{BatchWait: 2 * time.Millisecond})
	var seq atomic.Int64
	ctx := ctxT(b)
	var failed atomic.Int64
	b.SetParallelism(16) // 32 senders on 2 cores
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := seq.Add(1)
			res, err := c.Submit(ctx, delivery(src, fmt.Sprint("d-", n), ev(src, fmt.Sprint("e-", n))))
			if err != nil || res.Accepted != 1 {
				failed.Add(1)
			}
		}
	})
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d deliveries failed or were not accepted", n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if n, deliveries := commits(b, m); n > 0 {
		b.ReportMetric(deliveries/float64(n), "deliveries/commit")
	}
}
