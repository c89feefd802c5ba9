package notifications_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/notifications"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

// The delivery log reads newest first, by robot and status, a page at a
// time.
func TestListDeliveries(t *testing.T) {
	ctx := context.Background()
	db := pgtest.NewDB(t, "notify_log")
	if err := migrations.Migrate(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 2, 0, 0, 0, time.UTC)
	rows := []notifications.Delivery{
		{Channel: "ops-wecom", GroupKey: "late_ship|HZ-01", AlertCount: 3, Status: notifications.StatusSent, Attempt: 1, CreatedAt: t0, Cost: 1},
		{Channel: "ops-wecom", GroupKey: "not_collected|HZ-01", AlertCount: 1, Status: notifications.StatusFailed, Error: "HTTP 502", Attempt: 1, CreatedAt: t0.Add(time.Minute), RetryAt: t0.Add(2 * time.Minute), Cost: 1},
		{Channel: "it-ding", GroupKey: "late_ship|SH-02", AlertCount: 2, Status: notifications.StatusSilenced, CreatedAt: t0.Add(2 * time.Minute)},
		{Channel: "ops-wecom", GroupKey: "not_collected|HZ-01", AlertCount: 1, Status: notifications.StatusSent, Attempt: 2, CreatedAt: t0.Add(3 * time.Minute), Cost: 1},
	}
	if _, err := db.NewInsert().Model(&rows).Exec(ctx); err != nil {
		t.Fatal(err)
	}
	ids := func(ds []notifications.Delivery) []int64 {
		var out []int64
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	id := func(i int) int64 { return rows[i].ID }
	tests := []struct {
		name string
		f    notifications.DeliveryFilter
		want []int64
	}{
		{name: "all, newest first", f: notifications.DeliveryFilter{First: 10}, want: []int64{id(3), id(2), id(1), id(0)}},
		{name: "one robot", f: notifications.DeliveryFilter{Robot: "ops-wecom", First: 10}, want: []int64{id(3), id(1), id(0)}},
		{name: "failed", f: notifications.DeliveryFilter{Status: notifications.StatusFailed, First: 10}, want: []int64{id(1)}},
		{name: "a page", f: notifications.DeliveryFilter{First: 2}, want: []int64{id(3), id(2)}},
		{name: "the next page", f: notifications.DeliveryFilter{First: 2, Before: id(2)}, want: []int64{id(1), id(0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := notifications.ListDeliveries(ctx, db, tc.f)
			if err != nil {
				t.Fatal(err)
			}
			if g := ids(got); len(g) != len(tc.want) || (len(g) > 0 && (g[0] != tc.want[0] || g[len(g)-1] != tc.want[len(tc.want)-1])) {
				t.Errorf("got %v, want %v", g, tc.want)
			}
		})
	}
	got, _ := notifications.ListDeliveries(ctx, db, notifications.DeliveryFilter{Status: notifications.StatusFailed, First: 1})
	if len(got) != 1 || got[0].Error != "HTTP 502" || got[0].Attempt != 1 || !got[0].RetryAt.Equal(t0.Add(2*time.Minute)) || got[0].GroupKey != "not_collected|HZ-01" {
		t.Errorf("failed row read back as %+v", got)
	}
}
