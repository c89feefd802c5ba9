package workitems_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/workitems"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "workitems", &testDB)) }

var now = time.Date(2026, 11, 11, 21, 0, 0, 0, time.UTC)

func do[T any](t *testing.T, f func(ctx context.Context, tx bun.Tx) (T, error)) (T, error) {
	t.Helper()
	var out T
	err := testDB.RunInTx(context.Background(), nil, func(ctx context.Context, tx bun.Tx) error {
		var err error
		out, err = f(ctx, tx)
		return err
	})
	return out, err
}

func open(t *testing.T, rs ...workitems.Route) []events.WorkItemSnapshot {
	t.Helper()
	ws, err := do(t, func(ctx context.Context, tx bun.Tx) ([]events.WorkItemSnapshot, error) {
		return workitems.Open(ctx, tx, rs, now)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ws
}

func TestLifecycle(t *testing.T) {
	if err := migrations.Migrate(context.Background(), testDB, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	k := order.Key{Channel: "douyin", OrderNo: "W-1"}
	r := workitems.Route{Queue: "risk", Order: k, Rule: "ip_burst"}
	ws := open(t, r, r, workitems.Route{Queue: "risk", Order: k, Rule: "phone_burst"})
	if len(ws) != 1 || ws[0].Status != workitems.StatusOpen || ws[0].Rule != "ip_burst" {
		t.Fatalf("opened %+v, want one open item (the first rule by name)", ws)
	}
	id := ws[0].ID
	if again := open(t, r); len(again) != 0 {
		t.Errorf("opened %+v while one is open, want none", again)
	}
	type step struct {
		name string
		f    func(ctx context.Context, tx bun.Tx) (events.WorkItemSnapshot, error)
	}
	w, err := do(t, func(ctx context.Context, tx bun.Tx) (events.WorkItemSnapshot, error) {
		return workitems.Claim(ctx, tx, id, "risk-zhao", now)
	})
	if err != nil || w.Status != workitems.StatusClaimed || w.Assignee != "risk-zhao" || len(w.Notes) != 0 {
		t.Fatalf("claim: %+v, %v", w, err)
	}
	w, err = do(t, func(ctx context.Context, tx bun.Tx) (events.WorkItemSnapshot, error) {
		return workitems.AddNote(ctx, tx, id, "risk-qian", "called the buyer", now)
	})
	if err != nil || w.Status != workitems.StatusClaimed || len(w.Notes) != 1 || w.Notes[0].By != "risk-qian" {
		t.Fatalf("note: %+v, %v", w, err)
	}
	w, err = do(t, func(ctx context.Context, tx bun.Tx) (events.WorkItemSnapshot, error) {
		return workitems.Resolve(ctx, tx, id, "risk-qian", "genuine", now)
	})
	if err != nil || w.Status != workitems.StatusResolved || w.Assignee != "risk-zhao" || len(w.Notes) != 2 {
		t.Fatalf("resolve: %+v, %v (the claimer stays the assignee)", w, err)
	}
	for _, s := range []step{
		{"claim", func(ctx context.Context, tx bun.Tx) (events.WorkItemSnapshot, error) {
			return workitems.Claim(ctx, tx, id, "x", now)
		}},
		{"note", func(ctx context.Context, tx bun.Tx) (events.WorkItemSnapshot, error) {
			return workitems.AddNote(ctx, tx, id, "x", "late", now)
		}},
		{"resolve", func(ctx context.Context, tx bun.Tx) (events.WorkItemSnapshot, error) {
			return workitems.Resolve(ctx, tx, id, "x", "", now)
		}},
	} {
		if _, err := do(t, s.f); !errors.Is(err, workitems.ErrResolved) {
			t.Errorf("%s a resolved item: %v, want ErrResolved", s.name, err)
		}
	}
	if _, err := do(t, func(ctx context.Context, tx bun.Tx) (events.WorkItemSnapshot, error) {
		return workitems.Claim(ctx, tx, 1<<40, "x", now)
	}); !errors.Is(err, workitems.ErrNotFound) {
		t.Errorf("unknown item: %v, want ErrNotFound", err)
	}
	// Resolved, the order can be queued again; unclaimed, resolving assigns.
	ws = open(t, r)
	if len(ws) != 1 || ws[0].ID == id {
		t.Fatalf("reopened %+v, want a new item", ws)
	}
	w, err = do(t, func(ctx context.Context, tx bun.Tx) (events.WorkItemSnapshot, error) {
		return workitems.Resolve(ctx, tx, ws[0].ID, "risk-sun", "", now)
	})
	if err != nil || w.Assignee != "risk-sun" || len(w.Notes) != 0 {
		t.Errorf("resolve unclaimed: %+v, %v", w, err)
	}
}
