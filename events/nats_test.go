package events_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/natstest"
	"github.com/towerhq/tower/internal/pgtest"
)

// backends are the buses the shared suites run on.
var backends = []string{"postgres", "nats"}

// newBackend builds a bus of the named backend on db; a NATS bus gets a
// namespace of its own on the test server.
func newBackend(tb testing.TB, db *bun.DB, backend string) events.Bus {
	tb.Helper()
	if backend == "postgres" {
		return newBus(tb, db)
	}
	return newNATSBus(tb, db, natstest.Prefix(tb), time.Second)
}

func newNATSBus(tb testing.TB, db *bun.DB, prefix string, ackWait time.Duration) *events.NATSBus {
	tb.Helper()
	bus, err := events.NewNATSBus(ctxT(tb), db.DB, testLog(tb), events.NATSOptions{
		URL: natstest.URL(tb), Prefix: prefix, Name: "test", Partitions: 4, AckWait: ackWait, MaxDeliver: 3,
		Poll: 50 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := bus.Close(); err != nil {
			tb.Error(err)
		}
	})
	return bus
}

// publishTx publishes msgs in one committed transaction.
func publishTx(tb testing.TB, db *bun.DB, bus events.Bus, topic string, msgs ...*message.Message) {
	tb.Helper()
	tx, err := db.DB.BeginTx(ctxT(tb), nil)
	if err != nil {
		tb.Fatal(err)
	}
	if err := bus.PublishTx(ctxT(tb), tx, topic, msgs...); err != nil {
		tb.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

func keyed(name, key string) *message.Message {
	m := newMsg(name)
	if key != "" {
		m.Metadata.Set(events.MetaPartitionKey, key)
	}
	return m
}

func TestNATSPublishTx(t *testing.T) {
	db := pgtest.NewDB(t, "events_nats_tx")
	migrate(t, db)
	bus := newNATSBus(t, db, natstest.Prefix(t), time.Second)
	const topic = events.TopicOrderEvents
	ch := subscribe(t, bus, topic, "tx-group")

	cases := []struct {
		name      string
		end       func(*sql.Tx) error
		delivered bool
	}{
		{"rolled back", (*sql.Tx).Rollback, false},
		{"committed", (*sql.Tx).Commit, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tx, err := db.DB.BeginTx(ctxT(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			msg := newMsg(tc.name)
			if err := bus.PublishTx(ctxT(t), tx, topic, msg); err != nil {
				t.Fatal(err)
			}
			// Not before commit: the forwarder cannot see the row.
			select {
			case m := <-ch:
				t.Fatalf("delivered before the transaction ended: %s", m.Payload)
			case <-time.After(200 * time.Millisecond):
			}
			if err := tc.end(tx); err != nil {
				t.Fatal(err)
			}
			// A committed message marks the end: what was rolled back never comes.
			last := msg
			if !tc.delivered {
				last = keyed("marker-"+tc.name, "")
				publishTx(t, db, bus, topic, last)
			}
			got := receiveUntil(t, ch, last.UUID)
			want := payloads(tc.name)
			if !tc.delivered {
				want = payloads("marker-" + tc.name)
			}
			if !slices.Equal(got, want) {
				t.Errorf("received %q, want %q", got, want)
			}
		})
	}
	// What was forwarded leaves the outbox.
	pgtest.WaitFor(t, 10*time.Second, func() bool {
		var left int
		if err := db.QueryRowContext(ctxT(t), `SELECT count(*) FROM bus_outbox`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		return left == 0
	})
}

// Two groups, two members each (as two nodes): each group gets every
// message once; the members share them; and messages of one key arrive
// in the order they were published, whichever member takes them, while
// several publishers publish at once.
func TestNATSGroupsAndOrder(t *testing.T) {
	db := pgtest.NewDB(t, "events_nats_order")
	migrate(t, db)
	prefix := natstest.Prefix(t)
	nodes := []*events.NATSBus{newNATSBus(t, db, prefix, time.Second), newNATSBus(t, db, prefix, time.Second)}
	const topic = events.TopicOrderEvents
	const publishers, perKey, keys = 4, 25, 8

	type got struct {
		mu     sync.Mutex
		byKey  map[string][]int
		member map[int]int
	}
	groups := map[string]*got{}
	for _, g := range []string{"projection", "notifier"} {
		gt := &got{byKey: map[string][]int{}, member: map[int]int{}}
		groups[g] = gt
		for i, n := range nodes {
			ch := subscribe(t, n, topic, g)
			go func() {
				for m := range ch {
					key := m.Metadata.Get(events.MetaPartitionKey)
					seq, _ := strconv.Atoi(m.Metadata.Get("seq"))
					gt.mu.Lock()
					gt.byKey[key] = append(gt.byKey[key], seq)
					gt.member[i]++
					gt.mu.Unlock()
					m.Ack()
				}
			}()
		}
	}
	// Each publisher owns some keys and publishes their messages in
	// sequence, one transaction each, through either node.
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for seq := range perKey {
				for k := p; k < keys; k += publishers {
					key := fmt.Sprintf("order-%d", k)
					m := keyed(key, key)
					m.Metadata.Set("seq", strconv.Itoa(seq))
					publishTx(t, db, nodes[(seq+k)%2], topic, m)
				}
			}
		})
	}
	wg.Wait()
	for name, gt := range groups {
		pgtest.WaitFor(t, 30*time.Second, func() bool {
			gt.mu.Lock()
			defer gt.mu.Unlock()
			n := 0
			for _, s := range gt.byKey {
				n += len(s)
			}
			return n >= keys*perKey
		})
		gt.mu.Lock()
		for k := range keys {
			key := fmt.Sprintf("order-%d", k)
			want := make([]int, perKey)
			for i := range want {
				want[i] = i
			}
			if !slices.Equal(gt.byKey[key], want) {
				t.Errorf("%s: %s arrived as %v, want each once in order", name, key, gt.byKey[key])
			}
		}
		t.Logf("%s: member deliveries %v", name, gt.member)
		gt.mu.Unlock()
	}
}

// A nacked message comes back; one nobody acknowledges comes back after
// AckWait, and one that never gets acknowledged is parked by the router
// once it was delivered more than MaxDeliver times.
func TestNATSRedelivery(t *testing.T) {
	db := pgtest.NewDB(t, "events_nats_redeliver")
	migrate(t, db)
	bus := newNATSBus(t, db, natstest.Prefix(t), time.Second)
	const topic = events.TopicAlerts

	t.Run("after a handler error", func(t *testing.T) {
		ch := subscribe(t, bus, topic, "nack-group")
		msg := newMsg("nacked")
		publishTx(t, db, bus, topic, msg)
		for i, want := range []string{"nack", "ack"} {
			select {
			case m := <-ch:
				if m.UUID != msg.UUID {
					t.Fatalf("delivery %d: %s, want %s", i, m.UUID, msg.UUID)
				}
				if want == "nack" {
					m.Nack()
				} else {
					m.Ack()
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("delivery %d did not come", i)
			}
		}
	})

	t.Run("parked after too many unacknowledged deliveries", func(t *testing.T) {
		const topic = events.TopicTwinChanges // nothing else on it
		// The group's consumers exist (a node subscribed once) ...
		sub, err := bus.Subscriber("stuck-group")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(ctxT(t))
		if _, err := sub.Subscribe(ctx, topic); err != nil {
			t.Fatal(err)
		}
		cancel()
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
		msg := newMsg("stuck")
		publishTx(t, db, bus, topic, msg)
		// ... and nodes that die holding the message, MaxDeliver times
		// (a raw consumer that never acknowledges).
		nc, err := nats.Connect(natstest.URL(t))
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		stream, err := js.Stream(ctxT(t), strings.ToUpper(bus.Prefix()+"_"+topic))
		if err != nil {
			t.Fatal(err)
		}
		cons, err := stream.Consumer(ctxT(t), "stuck-group_p00")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; {
			b, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			for jm := range b.Messages() {
				if md, _ := jm.Metadata(); md != nil {
					i = int(md.NumDelivered)
				}
			}
		}

		m := metrics.New()
		q := events.NewPoisonQueue(db, bus, m, quiet, time.Now, map[string]string{"stuck": "stuck-group"})
		var runs atomic.Int32
		startRouter(t, bus, m, func(r *message.Router) {
			sub, err := bus.Subscriber("stuck-group")
			if err != nil {
				t.Fatal(err)
			}
			r.AddConsumerHandler("stuck", topic, sub, func(*message.Message) error {
				runs.Add(1)
				return nil
			})
		})
		var parked events.Parked
		pgtest.WaitFor(t, 30*time.Second, func() bool {
			ps, err := q.List(ctxT(t), events.ParkedFilter{Status: events.StatusParked})
			if err != nil {
				t.Fatal(err)
			}
			i := slices.IndexFunc(ps, func(p events.Parked) bool { return p.MessageUUID == msg.UUID })
			if i >= 0 {
				parked = ps[i]
			}
			return i >= 0
		})
		if n := runs.Load(); n != 0 {
			t.Errorf("handler ran %d times, want 0: the message is parked instead", n)
		}
		if !strings.Contains(parked.Reason, "delivered 3 times without an acknowledgement") || parked.Handler != "stuck" || !parked.Retriable() {
			t.Errorf("parked %+v, want a retriable message of stuck with the deliveries as its reason", parked)
		}
	})
}

func startRouter(t *testing.T, bus events.Bus, m *metrics.Metrics, add func(*message.Router)) *message.Router {
	t.Helper()
	r, err := events.NewRouter(bus, m, testLog(t), events.WithRetry(events.RetryPolicy{Initial: time.Millisecond, Max: 5 * time.Millisecond, Unknown: 2}))
	if err != nil {
		t.Fatal(err)
	}
	add(r)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- events.RunRouter(ctx, r) }()
	t.Cleanup(func() {
		cancel()
		if err := <-stopped; err != nil {
			t.Errorf("router: %v", err)
		}
	})
	select {
	case <-r.Running():
	case <-time.After(10 * time.Second):
		t.Fatal("router not running")
	}
	return r
}

// testLog shows the bus's warnings in the test's log.
func testLog(tb testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tbWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tbWriter struct{ tb testing.TB }

func (w tbWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// The forwarder and the subscribers outlive the broker going away: what is
// committed meanwhile is delivered once it is back. A payload too large for
// the broker travels by reference to the outbox.
func TestNATSOutageAndLargePayloads(t *testing.T) {
	srv := natstest.Start(t, func(o *server.Options) { o.MaxPayload = 64 << 10 })
	db := pgtest.NewDB(t, "events_nats_outage")
	migrate(t, db)
	bus, err := events.NewNATSBus(ctxT(t), db.DB, testLog(t), events.NATSOptions{
		URL: srv.URL(), Name: "test", Partitions: 2, AckWait: time.Second, Poll: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close() })
	const topic = events.TopicTwinChanges
	ch := subscribe(t, bus, topic, "outage-group")

	t.Run("a payload over the broker's limit", func(t *testing.T) {
		big := message.NewMessage(watermill.NewUUID(), fmt.Appendf(nil, `{"name": %q}`, strings.Repeat("大", 40<<10)))
		publishTx(t, db, bus, topic, big)
		got := receiveUntil(t, ch, big.UUID)
		if len(got) != 1 || got[0] != string(big.Payload) {
			t.Fatalf("received %d messages, the last %d bytes, want the %d bytes published", len(got), len(got[len(got)-1]), len(big.Payload))
		}
	})

	t.Run("published while the broker is down", func(t *testing.T) {
		srv.Stop()
		pgtest.WaitFor(t, 10*time.Second, func() bool { return bus.Ping(ctxT(t)) != nil })
		// The commit does not wait for the broker.
		msg := newMsg("during the outage")
		publishTx(t, db, bus, topic, msg)
		srv.Restart()
		// At least once: an ack the broker had not stored when it went
		// down delivers that message again first (handlers absorb it).
		got := receiveUntil(t, ch, msg.UUID)
		if got[len(got)-1] != payloads("during the outage")[0] {
			t.Errorf("received %d messages, the last not the one published during the outage", len(got))
		}
		pgtest.WaitFor(t, 10*time.Second, func() bool { return bus.Ping(ctxT(t)) == nil })
	})
}

// BenchmarkBus is one message's way from a committed transaction to a
// consumer group's handler, on each bus: b.N messages published in
// transactions of 10 by 4 publishers, received and acknowledged by one
// group. Reports messages per second.
func BenchmarkBus(b *testing.B) {
	for _, backend := range backends {
		b.Run(backend, func(b *testing.B) {
			db := pgtest.NewDB(b, "events_bench")
			migrate(b, db)
			bus := newBackend(b, db, backend)
			topic := events.TopicOrderEvents
			ch := subscribe(b, bus, topic, "bench-group")
			const perTx, publishers = 10, 4
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for p := range publishers {
				wg.Go(func() {
					for i := p * perTx; i < b.N; i += publishers * perTx {
						var msgs []*message.Message
						for j := i; j < min(i+perTx, b.N); j++ {
							msgs = append(msgs, keyed("m", strconv.Itoa(j)))
						}
						publishTx(b, db, bus, topic, msgs...)
					}
				})
			}
			for range b.N {
				select {
				case m := <-ch:
					m.Ack()
				case <-time.After(30 * time.Second):
					b.Fatal("messages stopped arriving")
				}
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
		})
	}
}

// A handler can see what follows its message, in the order the bus will
// deliver it: on PostgreSQL the rest of the topic, on NATS the rest of the
// message's partition, up to a payload kept in the outbox. What it sees
// moves forward with the deliveries, and starts over for a message
// delivered again behind those it was asked about.
func TestFollowing(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) {
			db := pgtest.NewDB(t, "events_following_"+backend)
			migrate(t, db)
			bus := newBackend(t, db, backend)
			la, ok := bus.(events.Lookahead)
			if !ok {
				t.Fatalf("%s bus cannot look ahead", backend)
			}
			const topic = events.TopicOrderEvents
			// Keys of the first partition, and one of another.
			parts := bus.Partitions()
			var mine []string
			other := ""
			for i := 0; len(mine) < 3 || (parts > 1 && other == ""); i++ {
				k := fmt.Sprintf("order-%d", i)
				if events.PartitionOf(k, parts) == 0 {
					if len(mine) < 3 {
						mine = append(mine, k)
					}
				} else if other == "" {
					other = k
				}
			}
			var published, expected []string
			for i := range 12 {
				key := mine[i%len(mine)]
				if i%4 == 3 && other != "" {
					key = other
				}
				m := keyed(fmt.Sprint("m", i), key)
				publishTx(t, db, bus, topic, m)
				published = append(published, m.UUID)
				if events.PartitionOf(key, parts) == 0 {
					expected = append(expected, m.UUID)
				}
			}
			if backend == "nats" {
				// A payload too large for the broker stays in the outbox and
				// ends what can be seen ahead.
				big := keyed(strings.Repeat("x", 2<<20), mine[0])
				publishTx(t, db, bus, topic, big)
				after := keyed("after-big", mine[0])
				publishTx(t, db, bus, topic, after)
			}
			uuids := func(ms []*message.Message) []string {
				var out []string
				for _, m := range ms {
					out = append(out, m.UUID)
				}
				return out
			}
			ch := subscribe(t, bus, topic, "following")
			var delivered []*message.Message
			next := func() *message.Message {
				t.Helper()
				for {
					select {
					case m := <-ch:
						if events.PartitionOf(m.Metadata.Get(events.MetaPartitionKey), parts) != 0 {
							m.Ack()
							continue
						}
						delivered = append(delivered, m)
						return m
					case <-time.After(20 * time.Second):
						t.Fatal("no delivery")
						return nil
					}
				}
			}
			first := next()
			if first.UUID != expected[0] {
				t.Fatalf("first delivery %s, want %s", first.UUID, expected[0])
			}
			got, err := la.Following(ctxT(t), topic, first, 3)
			if err != nil {
				t.Fatal(err)
			}
			want := expected[1:4]
			if backend == "postgres" {
				want = published[1:4] // one order for the whole topic
			}
			if !slices.Equal(uuids(got), want) {
				t.Errorf("following the first, 3: %v, want %v", uuids(got), want)
			}
			// Forward with the deliveries.
			first.Ack()
			for range 3 {
				next().Ack()
			}
			fourth := delivered[3]
			got, err = la.Following(ctxT(t), topic, fourth, 100)
			if err != nil {
				t.Fatal(err)
			}
			want = expected[4:]
			if backend == "postgres" {
				want = published[slices.Index(published, fourth.UUID)+1:]
			}
			if !slices.Equal(uuids(got), want) {
				t.Errorf("following the fourth: %v, want %v", uuids(got), want)
			}
			// A message delivered again behind the fourth: what follows it
			// is seen again, without a gap.
			got, err = la.Following(ctxT(t), topic, delivered[1], 2)
			if err != nil {
				t.Fatal(err)
			}
			want = expected[2:4]
			if backend == "postgres" {
				i := slices.Index(published, delivered[1].UUID)
				want = published[i+1 : i+3]
			}
			if !slices.Equal(uuids(got), want) {
				t.Errorf("following the second again: %v, want %v", uuids(got), want)
			}
			// A message of no position on this bus has nothing following.
			if got, err := la.Following(ctxT(t), topic, newMsg("stranger"), 5); err != nil || len(got) != 0 {
				t.Errorf("following an unknown message: %d, %v", len(got), err)
			}
		})
	}
}
