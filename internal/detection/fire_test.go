package detection_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/internal/detection"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/projection"
	"github.com/towerhq/tower/internal/timers"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "detect", &testDB)) }

// A deadline is judged on every stored event, including those the
// projection has not folded into the twin yet: a collection that is
// stored (even before its tracking number is matched) clears the
// "outbound, not collected" deadline instead of raising a false alarm.
func TestDeadlineSeesStoredButUnprojectedEvents(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := migrations.Migrate(ctx, testDB, quiet); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 11, 21, 30, 0, 0, time.UTC)
	if _, err := detection.NewRules(testDB).Seed(ctx, rules.Defaults(), now); err != nil {
		t.Fatal(err)
	}
	d := detection.New(nil, quiet, projection.NewTwinSource())
	for _, tc := range []struct {
		name      string
		collected bool
		wantAlert bool
	}{{"courier silent", false, true}, {"collected but not projected", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			k := order.Key{Channel: "tmall", OrderNo: "FT-" + tc.name}
			tn := "SF-" + tc.name
			tw := twin.New(k)
			tw.ApplyAll([]order.Event{
				{ID: "p", Source: "tmall", Kind: order.KindPaid, System: order.SystemChannel, OccurredAt: now.Add(-time.Hour), Order: k},
				{ID: "o", Source: "wms", Kind: order.KindWMSOutbound, System: order.SystemWMS, OccurredAt: now.Add(-20 * time.Minute), Order: k,
					Data: order.Data{Warehouse: "GZ-03", TrackingNo: tn, Courier: "SF"}},
			})
			doc, _ := json.Marshal(tw)
			if _, err := testDB.ExecContext(ctx, `INSERT INTO orders (channel, order_no, stage, twin, created_at, updated_at, projected_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				k.Channel, k.OrderNo, string(tw.Stage), string(doc), tw.CreatedAt, tw.UpdatedAt, now); err != nil {
				t.Fatal(err)
			}
			if tc.collected {
				// Stored by ingest, its tracking number not yet matched.
				if _, err := testDB.ExecContext(ctx, `INSERT INTO order_events (source, event_id, kind, system, channel, order_no, occurred_at, received_at, data)
					VALUES ('kd100', ?, 'courier.collected', 'courier', '', '', ?, ?, ?)`,
					"c-"+tn, now.Add(-15*time.Minute), now, `{"trackingNo":"`+tn+`","courier":"shunfeng"}`); err != nil {
					t.Fatal(err)
				}
			}
			payload, _ := json.Marshal(map[string]string{"rule": "outbound_not_collected", "channel": k.Channel, "orderNo": k.OrderNo})
			fired := []timers.Fired{{Timer: timers.Timer{Key: "rule:outbound_not_collected:" + k.String(), Kind: "rule", Payload: payload, DueAt: now.Add(-10 * time.Minute)}}}
			var out detection.Outcome
			err := testDB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
				var err error
				out, err = d.Fire(ctx, tx, fired, now)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(out.Alerts) > 0; got != tc.wantAlert {
				t.Fatalf("alert raised: %v, want %v (%+v)", got, tc.wantAlert, out.Alerts)
			}
		})
	}
}

// A deadline whose order the projection is writing is not judged under
// its feet, nor waited for: its timer goes back, due a moment later, and
// the other deadlines of the batch fire.
func TestDeadlineOfABusyOrderIsPutBack(t *testing.T) {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := migrations.Migrate(ctx, testDB, quiet); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 11, 22, 30, 0, 0, time.UTC)
	if _, err := detection.NewRules(testDB).Seed(ctx, rules.Defaults(), now); err != nil {
		t.Fatal(err)
	}
	d := detection.New(nil, quiet, projection.NewTwinSource())
	var fired []timers.Fired
	keys := []order.Key{{Channel: "tmall", OrderNo: "BUSY-1"}, {Channel: "tmall", OrderNo: "FREE-1"}}
	for i, k := range keys {
		tw := twin.New(k)
		tw.ApplyAll([]order.Event{
			{ID: "p", Source: "tmall", Kind: order.KindPaid, System: order.SystemChannel, OccurredAt: now.Add(-time.Hour), Order: k},
			{ID: "o", Source: "wms", Kind: order.KindWMSOutbound, System: order.SystemWMS, OccurredAt: now.Add(-20 * time.Minute), Order: k,
				Data: order.Data{Warehouse: "GZ-03", TrackingNo: "SF-" + k.OrderNo, Courier: "SF"}},
		})
		doc, _ := json.Marshal(tw)
		if _, err := testDB.ExecContext(ctx, `INSERT INTO orders (channel, order_no, stage, twin, created_at, updated_at, projected_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			k.Channel, k.OrderNo, string(tw.Stage), string(doc), tw.CreatedAt, tw.UpdatedAt, now); err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(map[string]string{"rule": "outbound_not_collected", "channel": k.Channel, "orderNo": k.OrderNo})
		fired = append(fired, timers.Fired{ID: int64(i + 1), Timer: timers.Timer{Key: "rule:outbound_not_collected:" + k.String(), Kind: "rule", Payload: payload, DueAt: now.Add(-10 * time.Minute)}})
	}
	// The projection holds the busy order.
	holder, err := testDB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = holder.Rollback() }()
	if _, err := holder.ExecContext(ctx, `SELECT 1 FROM orders WHERE channel = 'tmall' AND order_no = 'BUSY-1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var out detection.Outcome
	if err := testDB.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := tx.ExecContext(ctx, `SET LOCAL lock_timeout = '2s'`); err != nil {
			return err
		}
		var err error
		out, err = d.Fire(ctx, tx, fired, now)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("Fire waited %s on the busy order", waited)
	}
	if len(out.Alerts) != 1 || out.Alerts[0].OrderNo != "FREE-1" {
		t.Fatalf("alerts %+v, want one, on FREE-1", out.Alerts)
	}
	var due time.Time
	if err := testDB.QueryRowContext(ctx, `SELECT due_at FROM timers WHERE key = ?`, fired[0].Key).Scan(&due); err != nil {
		t.Fatalf("busy order's timer not put back: %v", err)
	}
	if due.Before(now) {
		t.Errorf("put back due %s, want a moment after %s", due, now)
	}
}
