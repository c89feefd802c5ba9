package alerts_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/alert"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/alerts"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "alerts", &testDB)) }

var now = time.Date(2026, 11, 11, 21, 0, 0, 0, time.UTC)

// inTx runs f in a transaction that is committed.
func inTx(t *testing.T, f func(ctx context.Context, tx bun.Tx) error) {
	t.Helper()
	if err := testDB.RunInTx(context.Background(), nil, f); err != nil {
		t.Fatal(err)
	}
}

func raise(t *testing.T, cs ...alerts.Condition) []events.AlertSnapshot {
	t.Helper()
	var out []events.AlertSnapshot
	inTx(t, func(ctx context.Context, tx bun.Tx) error {
		var err error
		out, err = alerts.Raise(ctx, tx, cs, now)
		return err
	})
	return out
}

func setState(id int64, to alert.State, by string) (events.AlertSnapshot, error) {
	var a events.AlertSnapshot
	err := testDB.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		a, err = alerts.SetState(ctx, tx, id, to, by, now)
		return err
	})
	return a, err
}

func TestLifecycle(t *testing.T) {
	if err := migrations.Migrate(context.Background(), testDB, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	t.Run("RaiseOncePerRuleAndOrder", func(t *testing.T) {
		k := order.Key{Channel: "tmall", OrderNo: "R-1"}
		c := alerts.Condition{Rule: "late", Kind: "sla", Severity: "warning", Order: k, Scope: "GZ-03", Since: now.Add(-time.Minute)}
		got := raise(t, c, c)
		if len(got) != 1 || !got[0].Raised || got[0].State != alert.Firing.String() || got[0].Scope != "GZ-03" {
			t.Fatalf("raised %+v, want one firing alert", got)
		}
		if again := raise(t, c); len(again) != 0 {
			t.Errorf("raised %+v while the first is open, want none", again)
		}
		// Another rule on the same order is another alert.
		if other := raise(t, alerts.Condition{Rule: "other", Kind: "sla", Severity: "info", Order: k, Since: now}); len(other) != 1 {
			t.Errorf("other rule raised %d alerts, want 1", len(other))
		}
	})
	t.Run("ResolveThenRaiseAnew", func(t *testing.T) {
		k := order.Key{Channel: "tmall", OrderNo: "R-2"}
		c := alerts.Condition{Rule: "late", Kind: "sla", Severity: "warning", Order: k, Since: now}
		first := raise(t, c)[0]
		var res []events.AlertSnapshot
		inTx(t, func(ctx context.Context, tx bun.Tx) error {
			var err error
			res, err = alerts.Resolve(ctx, tx, []alerts.Resolution{
				{Rule: "late", Order: k, By: "auto: courier.collected"},
				{Rule: "late", Order: k, By: "auto: courier.collected"},
				{Rule: "late", Order: order.Key{Channel: "tmall", OrderNo: "none"}, By: "auto"},
			}, now)
			return err
		})
		if len(res) != 1 || res[0].ID != first.ID || res[0].State != alert.Resolved.String() || res[0].ResolvedBy != "auto: courier.collected" || res[0].Raised {
			t.Fatalf("resolved %+v, want alert %d resolved", res, first.ID)
		}
		if again := raise(t, c); len(again) != 1 || again[0].ID == first.ID {
			t.Errorf("after resolution raised %+v, want a new alert", again)
		}
	})
	t.Run("SetState", func(t *testing.T) {
		k := order.Key{Channel: "tmall", OrderNo: "R-3"}
		id := raise(t, alerts.Condition{Rule: "late", Kind: "sla", Severity: "warning", Order: k, Since: now})[0].ID
		a, err := setState(id, alert.Acknowledged, "ops-li")
		if err != nil || a.State != alert.Acknowledged.String() || a.AcknowledgedBy != "ops-li" || a.AcknowledgedAt == nil {
			t.Fatalf("acknowledge: %+v, %v", a, err)
		}
		// Twice: a no-op that keeps who acknowledged first.
		if a, err := setState(id, alert.Acknowledged, "ops-wang"); err != nil || a.AcknowledgedBy != "ops-li" {
			t.Errorf("acknowledge again: %+v, %v; want unchanged", a, err)
		}
		if a, err := setState(id, alert.Resolved, "ops-wang"); err != nil || a.State != alert.Resolved.String() || a.ResolvedBy != "ops-wang" {
			t.Errorf("resolve: %+v, %v", a, err)
		}
		for _, to := range []alert.State{alert.Acknowledged, alert.Resolved} {
			if _, err := setState(id, to, "ops-li"); !errors.Is(err, alert.ErrResolved) {
				t.Errorf("%s a resolved alert: %v, want ErrResolved", to, err)
			}
		}
		var te *alert.TransitionError
		if _, err := setState(id, alert.Firing, "ops-li"); !errors.As(err, &te) {
			t.Errorf("set firing by hand: %v, want a TransitionError", err)
		}
		if _, err := setState(1<<40, alert.Acknowledged, "ops-li"); !errors.Is(err, alerts.ErrNotFound) {
			t.Errorf("unknown alert: %v, want ErrNotFound", err)
		}
	})
}
