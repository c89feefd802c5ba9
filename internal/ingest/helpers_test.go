package ingest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "ingest", &testDB)) }

var quiet = slog.New(slog.DiscardHandler)

var migrateOnce = sync.OnceValue(func() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return migrations.Migrate(ctx, testDB, quiet)
})

// migrated returns the package database with the schema applied.
func migrated(tb testing.TB) *bun.DB {
	tb.Helper()
	if err := migrateOnce(); err != nil {
		tb.Fatal(err)
	}
	return testDB
}

// startCommitter runs a committer on the package database until the test
// ends (or the test closes it earlier).
func startCommitter(tb testing.TB, opts ingest.Options) (*ingest.Committer, *metrics.Metrics) {
	tb.Helper()
	db := migrated(tb)
	bus, err := events.NewPostgresBus(db.DB, quiet)
	if err != nil {
		tb.Fatal(err)
	}
	m := metrics.New()
	c := ingest.New(db, bus, m, quiet, opts)
	go c.Run()
	tb.Cleanup(c.Close)
	return c, m
}

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

var sources atomic.Int64

// uniqueSource names a source no other test (or -count repetition) uses:
// tests share the package database and tell their rows apart by source.
func uniqueSource(name string) string {
	return fmt.Sprintf("%s#%d", name, sources.Add(1))
}

var t0 = time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)

// ev is a valid canonical event of source src with id id.
func ev(src, id string) order.Event {
	amount := order.Money(12990)
	return order.Event{
		ID: id, Source: src, Kind: order.KindCreated, System: order.SystemChannel,
		OccurredAt: t0,
		Order:      order.Key{Channel: order.ChannelTmall, OrderNo: "T-" + id},
		Data:       order.Data{Amount: &amount, Currency: "CNY", Shop: "flagship"},
	}
}

func evs(src string, ids ...string) []order.Event {
	out := make([]order.Event, len(ids))
	for i, id := range ids {
		out[i] = ev(src, id)
	}
	return out
}

// delivery is a verified delivery of es.
func delivery(src, deliveryID string, es ...order.Event) *ingest.Delivery {
	body, _ := json.Marshal(map[string]any{"events": es})
	return &ingest.Delivery{
		Source: src, DeliveryID: deliveryID, ReceivedAt: time.Now(),
		Headers: map[string]string{"Content-Type": "application/json"},
		Body:    body, Verified: true, Events: es,
	}
}

// storedEventIDs counts order_events rows per event id of src.
func storedEventIDs(tb testing.TB, src string) map[string]int {
	tb.Helper()
	rows, err := testDB.QueryContext(ctxT(tb), `SELECT event_id, count(*) FROM order_events WHERE source = ? GROUP BY event_id`, src)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			tb.Fatal(err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// busBatches decodes every order_events_v1 message and returns, in publish
// order, those carrying events of src (only src's events kept).
func busBatches(tb testing.TB, src string) [][]order.Event {
	tb.Helper()
	rows, err := testDB.QueryContext(ctxT(tb), `SELECT payload::text FROM "watermill_order_events_v1" ORDER BY transaction_id, "offset"`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out [][]order.Event
	for rows.Next() {
		var payload string
		if err := rows.Scan(&payload); err != nil {
			tb.Fatal(err)
		}
		var b events.OrderEventsBatch
		if err := json.Unmarshal([]byte(payload), &b); err != nil {
			tb.Fatalf("bus message does not decode as OrderEventsBatch: %v\n%s", err, payload)
		}
		var mine []order.Event
		for _, e := range b.Events {
			if e.Source == src {
				mine = append(mine, e)
			}
		}
		if len(mine) > 0 {
			if len(mine) != len(b.Events) {
				tb.Fatalf("bus message mixes sources: %s", payload)
			}
			out = append(out, mine)
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// auditRow is one webhook_deliveries row.
type auditRow struct {
	DeliveryID *string
	Verified   bool
	Status     int
	Outcome    string
	Error      *string
	Accepted   int
	Duplicate  int
	BodyLen    int
}

func auditRows(tb testing.TB, src string) []auditRow {
	tb.Helper()
	rows, err := testDB.QueryContext(ctxT(tb), `
		SELECT delivery_id, verified, status, outcome, error, events_accepted, events_duplicate, length(body)
		FROM webhook_deliveries WHERE source = ? ORDER BY id`, src)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []auditRow
	for rows.Next() {
		var r auditRow
		if err := rows.Scan(&r.DeliveryID, &r.Verified, &r.Status, &r.Outcome, &r.Error, &r.Accepted, &r.Duplicate, &r.BodyLen); err != nil {
			tb.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

func countReceipts(tb testing.TB, src string) int {
	tb.Helper()
	var n int
	if err := testDB.QueryRowContext(ctxT(tb), `SELECT count(*) FROM webhook_receipts WHERE source = ?`, src).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

// metricValue reads the metric name with label values labels from the
// registry: a gauge's or counter's value, or a histogram's sample sum and
// count. The test fails if there is no such metric.
func metricValue(tb testing.TB, m *metrics.Metrics, name string, labels ...string) (value float64, count uint64) {
	tb.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, s := range f.GetMetric() {
			if len(s.GetLabel()) != len(labels) {
				continue
			}
			for i, l := range s.GetLabel() {
				if l.GetValue() != labels[i] {
					continue metric
				}
			}
			switch {
			case s.Gauge != nil:
				return s.GetGauge().GetValue(), 0
			case s.Counter != nil:
				return s.GetCounter().GetValue(), 0
			case s.Histogram != nil:
				return s.GetHistogram().GetSampleSum(), s.GetHistogram().GetSampleCount()
			}
		}
	}
	tb.Fatalf("no metric %s%v", name, labels)
	return 0, 0
}

// queued is the committer's queue gauge: deliveries submitted and not yet
// taken into a commit.
func queued(tb testing.TB, m *metrics.Metrics) float64 {
	tb.Helper()
	v, _ := metricValue(tb, m, "tower_ingest_queue_deliveries")
	return v
}

// commits is how many group commits ran and how many deliveries they held.
func commits(tb testing.TB, m *metrics.Metrics) (n uint64, deliveries float64) {
	tb.Helper()
	sum, count := metricValue(tb, m, "tower_ingest_batch_deliveries")
	return count, sum
}

func ids(es []order.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func strp(s string) *string { return &s }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%q", *s)
}
