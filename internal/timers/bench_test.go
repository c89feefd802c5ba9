package timers

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

// benchDB is a migrated database of the benchmark's own, so a million
// ballast rows never meet the tests.
func benchDB(b *testing.B) *bun.DB {
	b.Helper()
	db := pgtest.NewDB(b, "timers_bench")
	if err := migrations.Migrate(b.Context(), db, quiet); err != nil {
		b.Fatal(err)
	}
	return db
}

// BenchmarkSchedule reports how fast timers are armed and moved in batches
// of 1000 (one statement each), each batch in its own transaction.
func BenchmarkSchedule(b *testing.B) {
	db := benchDB(b)
	ctx := b.Context()
	const batch, batches = 1000, 200
	due := time.Now().Add(time.Hour)
	run := func(prefix string, shift time.Duration) float64 {
		start := time.Now()
		ts := make([]Timer, batch)
		for j := range batches {
			for i := range ts {
				ts[i] = Timer{
					Key:     fmt.Sprintf("rule:outbound_not_collected:%s/%d", prefix, j*batch+i),
					Kind:    "outbound_not_collected",
					Payload: []byte(`{"channel":"tmall"}`),
					DueAt:   due.Add(shift + time.Duration(rand.IntN(3600_000))*time.Millisecond),
				}
			}
			if err := Schedule(ctx, db, ts...); err != nil {
				b.Fatal(err)
			}
		}
		return batch * batches / time.Since(start).Seconds()
	}
	b.ResetTimer()
	var ins, upd float64
	for n := range b.N {
		ins = run(fmt.Sprint(n), 0)
		upd = run(fmt.Sprint(n), time.Minute) // same keys: the upsert moves them
	}
	b.StopTimer()
	b.ReportMetric(ins, "new-timers/s")
	b.ReportMetric(upd, "moved-timers/s")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkFiringLag runs a Scheduler on the wall clock over a million
// pending timers spread over the next hour (about 280 of which come due
// each second), plus a trickle of 1000/s scheduled to come due within the
// next half second, and reports the firing lag of every timer that came due
// during the run; then it drops a burst of 100,000 timers due at once and
// reports how fast the backlog drains.
func BenchmarkFiringLag(b *testing.B) {
	db := benchDB(b)
	ctx := b.Context()
	const (
		ballast = 1_000_000
		steady  = 5 * time.Second
		burst   = 100_000
	)
	setup := time.Now()
	if _, err := db.DB.ExecContext(ctx, `
		INSERT INTO timers (key, kind, payload, due_at)
		SELECT 'rule:promised_ship_by:tmall/' || g, 'ballast', '{"channel":"tmall"}',
			$1::timestamptz + g * interval '3.6 ms'
		FROM generate_series(1, $2::int) g`, time.Now(), ballast); err != nil {
		b.Fatal(err)
	}
	if _, err := db.DB.ExecContext(ctx, `VACUUM ANALYZE timers`); err != nil {
		b.Fatal(err)
	}
	b.Logf("inserted %d pending timers in %v", ballast, time.Since(setup).Round(time.Millisecond))

	var (
		mu        sync.Mutex
		lags      []time.Duration // of timers due after runStart
		runStart  time.Time
		fired     atomic.Int64
		burstLeft atomic.Int64
	)
	h := func(ctx context.Context, tx bun.Tx, fs []Fired) error {
		mu.Lock()
		defer mu.Unlock()
		for _, f := range fs {
			switch {
			case f.Kind == "burst":
				burstLeft.Add(-1)
			case !f.DueAt.Before(runStart):
				lags = append(lags, f.Lag)
			}
		}
		return nil
	}
	s := NewScheduler(db, h, Options{Logger: quiet, OnFire: func(time.Duration) { fired.Add(1) }})

	b.ResetTimer()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	mu.Lock()
	runStart = time.Now()
	mu.Unlock()
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()

	// The trickle: 10 timers every 10ms, due within 500ms.
	trickleCtx, stopTrickle := context.WithCancel(ctx)
	var trickled atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		ts := make([]Timer, 10)
		for i := 0; ; i++ {
			select {
			case <-trickleCtx.Done():
				return
			case <-t.C:
			}
			now := time.Now()
			for j := range ts {
				ts[j] = Timer{Key: fmt.Sprintf("rule:paid_not_in_wms:jd/%d-%d", i, j), Kind: "trickle",
					DueAt: now.Add(time.Duration(rand.IntN(500)) * time.Millisecond)}
			}
			if err := Schedule(trickleCtx, db, ts...); err != nil {
				if trickleCtx.Err() == nil {
					b.Error(err)
				}
				return
			}
			trickled.Add(int64(len(ts)))
		}
	})
	time.Sleep(steady)
	stopTrickle()
	wg.Wait()
	steadyFired := fired.Load()
	elapsed := time.Since(runStart)

	mu.Lock()
	sorted := slices.Clone(lags)
	mu.Unlock()
	slices.Sort(sorted)
	pct := func(p float64) float64 {
		if len(sorted) == 0 {
			return 0
		}
		return float64(sorted[min(len(sorted)-1, int(p*float64(len(sorted))))]) / float64(time.Millisecond)
	}

	// The burst: 100,000 timers due at once.
	burstLeft.Store(burst)
	bStart := time.Now()
	if _, err := db.DB.ExecContext(ctx, `
		INSERT INTO timers (key, kind, due_at)
		SELECT 'rule:outbound_not_collected:burst/' || g, 'burst', $1::timestamptz
		FROM generate_series(1, $2::int) g`, bStart, burst); err != nil {
		b.Fatal(err)
	}
	inserted := time.Since(bStart)
	for burstLeft.Load() > 0 {
		if time.Since(bStart) > 30*time.Second {
			b.Fatalf("burst not drained after 30s: %d left", burstLeft.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	drain := time.Since(bStart)
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()

	left, err := s.Pending(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("steady %v: %d fired (%d due during the run, %d trickled); lag p50 %.1fms p99 %.1fms max %.1fms; %d pending",
		elapsed.Round(time.Millisecond), steadyFired, len(sorted), trickled.Load(), pct(0.5), pct(0.99), pct(1), left)
	b.Logf("burst of %d: inserted in %v, all fired %v after insert began (%.0f timers/s)",
		burst, inserted.Round(time.Millisecond), drain.Round(time.Millisecond), burst/(drain-inserted).Seconds())
	b.ReportMetric(pct(0.5), "p50-lag-ms")
	b.ReportMetric(pct(0.99), "p99-lag-ms")
	b.ReportMetric(pct(1), "max-lag-ms")
	b.ReportMetric(float64(steadyFired)/elapsed.Seconds(), "fired/s")
	b.ReportMetric(burst/(drain-inserted).Seconds(), "burst-timers/s")
	b.ReportMetric(0, "ns/op")
}
