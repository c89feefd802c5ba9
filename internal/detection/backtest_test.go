package detection_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/internal/detection"
	"github.com/towerhq/tower/migrations"
)

// A backtest replays stateful features as the detector keeps them: the
// IP-burst rule hits the sixth and seventh orders from one address within
// the hour, not the first five nor an order from elsewhere; the amount rule
// judges a payment against the earlier payments of its main item.
func TestBacktestReplaysFeatures(t *testing.T) {
	ctx := context.Background()
	if err := migrations.Migrate(ctx, testDB, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 3, 1, 20, 0, 0, 0, time.UTC) // a range no other test writes
	store := func(id string, kind order.Kind, no string, at time.Time, d order.Data) {
		t.Helper()
		data, _ := json.Marshal(d)
		if _, err := testDB.ExecContext(ctx, `INSERT INTO order_events (source, event_id, kind, system, channel, order_no, occurred_at, received_at, data)
			VALUES ('bt', ?, ?, ?, 'douyin', ?, ?, ?, ?)`, id, string(kind), string(kind.DefaultSystem()), no, at, at, string(data)); err != nil {
			t.Fatal(err)
		}
	}
	money := func(s string) *order.Money {
		m, err := order.ParseMoney(s)
		if err != nil {
			t.Fatal(err)
		}
		return &m
	}
	for i := range 7 {
		no := fmt.Sprintf("BT-IP-%d", i)
		store("c-"+no, order.KindCreated, no, base.Add(time.Duration(i)*5*time.Minute), order.Data{BuyerIP: "203.0.113.9"})
	}
	store("c-BT-OTHER", order.KindCreated, "BT-OTHER", base.Add(31*time.Minute), order.Data{BuyerIP: "198.51.100.1"})
	// Two hours later the window has moved on: not a burst.
	store("c-BT-IP-LATE", order.KindCreated, "BT-IP-LATE", base.Add(3*time.Hour), order.Data{BuyerIP: "203.0.113.9"})
	for i := range 20 {
		no := fmt.Sprintf("BT-AMT-%d", i)
		store("p-"+no, order.KindPaid, no, base.Add(time.Duration(i)*time.Second), order.Data{Amount: money("40.00"), Shop: "bt",
			Items: []order.Item{{SKU: "CHEAP", Qty: 1, Price: *money("40.00")}}})
	}
	store("p-BT-AMT-BIG", order.KindPaid, "BT-AMT-BIG", base.Add(time.Minute), order.Data{Amount: money("400.00"), Shop: "bt",
		Items: []order.Item{{SKU: "CHEAP", Qty: 10, Price: *money("40.00")}}})

	// Judged at creation, before any payment; not history until paid.
	store("c-BT-AMT-UNPAID", order.KindCreated, "BT-AMT-UNPAID", base.Add(2*time.Minute), order.Data{Amount: money("400.00"), Shop: "bt",
		Items: []order.Item{{SKU: "CHEAP", Qty: 10, Price: *money("40.00")}}})

	byName := map[string]rules.Rule{}
	for _, r := range rules.Defaults() {
		byName[r.Name] = r
	}
	for _, c := range []struct {
		rule string
		want []string
	}{
		{"ip_burst", []string{"BT-IP-5", "BT-IP-6"}},
		{"amount_outlier", []string{"BT-AMT-BIG", "BT-AMT-UNPAID"}},
	} {
		res, err := detection.Backtest(ctx, testDB, byName[c.rule], base, base.Add(4*time.Hour), 20)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, s := range res.Samples {
			got = append(got, s.Key.OrderNo)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) || res.OrdersHit != len(c.want) {
			t.Errorf("%s: hit %v (%d orders), want %v", c.rule, got, res.OrdersHit, c.want)
		}
	}
}

// storeCreated stores n order.created events, one a second from base, with
// source src.
func storeCreated(t *testing.T, src string, base time.Time, n int) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		at := base.Add(time.Duration(i) * time.Second)
		no := fmt.Sprintf("%s-%d", src, i)
		if _, err := testDB.ExecContext(ctx, `INSERT INTO order_events (source, event_id, kind, system, channel, order_no, occurred_at, received_at, data)
			VALUES (?, ?, 'order.created', 'channel', 'douyin', ?, ?, ?, '{"buyerMessage": "请尽快发货"}')`, src, "c-"+no, no, at, at); err != nil {
			t.Fatal(err)
		}
	}
}

func draft(expression string) rules.Rule {
	return rules.Rule{Name: "draft", Description: "draft", Expression: expression,
		Actions: rules.Actions{Tags: []string{"draft"}, Severity: rules.SeverityInfo}}
}

// A draft that goes over its evaluation bounds on every event (the
// repeat/replace rule that once took a node down) is replayed without
// harm: its errors are counted, and the replay stops once the answer is
// clear instead of paying the bound on every event of the range.
func TestBacktestStopsARuleOverItsBounds(t *testing.T) {
	ctx := context.Background()
	if err := migrations.Migrate(ctx, testDB, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 4, 1, 8, 0, 0, 0, time.UTC) // a range no other test writes
	storeCreated(t, "bt-bounds", base, 150)

	start := time.Now()
	res, err := detection.Backtest(ctx, testDB, draft(`len(replace(repeat("x", 500000), "x", repeat("y", 2000))) > 0`), base, base.Add(time.Hour), 20)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v after %v", res, time.Since(start))
	if res.Errors != 100 || res.Events != 100 || res.Hits != 0 || !strings.Contains(res.Truncated, "bounds") {
		t.Errorf("got %+v; want 100 events replayed, 100 errors, stopped for its bounds", res)
	}

	// A draft within its bounds covers the range.
	res, err = detection.Backtest(ctx, testDB, draft(`order.buyerMessage contains "尽快"`), base, base.Add(time.Hour), 20)
	if err != nil || res.Events != 150 || res.Hits != 150 || res.Errors != 0 || res.Truncated != "" {
		t.Errorf("got %+v, %v; want all 150 replayed and hit", res, err)
	}
}

// At most two backtests run at once: while two slow ones run, a third one
// waits for a slot and gives up with ErrBacktestBusy when its context ends;
// once they are done, backtests run again.
func TestBacktestSlots(t *testing.T) {
	ctx := context.Background()
	if err := migrations.Migrate(ctx, testDB, slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC) // a range no other test writes
	storeCreated(t, "bt-slots", base, 150)
	// Costly but within bounds: about 90k steps an event, so each replay
	// takes a good part of a second.
	slow := draft(`count(1..90000, {# % 7 == 0}) == 12857`)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := detection.Backtest(ctx, testDB, slow, base, base.Add(time.Hour), 0); err != nil {
				t.Errorf("slow backtest: %v", err)
			}
		})
	}
	probe := func(wait time.Duration) error {
		ctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		_, err := detection.Backtest(ctx, testDB, draft("true"), base, base.Add(time.Millisecond), 0)
		return err
	}
	// Probe until both slow ones hold their slots.
	busy := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !busy; {
		err := probe(50 * time.Millisecond)
		switch {
		case errors.Is(err, detection.ErrBacktestBusy):
			busy = true
		case err != nil:
			t.Fatalf("probe: %v", err)
		}
	}
	wg.Wait()
	if !busy {
		t.Fatal("a third backtest never found both slots taken")
	}
	if err := probe(10 * time.Second); err != nil {
		t.Errorf("backtest after the slow ones finished: %v", err)
	}
}
