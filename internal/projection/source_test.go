package projection_test

import (
	"context"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/projection"
)

// storeEvent stores an event as ingest does, without projecting it.
func storeEvent(tb testing.TB, e order.Event, data string) {
	tb.Helper()
	if _, err := testDB.ExecContext(ctxT(tb), `INSERT INTO order_events (source, event_id, kind, system, channel, order_no, occurred_at, received_at, data)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Source, e.ID, string(e.Kind), string(e.System), e.Order.Channel, e.Order.OrderNo, e.OccurredAt, e.OccurredAt, data); err != nil {
		tb.Fatal(err)
	}
}

// TestTwinSource: outside a projection batch, a deadline reads twins as of
// every stored event, finds busy ones without waiting, and tags through the
// projection; nothing it reads is written back.
func TestTwinSource(t *testing.T) {
	p, _ := newTwins(t)
	ctx := ctxT(t)
	src := projection.NewTwinSource()
	free, busy, unknown := uniqueKey("src-free"), uniqueKey("src-busy"), uniqueKey("src-none")
	tn := "SF-" + free.OrderNo
	outbound := event(free, "f2", order.KindWMSOutbound, 10)
	outbound.Data = order.Data{TrackingNo: tn, Warehouse: "GZ-03"}
	if _, err := p.Apply(ctx, []order.Event{event(free, "f1", order.KindPaid, 0), outbound, event(busy, "b1", order.KindPaid, 0)}); err != nil {
		t.Fatal(err)
	}
	before := mustLoadOrder(t, free)
	// Stored, not projected: one naming the order, one only its tracking number.
	storeEvent(t, event(free, "f3", order.KindWMSOutbound, 11), `{}`)
	storeEvent(t, order.Event{ID: "c-" + tn, Source: "kd100", Kind: order.KindCollected, System: order.SystemCourier, OccurredAt: t0.Add(15 * time.Minute)},
		`{"trackingNo":"`+tn+`"}`)

	holder, err := testDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Rollback() }()
	if _, err := holder.ExecContext(ctx, `SELECT 1 FROM orders WHERE channel = ? AND order_no = ? FOR UPDATE`, busy.Channel, busy.OrderNo); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	err = testDB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
			return err
		}
		twins, isBusy, err := src.Current(ctx, tx, []order.Key{free, busy, unknown})
		if err != nil {
			return err
		}
		if time.Since(start) > time.Second {
			t.Errorf("Current waited %s on the busy twin", time.Since(start))
		}
		if len(twins) != 1 || twins[free] == nil {
			t.Fatalf("twins %v, want only %s", slices.Collect(maps.Keys(twins)), free)
		}
		if got := len(twins[free].Timeline); got != 4 {
			t.Errorf("current twin has %d events, want 4 (2 projected, 2 only stored)", got)
		}
		if _, ok := twins[free].FirstAt(order.KindCollected); !ok {
			t.Error("current twin misses the collection known only by its tracking number")
		}
		if !isBusy[busy] || len(isBusy) != 1 {
			t.Errorf("busy %v, want only %s", isBusy, busy)
		}
		tags, err := src.AddTags(ctx, tx, map[order.Key][]string{free: {"vip", "late", "vip"}})
		if err != nil {
			return err
		}
		if got := tags[free]; !slices.Equal(got, []string{"late", "vip"}) {
			t.Errorf("tags after %v, want [late vip]", got)
		}
		tags, err = src.AddTags(ctx, tx, map[order.Key][]string{free: {"fraud"}})
		if err != nil {
			return err
		}
		if got := tags[free]; !slices.Equal(got, []string{"fraud", "late", "vip"}) {
			t.Errorf("tags after a second call %v, want [fraud late vip]", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	after := mustLoadOrder(t, free)
	if after.Version != before.Version || string(after.Twin) != string(before.Twin) {
		t.Errorf("Current wrote the twin (version %d -> %d)", before.Version, after.Version)
	}
}
