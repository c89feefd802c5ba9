package app

import (
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkIngestHTTP measures durable ingest over real HTTP: signed
// webhooks of `batch` events from 32 concurrent senders, each answered only
// after its group commit. Reports events/s and the p50/p99 answer latency.
func BenchmarkIngestHTTP(b *testing.B) {
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("events_per_webhook=%d", batch), func(b *testing.B) {
			s := startServer(b)
			run := uniq("BI")
			var seq atomic.Int64
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(16) // 16 x GOMAXPROCS senders
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					evs := make([]map[string]any, batch)
					for i := range evs {
						no := fmt.Sprintf("%s-%d-%d", run, n, i)
						evs[i] = ev("e-"+no, "order.paid", "douyin", no, time.Now(), map[string]any{"amount": "99.00", "warehouse": "HZ-01"})
					}
					t0 := time.Now()
					st, body := s.send(b, fmt.Sprintf("d-%s-%d", run, n), evs...)
					d := time.Since(t0)
					if st != 200 {
						b.Errorf("status %d %v", st, body)
						return
					}
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
			elapsed := time.Since(start)
			b.StopTimer()
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			if len(lat) > 0 {
				b.ReportMetric(float64(len(lat)*batch)/elapsed.Seconds(), "events/s")
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
				b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
			}
		})
	}
}

// BenchmarkWebhookToPush measures the spine's latency: a signed webhook sent
// over HTTP until the matching orderUpdated push arrives on a websocket.
func BenchmarkWebhookToPush(b *testing.B) {
	s := startServer(b)
	c := dialGraphQL(b, s.URL, "graphql-transport-ws", nil)
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		no := uniq("L")
		ch, _ := c.subscribe(fmt.Sprint("l", i), orderSub, map[string]any{"c": "tmall", "n": no})
		time.Sleep(20 * time.Millisecond) // subscription registered
		t0 := time.Now()
		s.send(b, "l-"+no, ev("l-"+no, "order.paid", "tmall", no, time.Now(), nil))
		var raw json.RawMessage
		select {
		case raw = <-ch:
		case <-time.After(60 * time.Second):
			b.Fatal("no push within 60s")
		}
		_ = raw
		lat = append(lat, time.Since(t0))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkPipeline measures the whole path a detection waits for: signed
// webhooks over HTTP from 32 senders, group commit, the bus, the twin
// projection with every default rule, feature and deadline timer, until
// the last order is projected. One op is one webhook of `batch` events
// (an order's creation with buyer details, then its payment). Reports
// ingest events/s and pipeline events/s (sent → projected).
func BenchmarkPipeline(b *testing.B) {
	for _, batch := range []int{2, 20} {
		b.Run(fmt.Sprintf("events_per_webhook=%d", batch), func(b *testing.B) {
			s := startServer(b)
			run := uniq("BP")
			var seq atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := seq.Add(1)
					evs := make([]map[string]any, 0, batch)
					for i := 0; i < batch; i += 2 {
						no := fmt.Sprintf("%s-%d-%d", run, n, i)
						at := time.Now()
						evs = append(evs,
							ev("c-"+no, "order.created", "douyin", no, at, map[string]any{
								"amount": "129.00", "buyerId": fmt.Sprintf("b%d", n%5000), "buyerIp": fmt.Sprintf("10.%d.%d.%d", n>>16&255, n>>8&255, n&255+int64(i)),
								"shop": "bench", "warehouse": "HZ-01",
								"receiver": map[string]any{"name": "王伟", "phone": fmt.Sprintf("138%08d", n*100+int64(i)), "province": "浙江省", "city": "杭州市", "district": "西湖区", "address": fmt.Sprintf("文三路 %d 号 %d 室", n%300+1, i+100)},
								"items":    []map[string]any{{"sku": "CRM-02", "qty": 1, "price": "129.00"}},
							}),
							ev("p-"+no, "order.paid", "douyin", no, at.Add(time.Second), map[string]any{"amount": "129.00"}))
					}
					if st, body := s.send(b, fmt.Sprintf("d-%s-%d", run, n), evs...); st != 200 {
						b.Errorf("status %d %v", st, body)
						return
					}
				}
			})
			sent := time.Since(start)
			total := int(seq.Load()) * batch
			// Done when the projection's consumer group has acknowledged the
			// last message stored: a cheap check, unlike counting orders.
			var last, acked int64
			if err := testDB.NewRaw(`SELECT coalesce(max("offset"), 0) FROM watermill_order_events_v1`).Scan(b.Context(), &last); err != nil {
				b.Fatal(err)
			}
			for deadline := time.Now().Add(5 * time.Minute); acked < last && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
				if err := testDB.NewRaw(`SELECT coalesce(max(offset_acked), 0) FROM watermill_offsets_order_events_v1 WHERE consumer_group = 'twin-projection'`).Scan(b.Context(), &acked); err != nil {
					b.Fatal(err)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			var projected int
			if err := testDB.NewRaw(`SELECT count(*) FROM orders WHERE order_no LIKE ? AND stage = 'PAID'`, run+"-%").Scan(b.Context(), &projected); err != nil {
				b.Fatal(err)
			}
			if projected*2 != total {
				b.Fatalf("%d of %d orders projected", projected, total/2)
			}
			b.ReportMetric(float64(total)/sent.Seconds(), "ingest-events/s")
			b.ReportMetric(float64(total)/elapsed.Seconds(), "pipeline-events/s")
		})
	}
}
