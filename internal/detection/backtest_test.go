package detection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
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
