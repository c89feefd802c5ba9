package projection_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/projection"
)

// counter reads the counter name{handler=...} from the registry, 0 while
// it has not been created.
func counter(tb testing.TB, m *metrics.Metrics, name, handler string) float64 {
	return labelled(tb, m, name, "handler", handler)
}

// labelled reads the counter name{label=value}, 0 while it has not been
// created.
func labelled(tb testing.TB, m *metrics.Metrics, name, label, value string) float64 {
	tb.Helper()
	families, err := m.Registry.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return s.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// publishInTx publishes msg on the order events topic the way ingest does:
// inside a transaction, visible once it commits.
func publishInTx(t *testing.T, bus events.Bus, msg *message.Message) {
	t.Helper()
	ctx := ctxT(t)
	tx, err := testDB.DB.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := bus.PublishTx(ctx, tx, events.TopicOrderEvents, msg); err != nil {
		_ = tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func batchMessage(t *testing.T, es ...order.Event) *message.Message {
	t.Helper()
	msg, err := events.NewMessage(events.OrderEventsBatch{Events: es})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// TestHandlerThroughRouter runs the projection on a real router and bus:
// batches published in transactions become twins, a redelivered batch
// changes nothing, and a malformed message is parked on the poison queue
// without stopping the messages behind it.
func TestHandlerThroughRouter(t *testing.T) {
	bus := newBus(t)
	bus.PollInterval = 5 * time.Millisecond
	m := metrics.New()
	p := projection.NewTwins(testDB, bus, m, quiet, func() time.Time { return projectedAt }, projection.Options{})
	runProjection(t, bus, m, p)

	k1, k2 := uniqueKey("router-1"), uniqueKey("router-2")
	first := []order.Event{event(k1, "r1", order.KindCreated, 0), event(k1, "r2", order.KindPaid, 1)}
	malformed := message.NewMessage(watermill.NewUUID(), []byte(`{"events": "not a list"}`))
	handled := counter(t, m, "tower_handler_messages_total", projection.HandlerName)
	poisoned := counter(t, m, "tower_handler_poisoned_total", projection.HandlerName)

	msgs := []struct {
		name string
		msg  *message.Message
	}{
		{"a batch for a new order", batchMessage(t, first...)},
		{"a malformed payload", malformed},
		{"the first batch again", batchMessage(t, first...)},
		{"a batch for another order", batchMessage(t, event(k2, "r3", order.KindCreated, 0), event(k2, "r4", order.KindWMSReceived, 2))},
	}
	for _, pm := range msgs {
		publishInTx(t, bus, pm.msg)
	}

	defer func() {
		if t.Failed() {
			_, ok := loadOrder(t, k2)
			t.Logf("at failure: order %s stored=%v, handled=%v, poisoned=%v, oldest open transactions: %v", k2, ok,
				counter(t, m, "tower_handler_messages_total", projection.HandlerName),
				counter(t, m, "tower_handler_poisoned_total", projection.HandlerName), oldestTransactions(t))
		}
	}()
	// Messages are handled in order, so once the last batch's order exists
	// every message before it has been dealt with.
	pgtest.WaitFor(t, 15*time.Second, func() bool {
		_, ok := loadOrder(t, k2)
		return ok
	})

	// Delivery is at least once: a router stopped before the bus stored its
	// ack (as at the end of an earlier -count run) gets that batch again.
	if got := counter(t, m, "tower_handler_messages_total", projection.HandlerName); got < handled+3 {
		t.Errorf("handled counter +%v, want at least +3", got-handled)
	}
	if got := counter(t, m, "tower_handler_poisoned_total", projection.HandlerName); got < poisoned+1 {
		t.Errorf("poisoned counter +%v, want at least +1", got-poisoned)
	}
	cases := []struct {
		key     order.Key
		stage   twin.Stage
		version int
	}{
		{k1, twin.StagePaid, 1}, // the redelivered batch did not bump it
		{k2, twin.StageInWarehouse, 1},
	}
	for _, c := range cases {
		r := mustLoadOrder(t, c.key)
		if r.Stage != string(c.stage) || r.Version != c.version {
			t.Errorf("%s: stage %s version %d, want %s version %d", c.key, r.Stage, r.Version, c.stage, c.version)
		}
	}
	checkStageCounts(t)

	var payload, reason, topic, handler string
	err := testDB.QueryRowContext(ctxT(t), `
		SELECT payload::text, metadata->>?, metadata->>?, metadata->>?
		FROM "watermill_poison_v1" WHERE uuid = ?`,
		middleware.ReasonForPoisonedKey, middleware.PoisonedTopicKey, middleware.PoisonedHandlerKey, malformed.UUID,
	).Scan(&payload, &reason, &topic, &handler)
	if err != nil {
		t.Fatalf("malformed message not on the poison queue: %v", err)
	}
	if payload != string(malformed.Payload) {
		t.Errorf("poisoned payload %s, want %s", payload, malformed.Payload)
	}
	if !strings.Contains(reason, "decode") || !strings.Contains(reason, malformed.UUID) {
		t.Errorf("poison reason %q, want the decode error naming the message", reason)
	}
	if topic != events.TopicOrderEvents || handler != projection.HandlerName {
		t.Errorf("poisoned from topic %q handler %q, want %q and %q", topic, handler, events.TopicOrderEvents, projection.HandlerName)
	}
}

// runProjection runs p on a real router until the test ends.
func runProjection(t *testing.T, bus events.Bus, m *metrics.Metrics, p *projection.Twins) {
	t.Helper()
	r, err := events.NewRouter(bus, m, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Register(r); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- events.RunRouter(ctx, r) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-stopped:
			if err != nil {
				t.Errorf("router: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("router did not stop")
		}
	})
	select {
	case <-r.Running():
	case <-time.After(10 * time.Second):
		t.Fatal("router not running")
	}
}

// oldestTransactions describes the server's oldest open transactions: the
// bus delivers a message only once every transaction older than it ended.
func oldestTransactions(t *testing.T) []string {
	rows, err := testDB.QueryContext(ctxT(t), `
		SELECT format('%s pid=%s xid=%s age=%s state=%s query=%s', datname, pid, backend_xid, now() - xact_start, state, left(query, 80))
		FROM pg_stat_activity WHERE backend_xid IS NOT NULL ORDER BY age(backend_xid) DESC LIMIT 5`)
	if err != nil {
		return []string{err.Error()}
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return append(out, err.Error())
		}
		out = append(out, s)
	}
	return out
}
