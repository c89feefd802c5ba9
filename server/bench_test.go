package server

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
