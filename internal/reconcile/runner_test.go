package reconcile_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/reconcile"
	"github.com/towerhq/tower/internal/reconcile/pull"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "reconcile", &testDB)) }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeClient is a channel whose listing the test controls.
type fakeClient struct {
	mu      sync.Mutex
	snaps   []pull.Snapshot
	err     error
	windows [][2]time.Time
}

func (f *fakeClient) List(_ context.Context, from, to time.Time) ([]pull.Snapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.windows = append(f.windows, [2]time.Time{from, to})
	return f.snaps, f.err
}

func TestOnce(t *testing.T) {
	ctx := context.Background()
	if err := migrations.Migrate(ctx, testDB, quiet); err != nil {
		t.Fatal(err)
	}
	bus, err := events.NewPostgresBus(testDB.DB, quiet)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	c := ingest.New(testDB, bus, m, quiet, ingest.Options{})
	go c.Run()
	defer c.Close()

	now := time.Date(2026, 11, 11, 22, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	client := &fakeClient{}
	src := reconcile.Source{Name: "douyin", Client: client, Every: 5 * time.Minute, Overlap: 2 * time.Minute, Grace: time.Minute}
	r := reconcile.New(testDB, c, m, quiet, clock, []reconcile.Source{src})

	k := order.Key{Channel: "douyin", OrderNo: "R1"}
	amount := order.Money(12990)
	client.snaps = []pull.Snapshot{{Key: k, UpdatedAt: now, Facts: []pull.Fact{
		{Kind: order.KindCreated, At: now.Add(-10 * time.Minute)},
		{Kind: order.KindPaid, At: now.Add(-9 * time.Minute), Data: order.Data{Amount: &amount}},
	}}}

	// First run: the window reaches Every+Overlap back; both facts recovered.
	res, err := r.Once(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if res.Recovered != 2 || res.Listed != 1 || !res.From.Equal(now.Add(-7*time.Minute)) {
		t.Fatalf("first run %+v", res)
	}
	var recovered int
	_ = testDB.NewRaw(`SELECT count(*) FROM order_events WHERE order_no = 'R1' AND recovered`).Scan(ctx, &recovered)
	if recovered != 2 {
		t.Fatalf("%d recovered events stored, want 2", recovered)
	}

	// Next run starts where the last ended, less the overlap, and stores no
	// second copy of what it already recovered.
	now = now.Add(5 * time.Minute)
	res, err = r.Once(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	// The last window ended a grace minute before the last run.
	if !res.From.Equal(now.Add(-5*time.Minute-time.Minute-2*time.Minute)) || !res.To.Equal(now.Add(-time.Minute)) || res.Recovered != 0 {
		t.Fatalf("second run %+v", res)
	}

	// A failed pull is recorded with its error and does not move the window.
	now = now.Add(5 * time.Minute)
	client.err = errors.New("platform down")
	if _, err := r.Once(ctx, src); err == nil {
		t.Fatal("failed pull reported no error")
	}
	client.err = nil
	now = now.Add(5 * time.Minute)
	res, err = r.Once(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-10*time.Minute - time.Minute - 2*time.Minute); !res.From.Equal(want) {
		t.Errorf("after a failure the window starts %s, want %s (end of the last good one less overlap)", res.From, want)
	}
	var runs, failed int
	_ = testDB.NewRaw(`SELECT count(*), count(error) FROM reconcile_runs WHERE source = 'douyin'`).Scan(ctx, &runs, &failed)
	if runs != 4 || failed != 1 {
		t.Errorf("%d runs recorded (%d failed), want 4 (1)", runs, failed)
	}
}
