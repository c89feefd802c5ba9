package projection_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/natstest"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/projection"
)

// A backlog of small ingest commits is folded into a few projection
// transactions: every order ends projected once, the folded messages'
// own deliveries change nothing, and their read-ahead records are gone
// once the consumer group has acknowledged them.
func TestReadAheadFoldsABacklog(t *testing.T) {
	bus := newBus(t)
	bus.PollInterval = 5 * time.Millisecond
	m := metrics.New()
	p := projection.NewTwins(testDB, bus, m, quiet, func() time.Time { return projectedAt }, projection.Options{ReadAhead: 50})

	const n = 40
	var keys []order.Key
	for i := range n {
		k := uniqueKey(fmt.Sprintf("ra-%d", i))
		keys = append(keys, k)
		publishInTx(t, bus, batchMessage(t, event(k, "ra-c-"+k.OrderNo, order.KindCreated, 0), event(k, "ra-p-"+k.OrderNo, order.KindPaid, 1)))
	}
	since := lastOffset(t)
	handled := counter(t, m, "tower_handler_messages_total", projection.HandlerName)

	runProjection(t, bus, m, p)

	last := keys[n-1]
	pgtest.WaitFor(t, 20*time.Second, func() bool {
		_, ok := loadOrder(t, last)
		return ok && counter(t, m, "tower_handler_messages_total", projection.HandlerName) >= handled+n
	})
	for _, k := range keys {
		r := mustLoadOrder(t, k)
		if r.Stage != string(twin.StagePaid) || r.Version != 1 {
			t.Errorf("%s: stage %s version %d, want PAID version 1", k, r.Stage, r.Version)
		}
	}
	changes := twinChangesSince(t, since)
	twins := 0
	for _, c := range changes {
		twins += len(c.Twins)
	}
	if twins != n {
		t.Errorf("%d twin snapshots published for %d orders", twins, n)
	}
	if len(changes) > n/10 {
		t.Errorf("%d projection transactions for %d messages: the backlog was not folded", len(changes), n)
	}
	checkStageCounts(t)

	// Once acknowledged, the records of folded messages are dropped.
	pgtest.WaitFor(t, 10*time.Second, func() bool {
		p.ForgetDelivered(ctxT(t))
		var left int
		if err := testDB.QueryRowContext(ctxT(t), `SELECT count(*) FROM projected_messages`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		return left == 0
	})
}

// A message the database refuses, read ahead with its neighbours, fails
// alone: the neighbours are projected, only it keeps failing.
func TestReadAheadIsolatesABadNeighbour(t *testing.T) {
	bus := newBus(t)
	bus.PollInterval = 5 * time.Millisecond
	m := metrics.New()
	p := projection.NewTwins(testDB, bus, m, quiet, func() time.Time { return projectedAt }, projection.Options{ReadAhead: 50})

	bad := uniqueKey("ra-bad")
	ctx := ctxT(t)
	if _, err := testDB.ExecContext(ctx, `
		CREATE OR REPLACE FUNCTION refuse_ra_bad() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.order_no = '`+bad.OrderNo+`' THEN RAISE EXCEPTION 'refused by test' USING ERRCODE = '23514'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_ra_bad BEFORE INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION refuse_ra_bad();`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = testDB.ExecContext(ctx, `DROP TRIGGER IF EXISTS refuse_ra_bad ON orders; DROP FUNCTION IF EXISTS refuse_ra_bad()`)
	})
	var good []order.Key
	for i := range 6 {
		if i == 3 {
			publishInTx(t, bus, batchMessage(t, event(bad, "ra-bad-"+bad.OrderNo, order.KindPaid, 0)))
		}
		k := uniqueKey(fmt.Sprintf("ra-good-%d", i))
		good = append(good, k)
		publishInTx(t, bus, batchMessage(t, event(k, "ra-g-"+k.OrderNo, order.KindPaid, 0)))
	}
	runProjection(t, bus, m, p)
	pgtest.WaitFor(t, 20*time.Second, func() bool {
		for _, k := range good {
			if _, ok := loadOrder(t, k); !ok {
				return false
			}
		}
		return true
	})
	if _, ok := loadOrder(t, bad); ok {
		t.Error("the refused order was projected")
	}
}

// On NATS the projection reads ahead within each partition: a backlog
// spread over the partitions is folded into a few transactions (grouping
// one message per partition alone would take at least one transaction per
// partition-full of messages), every order ends projected once, and the
// records of the folded messages are gone once their deliveries came.
func TestReadAheadOnNATS(t *testing.T) {
	migrated(t)
	bus, err := events.NewNATSBus(ctxT(t), testDB.DB, quiet, events.NATSOptions{
		URL: natstest.URL(t), Prefix: natstest.Prefix(t), Name: "test", Partitions: 4, AckWait: time.Second,
		Poll: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	m := metrics.New()
	p := projection.NewTwins(testDB, bus, m, quiet, func() time.Time { return projectedAt }, projection.Options{ReadAhead: 50})

	const n = 40
	var keys []order.Key
	var uuids []string
	for i := range n {
		k := uniqueKey(fmt.Sprintf("ran-%d", i))
		keys = append(keys, k)
		msg := batchMessage(t, event(k, "ran-c-"+k.OrderNo, order.KindCreated, 0), event(k, "ran-p-"+k.OrderNo, order.KindPaid, 1))
		msg.Metadata.Set(events.MetaPartitionKey, k.String())
		uuids = append(uuids, msg.UUID)
		publishInTx(t, bus, msg)
	}
	// Everything is on the broker before the projection starts.
	pgtest.WaitFor(t, 20*time.Second, func() bool {
		left, err := bus.Unread(ctxT(t), events.TopicOrderEvents, projection.ConsumerGroup)
		return err == nil && left == n
	})
	runProjection(t, bus, m, p)
	pgtest.WaitFor(t, 20*time.Second, func() bool {
		return counter(t, m, "tower_handler_messages_total", projection.HandlerName) >= n
	})
	for _, k := range keys {
		r := mustLoadOrder(t, k)
		if r.Stage != string(twin.StagePaid) || r.Version != 1 {
			t.Errorf("%s: stage %s version %d, want PAID version 1", k, r.Stage, r.Version)
		}
	}
	txs := labelled(t, m, "tower_events_published_total", "topic", events.TopicTwinChanges)
	if txs == 0 || txs > n/8 {
		t.Errorf("%v projection transactions for %d messages on 4 partitions: the backlog was not read ahead", txs, n)
	}
	p.ForgetDelivered(ctxT(t))
	var left int
	if err := testDB.QueryRowContext(ctxT(t), `SELECT count(*) FROM projected_messages WHERE uuid = ANY(?)`, pgdialect.Array(uuids)).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d read-ahead records left after every delivery came", left)
	}
}
