package events_test

import (
	"slices"
	"testing"
	"time"

	"github.com/towerhq/tower/events"
)

// Pruning deletes only messages older than the retention that every
// durable consumer group has acknowledged; the poison queue stays whole.
func TestPrune(t *testing.T) {
	migrate(t, testDB)
	bus := newBus(t, testDB)
	ctx := ctxT(t)
	topic := events.TopicAlerts
	for _, q := range []string{`DELETE FROM "watermill_alerts_v1"`, `DELETE FROM "watermill_offsets_alerts_v1"`} {
		if _, err := testDB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, bus, topic, "a1", "a2", "a3", "a4")
	acked := publish(t, bus, topic, "a5") // the durable group's position
	publish(t, bus, topic, "a6", "a7")
	// a1..a6 are old, a7 is recent.
	if _, err := testDB.ExecContext(ctx, `UPDATE "watermill_alerts_v1" SET created_at = created_at - interval '2 hours'
		WHERE payload->>'name' <> 'a7'`); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		var out []string
		if err := testDB.NewRaw(`SELECT payload->>'name' FROM "watermill_alerts_v1" ORDER BY "offset"`).Scan(ctx, &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	prune := func(keep time.Duration, groups ...string) {
		t.Helper()
		if _, err := bus.Prune(ctx, topic, keep, groups); err != nil {
			t.Fatal(err)
		}
	}

	// A durable group that never consumed spares everything.
	prune(time.Hour, "notifier")
	if got := names(); len(got) != 7 {
		t.Fatalf("group without a position: %v left, want all 7", got)
	}
	if _, err := testDB.ExecContext(ctx, `
		INSERT INTO "watermill_offsets_alerts_v1" (consumer_group, offset_acked, last_processed_transaction_id)
		SELECT 'notifier', "offset", transaction_id FROM "watermill_alerts_v1" WHERE uuid = ?`, acked.UUID); err != nil {
		t.Fatal(err)
	}
	if n, err := bus.Unread(ctx, topic, "notifier"); err != nil || n != 2 {
		t.Errorf("unread %d, %v; want a6 and a7", n, err)
	}
	prune(3*time.Hour, "notifier")
	if got := names(); len(got) != 7 {
		t.Fatalf("retention 3h: %v left, want all 7", got)
	}
	prune(time.Hour, "notifier")
	if got, want := names(), []string{"a6", "a7"}; !slices.Equal(got, want) {
		t.Fatalf("after prune: %v, want %v (a6 not yet acknowledged, a7 recent)", got, want)
	}
	prune(time.Hour)
	if got, want := names(), []string{"a7"}; !slices.Equal(got, want) {
		t.Fatalf("no durable group: %v, want %v", got, want)
	}

	publish(t, bus, events.TopicPoison, "p1")
	if n, err := bus.Prune(ctx, events.TopicPoison, time.Nanosecond, nil); err != nil || n != 0 {
		t.Fatalf("poison queue pruned: %d, %v", n, err)
	}
}
