package bench

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	dfigures "github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/internal/figures"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/storage"
	"github.com/towerhq/tower/migrations"
)

// A small generated history is one the figures reader and the lookups
// answer as generated: every order counted once, per channel and shop,
// the backlog what the twins say, the rollups what a rebuild from the
// twins gives, and each order found by its number, tracking number and
// phone tail.
func TestGenerateHistory(t *testing.T) {
	ctx := context.Background()
	dsn, _ := pgtest.CreateDB(t, "history")
	db, err := pgtest.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := migrations.Migrate(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	const n = 2000
	end := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	spec := HistorySpec{Orders: n, Days: 90, End: end, Seed: 7, MinuteRetention: 48 * time.Hour, Settings: dfigures.DefaultSettings()}
	st, err := GenerateHistory(ctx, dsn, spec, func(int, string) {})
	if err != nil {
		t.Fatal(err)
	}
	count := func(q string, args ...any) int64 {
		t.Helper()
		var c int64
		if err := db.QueryRowContext(ctx, q, args...).Scan(&c); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return c
	}

	t.Run("TablesHoldWhatWasGenerated", func(t *testing.T) {
		for _, c := range []struct {
			what      string
			got, want int64
		}{
			{"orders", count(`SELECT count(*) FROM orders`), n},
			{"events", count(`SELECT count(*) FROM order_events`), st.Events},
			{"events of orders that exist", count(`SELECT count(*) FROM order_events e JOIN orders o USING (channel, order_no)`), st.Events},
			{"events per order, in the twins", count(`SELECT sum(jsonb_array_length(twin->'timeline')) FROM orders`), st.Events},
			{"stage counts", count(`SELECT sum(count) FROM stage_counts`), n},
			{"stage counts that differ from the twins", count(`SELECT count(*) FROM stage_counts s FULL JOIN (SELECT stage, count(*) AS c FROM orders GROUP BY stage) o USING (stage) WHERE s.count IS DISTINCT FROM o.c`), 0},
			{"tracking numbers", count(`SELECT count(*) FROM tracking_numbers t JOIN orders o USING (channel, order_no) WHERE o.twin->'details'->>'trackingNo' = t.tracking_no`), st.TrackingNumbers},
			{"orders without a phone tail", count(`SELECT count(*) FROM orders WHERE phone_tail = ''`), 0},
			{"alerts", count(`SELECT count(*) FROM alerts`), st.Alerts},
			{"work items", count(`SELECT count(*) FROM work_items`), st.WorkItems},
			{"alerted orders without the rule's tag", count(`SELECT count(*) FROM alerts a JOIN orders o USING (channel, order_no) WHERE o.tags = '{}'`), 0},
		} {
			if c.got != c.want {
				t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
			}
		}
		if st.Events < 7*n || st.Events > 10*n {
			t.Errorf("%d events for %d orders: want about 8 each", st.Events, n)
		}
		if len(st.Stages) < 6 {
			t.Errorf("orders in %d stages (%v): want a history in every part of the lifecycle", len(st.Stages), st.Stages)
		}
	})

	r := figures.NewReader(db, figures.ReaderOptions{
		Settings: spec.Settings, MinuteRetention: spec.MinuteRetention, Goals: dfigures.DefaultGoals(),
		HealthWindow: 24 * time.Hour, BacklogSLA: 2 * time.Hour,
	})
	start := end.Add(-90 * 24 * time.Hour)
	t.Run("FiguresCountEveryOrderOnce", func(t *testing.T) {
		w, err := r.Figures(ctx, dfigures.Filter{}, start, end, end)
		if err != nil {
			t.Fatal(err)
		}
		if w.Created != n {
			t.Errorf("created in the whole history: %d, want %d", w.Created, n)
		}
		if paid := count(`SELECT count(*) FROM orders WHERE twin->'systems'->'channel' IS NOT NULL AND twin::text LIKE '%order.paid%'`); w.Paid != paid {
			t.Errorf("paid: %d, want %d", w.Paid, paid)
		}
		for key, want := range st.Created {
			ch, shop, _ := strings.Cut(key, "/")
			w, err := r.Figures(ctx, dfigures.Filter{Channels: []string{ch}, Shops: []string{shop}}, start, end, end)
			if err != nil {
				t.Fatal(err)
			}
			if w.Created != want {
				t.Errorf("created in %s: %d, want %d", key, w.Created, want)
			}
		}
		var open int64
		for _, b := range w.Backlog {
			open += b.Count
		}
		var stages []string
		for _, s := range twin.Stages {
			if dfigures.Backlogged(s) {
				stages = append(stages, "'"+string(s)+"'")
			}
		}
		if want := count(`SELECT count(*) FROM orders WHERE stage IN (` + strings.Join(stages, ",") + `)`); open != want {
			t.Errorf("open backlog: %d, want the %d twins in open stages", open, want)
		}
		day, err := r.Figures(ctx, dfigures.Filter{}, end.Add(-24*time.Hour), end, end)
		if err != nil {
			t.Fatal(err)
		}
		if want := count(`SELECT count(*) FROM orders WHERE created_at >= ?`, end.Add(-24*time.Hour)); day.Created != want || want == 0 {
			t.Errorf("created in the last day: %d, want %d (and some)", day.Created, want)
		}
	})

	t.Run("RollupsAreWhatARebuildGives", func(t *testing.T) {
		snapshot := func() map[string]int64 {
			rows, err := db.QueryContext(ctx, `
				SELECT format('%s %s %s %s %s %s %s %s', res, at, channel, shop, warehouse, courier, metric, label), n FROM figure_rollups
				WHERE (res = 60 OR at >= ?) AND n <> 0
				UNION ALL
				SELECT format('open %s %s %s %s %s %s %s', since, channel, shop, warehouse, courier, metric, label), n FROM figure_open WHERE n <> 0`,
				end.Add(-spec.MinuteRetention).Truncate(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			out := map[string]int64{}
			for rows.Next() {
				var k string
				var v int64
				if err := rows.Scan(&k, &v); err != nil {
					t.Fatal(err)
				}
				out[k] = v
			}
			return out
		}
		generated := snapshot()
		if _, err := figures.New(spec.Settings).Rebuild(ctx, db, end); err != nil {
			t.Fatal(err)
		}
		rebuilt := snapshot()
		diff := 0
		for k, v := range rebuilt {
			if generated[k] != v {
				if diff++; diff <= 5 {
					t.Errorf("%s: generated %d, rebuilt %d", k, generated[k], v)
				}
			}
		}
		for k, v := range generated {
			if _, ok := rebuilt[k]; !ok {
				if diff++; diff <= 5 {
					t.Errorf("%s: generated %d, not in the rebuild", k, v)
				}
			}
		}
		if diff > 0 || len(generated) == 0 {
			t.Errorf("%d of %d rollup rows differ from a rebuild", diff, len(rebuilt))
		}
	})

	t.Run("LookupsFindTheOrders", func(t *testing.T) {
		orders := storage.NewOrders(db)
		rows, err := db.QueryContext(ctx, `SELECT o.channel, o.order_no, coalesce(t.tracking_no, ''), o.phone_tail FROM orders o
			LEFT JOIN tracking_numbers t USING (channel, order_no) ORDER BY o.id LIMIT 40`)
		if err != nil {
			t.Fatal(err)
		}
		type target struct{ ch, no, tn, tail string }
		var ts []target
		for rows.Next() {
			var x target
			if err := rows.Scan(&x.ch, &x.no, &x.tn, &x.tail); err != nil {
				t.Fatal(err)
			}
			ts = append(ts, x)
		}
		rows.Close()
		tracked := 0
		for _, x := range ts {
			hits, err := orders.LookupOrders(ctx, x.no, "", 20)
			if err != nil {
				t.Fatal(err)
			}
			if len(hits) != 1 || hits[0].Order.Twin.Key.OrderNo != x.no || hits[0].Via != "order_no" {
				t.Errorf("lookup %s: %d hits, want that order by its number", x.no, len(hits))
			}
			if x.tn != "" {
				tracked++
				hits, err := orders.LookupOrders(ctx, x.tn, "", 20)
				if err != nil {
					t.Fatal(err)
				}
				if len(hits) != 1 || hits[0].Order.Twin.Key.OrderNo != x.no || hits[0].Via != "tracking_no" {
					t.Errorf("lookup %s: %d hits, want %s by its tracking number", x.tn, len(hits), x.no)
				}
			}
			hits, err = orders.LookupOrders(ctx, x.tail, x.ch, 20)
			if err != nil {
				t.Fatal(err)
			}
			want := count(`SELECT count(*) FROM orders WHERE phone_tail = ? AND channel = ?`, x.tail, x.ch)
			found := false
			for _, h := range hits {
				found = found || h.Order.Twin.Key.OrderNo == x.no
				if h.Via != "phone_tail" || h.Order.Twin.Details.Receiver.PhoneTail() != x.tail {
					t.Errorf("lookup %s: %s matched %s", x.tail, h.Order.Twin.Key, h.Via)
				}
			}
			if int64(len(hits)) != min(want, 20) || (want <= 20 && !found) {
				t.Errorf("lookup %s in %s: %d hits (with %s: %v), want %d", x.tail, x.ch, len(hits), x.no, found, min(want, 20))
			}
		}
		if tracked == 0 {
			t.Error("no looked-up order has a tracking number")
		}
	})
}

func TestCreationTimesFollowTheDay(t *testing.T) {
	end := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	start := end.Add(-90 * 24 * time.Hour)
	ts := creationTimes(100_000, start, end, 1)
	if len(ts) != 100_000 {
		t.Fatalf("%d times, want 100000", len(ts))
	}
	perHour := map[int]int{}
	for i, at := range ts {
		if at.Before(start) || !at.Before(end) || (i > 0 && at.Before(ts[i-1])) {
			t.Fatalf("time %d (%s) out of order or range", i, at)
		}
		perHour[at.In(dfigures.Shanghai).Hour()]++
	}
	if perHour[21] < 10*perHour[4] {
		t.Errorf("21:00 has %d orders, 04:00 %d: want the evening live streams far above the night", perHour[21], perHour[4])
	}
	bf, bt := liveBurst(end)
	var burst, before int
	for _, at := range ts {
		switch {
		case !at.Before(bf) && at.Before(bt):
			burst++
		case !at.Before(bf.Add(-24*time.Hour)) && at.Before(bt.Add(-24*time.Hour)):
			before++
		}
	}
	if burst < 4*before {
		t.Errorf("live-stream burst: %d orders, the same hours a day earlier %d: want a peak", burst, before)
	}
}

func BenchmarkBuildChunk(b *testing.B) {
	end := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	spec := HistorySpec{Orders: 1000, Days: 90, End: end, Seed: 7, MinuteRetention: 48 * time.Hour, Settings: dfigures.DefaultSettings()}
	times := creationTimes(1000, end.Add(-90*24*time.Hour), end, 7)
	ri := defaultRuleInfo()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildChunk(0, 1000, times, spec, ri, end.Add(-48*time.Hour)); err != nil {
			b.Fatal(fmt.Sprint(err))
		}
	}
}
