package figures_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/figures"
	"github.com/towerhq/tower/migrations"
)

// Prune keeps each table to its retention: minute rollups and traffic
// minutes for the minute retention, hour and day rollups that cancelled out
// to zero go, traffic hours for 90 days, open gauges at zero go.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	if err := migrations.Migrate(ctx, testDB, quiet); err != nil {
		t.Fatal(err)
	}
	ch := fmt.Sprintf("pr-%d", time.Now().UnixNano()%1e9)
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	minutesBefore := now.Add(-48 * time.Hour)
	rollup := func(res int, at time.Time, label string, n int) {
		t.Helper()
		if _, err := testDB.ExecContext(ctx, `INSERT INTO figure_rollups (res, at, channel, shop, warehouse, courier, metric, label, n)
			VALUES (?, ?, ?, '', '', '', 'paid', ?, ?)`, res, at, ch, label, n); err != nil {
			t.Fatal(err)
		}
	}
	traffic := func(res int, at time.Time, label string) {
		t.Helper()
		if _, err := testDB.ExecContext(ctx, `INSERT INTO traffic_rollups (res, at, kind, name, metric, le, n)
			VALUES (?, ?, 'connector', ?, ?, 0, 1)`, res, at, ch, label); err != nil {
			t.Fatal(err)
		}
	}
	rollup(1, minutesBefore.Add(-time.Minute), "old minute", 3)
	rollup(1, minutesBefore.Add(time.Minute), "kept minute", 3)
	rollup(60, now.Add(-5*time.Hour), "zero hour", 0)
	rollup(60, now.Add(-5*time.Hour), "kept hour", 2)
	rollup(1440, now.Add(-40*time.Hour), "zero day", 0)
	rollup(60, now.Add(-30*24*time.Hour), "old hour", 2)
	traffic(1, minutesBefore.Add(-time.Minute), "old minute")
	traffic(1, minutesBefore.Add(time.Minute), "kept minute")
	traffic(60, now.Add(-91*24*time.Hour), "old hour")
	traffic(60, now.Add(-89*24*time.Hour), "kept hour")
	if _, err := figures.Prune(ctx, testDB, minutesBefore, now); err != nil {
		t.Fatal(err)
	}
	left := func(table, col string) map[string]bool {
		t.Helper()
		var labels []string
		if err := testDB.NewRaw(`SELECT `+col+` FROM `+table+` WHERE `+map[string]string{"figure_rollups": "channel", "traffic_rollups": "name"}[table]+` = ?`, ch).
			Scan(ctx, &labels); err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, l := range labels {
			out[l] = true
		}
		return out
	}
	for _, tc := range []struct {
		table, col string
		want       map[string]bool
	}{
		{"figure_rollups", "label", map[string]bool{"kept minute": true, "kept hour": true, "old hour": true}},
		{"traffic_rollups", "metric", map[string]bool{"kept minute": true, "kept hour": true}},
	} {
		if got := left(tc.table, tc.col); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s keeps %v, want %v", tc.table, got, tc.want)
		}
	}
}
