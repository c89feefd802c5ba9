package storage

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

func viewsDB(t *testing.T) *bun.DB {
	t.Helper()
	db := pgtest.NewDB(t, "storage_views")
	if err := migrations.Migrate(context.Background(), db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	return db
}

func exec(t *testing.T, db *bun.DB, q string, args ...any) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// order inserts a twin row shipped from warehouse.
func addOrder(t *testing.T, db *bun.DB, channel, no, warehouse string, at time.Time) {
	exec(t, db, `INSERT INTO orders (channel, order_no, stage, twin, created_at, updated_at, projected_at)
		VALUES (?, ?, 'PAID', jsonb_build_object('details', jsonb_build_object('warehouse', ?::text)), ?, ?, ?)`, channel, no, warehouse, at, at, at)
}

var v0 = time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)

// Queue sizes count open and claimed items per queue, within the caller's
// scope, and say since when the oldest open one waits.
func TestQueueSizes(t *testing.T) {
	db := viewsDB(t)
	addOrder(t, db, "douyin", "Q1", "HZ-01", v0)
	addOrder(t, db, "douyin", "Q2", "SH-02", v0)
	addOrder(t, db, "tmall", "Q3", "HZ-01", v0)
	item := func(queue, ch, no, status string, min int) {
		exec(t, db, `INSERT INTO work_items (queue, channel, order_no, rule, status, created_at, updated_at) VALUES (?, ?, ?, 'r', ?, ?, ?)`,
			queue, ch, no, status, v0.Add(time.Duration(min)*time.Minute), v0)
	}
	item("customer_service", "douyin", "Q1", "open", 5)
	item("customer_service", "douyin", "Q2", "claimed", 1)
	item("customer_service", "tmall", "Q3", "open", 3)
	item("customer_service", "tmall", "Q3", "resolved", 0)
	item("risk_review", "douyin", "Q1", "resolved", 0)
	queues := []string{"customer_service", "risk_review", "warehouse_hold"}
	s := NewAlerts(db)
	at := func(min int) *time.Time { v := v0.Add(time.Duration(min) * time.Minute); return &v }
	tests := []struct {
		name  string
		scope access.Scopes
		want  []QueueSize
	}{
		{name: "everything", want: []QueueSize{{"customer_service", 2, 1, at(3)}, {Queue: "risk_review"}, {Queue: "warehouse_hold"}}},
		{name: "one channel", scope: access.Scopes{Channels: []string{"douyin"}},
			want: []QueueSize{{"customer_service", 1, 1, at(5)}, {Queue: "risk_review"}, {Queue: "warehouse_hold"}}},
		{name: "one warehouse", scope: access.Scopes{Warehouses: []string{"HZ-01"}},
			want: []QueueSize{{"customer_service", 2, 0, at(3)}, {Queue: "risk_review"}, {Queue: "warehouse_hold"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.QueueSizes(context.Background(), queues, tc.scope)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %+v", got)
			}
			for i := range got {
				g, w := got[i], tc.want[i]
				if g.Queue != w.Queue || g.Open != w.Open || g.Claimed != w.Claimed || (g.OldestOpen == nil) != (w.OldestOpen == nil) ||
					(g.OldestOpen != nil && !g.OldestOpen.Equal(*w.OldestOpen)) {
					t.Errorf("%s: got %+v, want %+v", w.Queue, g, w)
				}
			}
		})
	}
}

// The rules firing most: by matches for an unscoped question (a rule that
// only tags counts too), by alerts raised within scope otherwise; only the
// window counts.
func TestTopRules(t *testing.T) {
	db := viewsDB(t)
	addOrder(t, db, "douyin", "R1", "HZ-01", v0)
	addOrder(t, db, "douyin", "R2", "SH-02", v0)
	addOrder(t, db, "tmall", "R3", "SH-02", v0)
	alert := func(rule, ch, no, state string, min int) {
		exec(t, db, `INSERT INTO alerts (rule, kind, severity, state, channel, order_no, condition_since, raised_at, updated_at)
			VALUES (?, 'k_'||?, 'warning', ?, ?, ?, ?, ?, ?)`, rule, rule, state, ch, no, v0, v0.Add(time.Duration(min)*time.Minute), v0)
	}
	alert("late_ship", "douyin", "R1", "FIRING", 10)
	alert("late_ship", "douyin", "R2", "RESOLVED", 20)
	alert("late_ship", "tmall", "R3", "FIRING", 30)
	alert("not_collected", "douyin", "R1", "ACKNOWLEDGED", 40)
	alert("not_collected", "douyin", "R2", "FIRING", -120) // before the window
	hits := func(rule string, hour time.Time, n int) {
		exec(t, db, `INSERT INTO rule_hits (rule, hour, hits) VALUES (?, ?, ?)`, rule, hour, n)
	}
	hits("late_ship", v0, 3)
	hits("remote_region", v0, 7) // tags only, no alerts
	hits("remote_region", v0.Add(-3*time.Hour), 100)
	s := NewAlerts(db)
	from, to := v0, v0.Add(2*time.Hour)
	type row struct {
		rule               string
		raised, open, hits int
	}
	tests := []struct {
		name  string
		scope access.Scopes
		first int
		want  []row
	}{
		{name: "everything", first: 10, want: []row{{"remote_region", 0, 0, 7}, {"late_ship", 3, 2, 3}, {"not_collected", 1, 1, 0}}},
		{name: "the first two", first: 2, want: []row{{"remote_region", 0, 0, 7}, {"late_ship", 3, 2, 3}}},
		{name: "one channel", scope: access.Scopes{Channels: []string{"douyin"}}, first: 10,
			want: []row{{"late_ship", 2, 1, -1}, {"not_collected", 1, 1, -1}}},
		{name: "one warehouse", scope: access.Scopes{Warehouses: []string{"SH-02"}}, first: 10,
			want: []row{{"late_ship", 2, 1, -1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.TopRules(context.Background(), from, to, tc.scope, tc.first)
			if err != nil {
				t.Fatal(err)
			}
			var rows []row
			for _, g := range got {
				rows = append(rows, row{g.Rule, g.Raised, g.Open, g.Hits})
			}
			if len(rows) != len(tc.want) {
				t.Fatalf("got %+v, want %+v", rows, tc.want)
			}
			for i := range rows {
				if rows[i] != tc.want[i] {
					t.Errorf("got %+v, want %+v", rows, tc.want)
					break
				}
			}
			if len(got) > 0 && got[0].Rule == "late_ship" && got[0].Kind != "k_late_ship" {
				t.Errorf("kind %q", got[0].Kind)
			}
		})
	}
}
