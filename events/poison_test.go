package events_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/pgtest"
)

// poisonBench is a real router on a real bus with three handlers on one
// topic, as in production: two with durable consumer groups (flaky, whose
// behaviour each test sets per message, and bystander, which records what
// it sees) and one with a per-node group (fanout).
type poisonBench struct {
	db  *bun.DB
	bus events.Bus
	m   *metrics.Metrics
	q   *events.PoisonQueue

	mu sync.Mutex
	// fail says how flaky fails message name on its attempt n (from 1);
	// nil: it succeeds.
	fail map[string]func(n int) error
	// attempts and applied count flaky's attempts and successes per
	// message; seen counts bystander's and fanout's deliveries.
	attempts, applied, seen, fanout map[string]int
}

const poisonTopic = events.TopicAlerts

func newPoisonBench(t *testing.T, backend string) *poisonBench {
	t.Helper()
	db := pgtest.NewDB(t, "events_poison")
	migrate(t, db)
	b := &poisonBench{
		db: db, bus: newBackend(t, db, backend), m: metrics.New(),
		fail:     map[string]func(int) error{},
		attempts: map[string]int{}, applied: map[string]int{}, seen: map[string]int{}, fanout: map[string]int{},
	}
	b.q = events.NewPoisonQueue(db, b.bus, b.m, quiet, time.Now, map[string]string{"flaky": "flaky-group", "bystander": "bystander-group"})
	r, err := events.NewRouter(b.bus, b.m, quiet, events.WithRetry(events.RetryPolicy{Initial: time.Millisecond, Max: 10 * time.Millisecond, Unknown: 5}))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []struct {
		name, group string
		f           message.NoPublishHandlerFunc
	}{
		{"flaky", "flaky-group", b.flaky},
		{"bystander", "bystander-group", b.count(b.seen)},
		{"fanout", "fanout-node-1", b.fanoutHandler},
	} {
		sub, err := b.bus.Subscriber(h.group)
		if err != nil {
			t.Fatal(err)
		}
		r.AddConsumerHandler(h.name, poisonTopic, sub, h.f)
	}
	if err := b.q.RegisterRedrive(r); err != nil {
		t.Fatal(err)
	}
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
	return b
}

func nameOf(msg *message.Message) string {
	var p struct{ Name string }
	_ = json.Unmarshal(msg.Payload, &p)
	return p.Name
}

func (b *poisonBench) flaky(msg *message.Message) error {
	name := nameOf(msg)
	b.mu.Lock()
	b.attempts[name]++
	n, fail := b.attempts[name], b.fail[name]
	b.mu.Unlock()
	if fail != nil {
		if err := fail(n); err != nil {
			return fmt.Errorf("apply %s: %w", name, err)
		}
	}
	b.mu.Lock()
	b.applied[name]++
	b.mu.Unlock()
	return nil
}

func (b *poisonBench) count(m map[string]int) message.NoPublishHandlerFunc {
	return func(msg *message.Message) error {
		b.mu.Lock()
		defer b.mu.Unlock()
		m[nameOf(msg)]++
		return nil
	}
}

// fanoutHandler rejects messages named fanout-*, as the live fan-out
// rejects a payload it cannot decode.
func (b *poisonBench) fanoutHandler(msg *message.Message) error {
	name := nameOf(msg)
	b.mu.Lock()
	b.fanout[name]++
	b.mu.Unlock()
	if strings.HasPrefix(name, "fanout-") {
		return fmt.Errorf("%w: decode %s", events.ErrPermanent, name)
	}
	return nil
}

func (b *poisonBench) setFail(name string, f func(n int) error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fail[name] = f
}

func (b *poisonBench) get(m map[string]int, name string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return m[name]
}

// publish publishes a message named name and waits until bystander and
// fanout got it (flaky may still be retrying it).
func (b *poisonBench) publish(t *testing.T, name string) *message.Message {
	t.Helper()
	msg := message.NewMessage(watermill.NewUUID(), newMsgPayload(name))
	if err := b.bus.Publisher().Publish(poisonTopic, msg); err != nil {
		t.Fatal(err)
	}
	pgtest.WaitFor(t, 10*time.Second, func() bool { return b.get(b.seen, name) > 0 && b.get(b.fanout, name) > 0 })
	return msg
}

// parked waits for the message with uuid to be parked by handler, and
// returns it.
func (b *poisonBench) parked(t *testing.T, uuid, handler string) events.Parked {
	t.Helper()
	var out events.Parked
	pgtest.WaitFor(t, 10*time.Second, func() bool {
		ps, err := b.q.List(ctxT(t), events.ParkedFilter{Status: events.StatusParked, Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.MessageUUID == uuid && p.Handler == handler {
				out = p
				return true
			}
		}
		return false
	})
	return out
}

// parkings counts the poison queue rows of a message, any status.
func (b *poisonBench) parkings(t *testing.T, name string) int {
	t.Helper()
	var n int
	if err := b.db.DB.QueryRowContext(ctxT(t), `SELECT count(*) FROM "watermill_poison_v1" WHERE payload->>'name' = $1`, name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// The poison queue is the same on both buses: parked in PostgreSQL,
// retried through TopicRedrive on the bus.
func TestPoisonQueue(t *testing.T) {
	for _, backend := range backends {
		t.Run(backend, func(t *testing.T) { testPoisonQueue(t, backend) })
	}
}

func testPoisonQueue(t *testing.T, backend string) {
	b := newPoisonBench(t, backend)
	ctx := ctxT(t)

	t.Run("a database outage is waited out, never parked", func(t *testing.T) {
		// Real errors from the server, each more often than the retries an
		// unknown error gets, then the database is back.
		outage := []func(ctx context.Context) error{
			func(ctx context.Context) error { // the server ends the connection: 57P01
				conn, err := b.db.DB.Conn(ctx)
				if err != nil {
					return err
				}
				defer conn.Close()
				if _, err := conn.ExecContext(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`); err != nil {
					return err
				}
				_, err = conn.ExecContext(ctx, `SELECT 1`)
				return err
			},
			func(ctx context.Context) error { // statement_timeout: 57014
				tx, err := b.db.DB.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				defer tx.Rollback()
				if _, err := tx.ExecContext(ctx, `SET LOCAL statement_timeout = '5ms'`); err != nil {
					return err
				}
				_, err = tx.ExecContext(ctx, `SELECT pg_sleep(1)`)
				return err
			},
			func(ctx context.Context) error { // too many connections, a deadlock: as the server reports them
				_, err := b.db.DB.ExecContext(ctx, `DO $$ BEGIN RAISE EXCEPTION 'sorry, too many clients already' USING ERRCODE = 'too_many_connections'; END $$`)
				return err
			},
			func(ctx context.Context) error {
				_, err := b.db.DB.ExecContext(ctx, `DO $$ BEGIN RAISE EXCEPTION 'deadlock detected' USING ERRCODE = 'deadlock_detected'; END $$`)
				return err
			},
			func(ctx context.Context) error { // nobody listening
				cfg, err := pgconn.ParseConfig("postgres://tower@127.0.0.1:1/tower?connect_timeout=2")
				if err != nil {
					return err
				}
				_, err = pgconn.ConnectConfig(ctx, cfg)
				return err
			},
		}
		const failures = 12
		var mu sync.Mutex
		var seen []string
		b.setFail("outage", func(n int) error {
			if n > failures {
				return nil
			}
			err := outage[n%len(outage)](ctx)
			if err == nil {
				return errors.New("the outage did not fail")
			}
			mu.Lock()
			seen = append(seen, err.Error())
			mu.Unlock()
			return err
		})
		msg := b.publish(t, "outage")
		pgtest.WaitFor(t, 20*time.Second, func() bool { return b.get(b.applied, "outage") > 0 })
		if got := b.get(b.attempts, "outage"); got != failures+1 {
			t.Errorf("flaky ran %d times, want %d (%d failures, then success)", got, failures+1, failures)
		}
		if got := b.get(b.applied, "outage"); got != 1 {
			t.Errorf("applied %d times, want once", got)
		}
		if n := b.parkings(t, "outage"); n != 0 {
			t.Errorf("message %s parked %d times during an outage", msg.UUID, n)
		}
		t.Logf("errors waited out: %q", seen)
	})

	t.Run("an unknown error is retried a few times, then parked with its reason", func(t *testing.T) {
		b.setFail("unknown", func(int) error { return errors.New("rule engine: no such field") })
		msg := b.publish(t, "unknown")
		p := b.parked(t, msg.UUID, "flaky")
		if p.Attempts != 6 || !strings.Contains(p.Reason, "rule engine: no such field") {
			t.Errorf("parked after %d attempts with %q, want 6 and the error", p.Attempts, p.Reason)
		}
		if p.Topic != poisonTopic || p.ConsumerGroup != "flaky-group" || !p.Retriable() {
			t.Errorf("parked from %s group %q retriable %v, want %s flaky-group true", p.Topic, p.ConsumerGroup, p.Retriable(), poisonTopic)
		}
	})

	var fixable events.Parked
	t.Run("a permanent error parks at once", func(t *testing.T) {
		broken := true
		var mu sync.Mutex
		b.setFail("fixable", func(int) error {
			mu.Lock()
			defer mu.Unlock()
			if broken {
				return fmt.Errorf("%w: order has no channel", events.ErrPermanent)
			}
			return nil
		})
		msg := b.publish(t, "fixable")
		fixable = b.parked(t, msg.UUID, "flaky")
		if fixable.Attempts != 1 || !strings.Contains(fixable.Reason, "order has no channel") {
			t.Errorf("parked after %d attempts with %q, want 1 and the error", fixable.Attempts, fixable.Reason)
		}
		if !strings.Contains(events.Preview(fixable.Payload, 100, false), `"name":"fixable"`) {
			t.Errorf("payload %s", fixable.Payload)
		}
		mu.Lock()
		broken = false // the cause is fixed
		mu.Unlock()
	})

	t.Run("a retried message reaches its consumer group only, and applies once", func(t *testing.T) {
		seenBefore, fanoutBefore := b.get(b.seen, "fixable"), b.get(b.fanout, "fixable")
		p, err := b.q.Retry(ctx, fixable.ID, "ops-lead")
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != events.StatusRetried || p.ResolvedBy != "ops-lead" || p.ResolvedAt == nil {
			t.Errorf("after retry: %s by %q at %v", p.Status, p.ResolvedBy, p.ResolvedAt)
		}
		pgtest.WaitFor(t, 10*time.Second, func() bool { return b.get(b.applied, "fixable") > 0 })
		// The bystander's companion has read the retry (and skipped it)
		// once it counted a message on the redrive topic.
		pgtest.WaitFor(t, 10*time.Second, func() bool {
			return counter(t, b.m, "tower_handler_messages_total", "bystander_redrive") >= 1
		})
		if got := b.get(b.applied, "fixable"); got != 1 {
			t.Errorf("applied %d times, want once", got)
		}
		if got := b.get(b.seen, "fixable"); got != seenBefore {
			t.Errorf("bystander saw the message %d times, %d before the retry: another group got the retry", got, seenBefore)
		}
		if got := b.get(b.fanout, "fixable"); got != fanoutBefore {
			t.Errorf("fanout saw the message %d times, %d before the retry", got, fanoutBefore)
		}
		got, err := b.q.Get(ctx, fixable.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != events.StatusRetried || got.ResolvedBy != "ops-lead" {
			t.Errorf("stored: %s by %q", got.Status, got.ResolvedBy)
		}
		var resolved *events.ResolvedError
		if _, err := b.q.Retry(ctx, fixable.ID, "ops-lead"); !errors.As(err, &resolved) || resolved.Status != events.StatusRetried {
			t.Errorf("a second retry: %v, want a ResolvedError", err)
		}
		if _, err := b.q.Discard(ctx, fixable.ID, "ops-lead"); !errors.As(err, &resolved) {
			t.Errorf("a discard after the retry: %v, want a ResolvedError", err)
		}
	})

	t.Run("a retry that fails again is parked again with the new error", func(t *testing.T) {
		b.setFail("still-broken", func(n int) error {
			return fmt.Errorf("%w: attempt %d", events.ErrPermanent, n)
		})
		msg := b.publish(t, "still-broken")
		first := b.parked(t, msg.UUID, "flaky")
		if _, err := b.q.Retry(ctx, first.ID, "anonymous"); err != nil {
			t.Fatal(err)
		}
		var again events.Parked
		pgtest.WaitFor(t, 10*time.Second, func() bool {
			ps, err := b.q.List(ctx, events.ParkedFilter{Topic: poisonTopic, Status: events.StatusParked})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range ps {
				if p.RetryOf == first.ID {
					again = p
					return true
				}
			}
			return false
		})
		if again.Handler != "flaky" || again.Topic != poisonTopic || !strings.Contains(again.Reason, "attempt 2") || again.ConsumerGroup != "flaky-group" {
			t.Errorf("parked again as %+v, want flaky on %s with the second attempt's error", again, poisonTopic)
		}
	})

	t.Run("a discarded message stays discarded", func(t *testing.T) {
		b.setFail("junk", func(int) error { return fmt.Errorf("%w: junk", events.ErrPermanent) })
		msg := b.publish(t, "junk")
		p := b.parked(t, msg.UUID, "flaky")
		d, err := b.q.Discard(ctx, p.ID, "anonymous")
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != events.StatusDiscarded || d.ResolvedBy != "anonymous" {
			t.Errorf("after discard: %s by %q", d.Status, d.ResolvedBy)
		}
		var resolved *events.ResolvedError
		if _, err := b.q.Retry(ctx, p.ID, "anonymous"); !errors.As(err, &resolved) || resolved.Status != events.StatusDiscarded {
			t.Errorf("retry after discard: %v, want a ResolvedError", err)
		}
		if _, err := b.q.Retry(ctx, 1<<40, "anonymous"); !errors.Is(err, events.ErrParkedNotFound) {
			t.Errorf("retry of a missing id: %v", err)
		}
	})

	t.Run("a per-node group's message can only be discarded", func(t *testing.T) {
		msg := b.publish(t, "fanout-bad")
		p := b.parked(t, msg.UUID, "fanout")
		if p.ConsumerGroup != "" || p.Retriable() {
			t.Errorf("group %q retriable %v, want none", p.ConsumerGroup, p.Retriable())
		}
		var nr *events.NotRetriableError
		if _, err := b.q.Retry(ctx, p.ID, "anonymous"); !errors.As(err, &nr) {
			t.Errorf("retry: %v, want a NotRetriableError", err)
		}
	})

	t.Run("bulk retry of a topic, the count and the gauge", func(t *testing.T) {
		for _, name := range []string{"bulk-1", "bulk-2", "bulk-3"} {
			broken := true
			var mu sync.Mutex
			b.setFail(name, func(int) error {
				mu.Lock()
				defer mu.Unlock()
				if broken {
					broken = false // fixed by the time it is retried
					return fmt.Errorf("%w: %s", events.ErrPermanent, name)
				}
				return nil
			})
			msg := b.publish(t, name)
			b.parked(t, msg.UUID, "flaky")
		}
		parked, err := b.q.Count(ctx, poisonTopic)
		if err != nil {
			t.Fatal(err)
		}
		// unknown, still-broken again, fanout-bad and the three.
		if parked != 6 {
			t.Errorf("count %d, want 6", parked)
		}
		if err := b.q.RefreshGauge(ctx); err != nil {
			t.Fatal(err)
		}
		if g := gauge(t, b.m, "tower_poison_parked_messages", poisonTopic); g != float64(parked) {
			t.Errorf("gauge %v, want %d", g, parked)
		}
		retried, skipped, err := b.q.RetryTopic(ctx, poisonTopic, "anonymous")
		if err != nil {
			t.Fatal(err)
		}
		// fanout-bad stays: its group is per node.
		if retried != 5 || skipped != 1 {
			t.Errorf("retried %d, skipped %d; want 5 and 1", retried, skipped)
		}
		for _, name := range []string{"bulk-1", "bulk-2", "bulk-3"} {
			pgtest.WaitFor(t, 10*time.Second, func() bool { return b.get(b.applied, name) == 1 })
		}
		// unknown and still-broken fail again and are parked again.
		pgtest.WaitFor(t, 10*time.Second, func() bool {
			n, err := b.q.Count(ctx, poisonTopic)
			if err != nil {
				t.Fatal(err)
			}
			return n == 3
		})
		if err := b.q.RefreshGauge(ctx); err != nil {
			t.Fatal(err)
		}
		if g := gauge(t, b.m, "tower_poison_parked_messages", poisonTopic); g != 3 {
			t.Errorf("gauge %v after the bulk retry, want 3", g)
		}
	})
}

// counter reads the counter name{handler=...}, 0 while it does not exist.
func counter(tb testing.TB, m *metrics.Metrics, name, handler string) float64 {
	return sample(tb, m, name, "handler", handler, func(v float64, _ float64) float64 { return v })
}

// gauge reads the gauge name{topic=...}.
func gauge(tb testing.TB, m *metrics.Metrics, name, topic string) float64 {
	return sample(tb, m, name, "topic", topic, func(_ float64, v float64) float64 { return v })
}

func sample(tb testing.TB, m *metrics.Metrics, name, label, value string, pick func(counter, gauge float64) float64) float64 {
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
					return pick(s.GetCounter().GetValue(), s.GetGauge().GetValue())
				}
			}
		}
	}
	return 0
}
