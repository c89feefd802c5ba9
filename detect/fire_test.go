package detect_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/detect"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
	"github.com/towerhq/tower/timers"
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
	if _, err := detect.NewRules(testDB).Seed(ctx, rules.Defaults(), now); err != nil {
		t.Fatal(err)
	}
	d := detect.New(nil, quiet)
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
			var out detect.Outcome
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
