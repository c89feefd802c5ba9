package projection_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/projection"
	"github.com/towerhq/tower/migrations"
)

// testDB is shared by the package's tests, which run one at a time and use
// order numbers of their own. Every write to orders goes through the
// projection (Twins.Apply; TwinSource.AddTags, which only tags), so
// stage_counts must always match orders as a whole.
var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "projection", &testDB)) }

var quiet = slog.New(slog.DiscardHandler)

var migrateOnce = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return migrations.Migrate(ctx, testDB, quiet)
})

func migrated(tb testing.TB) *bun.DB {
	tb.Helper()
	if err := migrateOnce(); err != nil {
		tb.Fatal(err)
	}
	return testDB
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// projectedAt is the projection's clock in these tests.
var projectedAt = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func newBus(tb testing.TB) *events.PostgresBus {
	tb.Helper()
	bus, err := events.NewPostgresBus(migrated(tb).DB, quiet)
	if err != nil {
		tb.Fatal(err)
	}
	return bus
}

func newTwins(tb testing.TB) (*projection.Twins, *events.PostgresBus) {
	tb.Helper()
	bus := newBus(tb)
	return projection.NewTwins(testDB, bus, metrics.New(), quiet, func() time.Time { return projectedAt }, projection.Options{}), bus
}

var keys atomic.Int64

// uniqueKey is an order key no other test (or -count repetition) uses.
func uniqueKey(prefix string) order.Key {
	return order.Key{Channel: order.ChannelTmall, OrderNo: fmt.Sprintf("%s-%d", prefix, keys.Add(1))}
}

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

func event(k order.Key, id string, kind order.Kind, minute int) order.Event {
	return order.Event{
		ID: id, Source: "shop", Kind: kind, System: kind.DefaultSystem(),
		OccurredAt: t0.Add(time.Duration(minute) * time.Minute), Order: k,
	}
}

// orderRow is an orders row.
type orderRow struct {
	ID          int64
	Stage       string
	Twin        []byte
	Version     int
	ProjectedAt time.Time
}

func loadOrder(tb testing.TB, k order.Key) (orderRow, bool) {
	tb.Helper()
	var r orderRow
	err := testDB.QueryRowContext(ctxT(tb), `SELECT id, stage, twin::text, version, projected_at FROM orders WHERE channel = ? AND order_no = ?`,
		k.Channel, k.OrderNo).Scan(&r.ID, &r.Stage, &r.Twin, &r.Version, &r.ProjectedAt)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return orderRow{}, false
		}
		tb.Fatal(err)
	}
	return r, true
}

func mustLoadOrder(tb testing.TB, k order.Key) orderRow {
	tb.Helper()
	r, ok := loadOrder(tb, k)
	if !ok {
		tb.Fatalf("order %s not in orders", k)
	}
	return r
}

func decodeTwin(tb testing.TB, b []byte) *twin.Twin {
	tb.Helper()
	var t twin.Twin
	if err := json.Unmarshal(b, &t); err != nil {
		tb.Fatalf("stored twin does not decode: %v\n%s", err, b)
	}
	return &t
}

// canonical is a twin's JSON without its key, for comparing twins of
// different orders.
func canonical(tb testing.TB, t *twin.Twin) string {
	tb.Helper()
	c := t.Clone()
	c.Key = order.Key{}
	b, err := json.Marshal(c)
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func queryCounts(tb testing.TB, q string) map[twin.Stage]int64 {
	tb.Helper()
	rows, err := testDB.QueryContext(ctxT(tb), q)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[twin.Stage]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			tb.Fatal(err)
		}
		if n != 0 {
			out[twin.Stage(s)] = n
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// stageCounts is stage_counts without zero rows.
func stageCounts(tb testing.TB) map[twin.Stage]int64 {
	return queryCounts(tb, `SELECT stage, count FROM stage_counts`)
}

// checkStageCounts asserts stage_counts is what counting orders gives.
func checkStageCounts(tb testing.TB) {
	tb.Helper()
	kept := stageCounts(tb)
	counted := queryCounts(tb, `SELECT stage, count(*) FROM orders GROUP BY stage`)
	if !maps.Equal(kept, counted) {
		tb.Fatalf("stage_counts = %v, but orders grouped by stage = %v", kept, counted)
	}
}

// lastOffset is the newest message offset of the twin changes topic.
func lastOffset(tb testing.TB) int64 {
	tb.Helper()
	var n int64
	if err := testDB.QueryRowContext(ctxT(tb), `SELECT coalesce(max("offset"), 0) FROM "watermill_twin_changes_v1"`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// twinChangesSince decodes the twin changes published after offset.
func twinChangesSince(tb testing.TB, offset int64) []events.TwinChanges {
	tb.Helper()
	rows, err := testDB.QueryContext(ctxT(tb), `SELECT payload::text FROM "watermill_twin_changes_v1" WHERE "offset" > ? ORDER BY "offset"`, offset)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []events.TwinChanges
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			tb.Fatal(err)
		}
		var ch events.TwinChanges
		if err := json.Unmarshal([]byte(p), &ch); err != nil {
			tb.Fatalf("twin change does not decode: %v\n%s", err, p)
		}
		out = append(out, ch)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}
