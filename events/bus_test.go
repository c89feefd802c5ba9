package events_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/uptrace/bun"

	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "events", &testDB)) }

var quiet = slog.New(slog.DiscardHandler)

func ctxT(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

func migrate(tb testing.TB, db *bun.DB) {
	tb.Helper()
	if err := migrations.Migrate(ctxT(tb), db, quiet); err != nil {
		tb.Fatal(err)
	}
}

func newBus(tb testing.TB, db *bun.DB) *events.PostgresBus {
	tb.Helper()
	bus, err := events.NewPostgresBus(db.DB, quiet)
	if err != nil {
		tb.Fatal(err)
	}
	bus.PollInterval = 5 * time.Millisecond
	return bus
}

func newMsg(name string) *message.Message {
	return message.NewMessage(watermill.NewUUID(), newMsgPayload(name))
}

// subscribe consumes topic as group until the test ends.
func subscribe(tb testing.TB, bus events.Bus, topic, group string) <-chan *message.Message {
	tb.Helper()
	sub, err := bus.Subscriber(group)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch, err := sub.Subscribe(ctx, topic)
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		cancel()
		if err := sub.Close(); err != nil {
			tb.Error(err)
		}
	})
	return ch
}

// receiveUntil acks messages from ch until the one with uuid arrives and
// returns the names of all it received, in order.
func receiveUntil(tb testing.TB, ch <-chan *message.Message, uuid string) []string {
	tb.Helper()
	var got []string
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-ch:
			if !ok {
				tb.Fatalf("subscription closed; received %v", got)
			}
			got = append(got, string(m.Payload))
			m.Ack()
			if m.UUID == uuid {
				return got
			}
		case <-timeout:
			tb.Fatalf("message %s not received within 10s; received %v", uuid, got)
		}
	}
}

func payloads(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = string(newMsgPayload(n))
	}
	return out
}

func newMsgPayload(name string) []byte { return fmt.Appendf(nil, `{"name": %q}`, name) }

func publish(tb testing.TB, bus events.Bus, topic string, names ...string) *message.Message {
	tb.Helper()
	var last *message.Message
	for _, n := range names {
		last = newMsg(n)
		if err := bus.Publisher().Publish(topic, last); err != nil {
			tb.Fatal(err)
		}
	}
	return last
}

// settle waits until no open transaction on the server (in any database:
// transaction ids are server-wide) is older than the newest message of
// topic. Only then is that message certainly "the newest": SeekToEnd, like
// the subscriber, never positions past a point an open transaction could
// still commit before, so it replays rather than skips. Other test
// packages running in parallel hold transactions briefly.
func settle(t *testing.T, db *bun.DB, topic string) {
	t.Helper()
	pgtest.WaitFor(t, 10*time.Second, func() bool {
		var ok bool
		err := db.QueryRowContext(ctxT(t), fmt.Sprintf(`
			SELECT coalesce(bool_and(transaction_id < pg_snapshot_xmin(pg_current_snapshot())), true)
			FROM "watermill_%s"`, topic)).Scan(&ok)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	})
}

func TestSeekToEnd(t *testing.T) {
	const topic = events.TopicTwinChanges
	cases := []struct {
		name string
		// run publishes, seeks and consumes on a fresh database, and
		// returns what group received up to its last message.
		run  func(t *testing.T, db *bun.DB, bus events.Bus, group string) []string
		want []string
	}{
		{
			name: "a new group skips old messages and receives new ones",
			run: func(t *testing.T, db *bun.DB, bus events.Bus, group string) []string {
				publish(t, bus, topic, "old-1", "old-2", "old-3")
				settle(t, db, topic)
				if err := events.SeekToEnd(ctxT(t), db, topic, group); err != nil {
					t.Fatal(err)
				}
				ch := subscribe(t, bus, topic, group)
				last := publish(t, bus, topic, "new-1", "new-2")
				return receiveUntil(t, ch, last.UUID)
			},
			want: payloads("new-1", "new-2"),
		},
		{
			name: "without a seek a new group replays the topic (what seeking avoids)",
			run: func(t *testing.T, db *bun.DB, bus events.Bus, group string) []string {
				publish(t, bus, topic, "old-1", "old-2")
				ch := subscribe(t, bus, topic, group)
				last := publish(t, bus, topic, "new-1")
				return receiveUntil(t, ch, last.UUID)
			},
			want: payloads("old-1", "old-2", "new-1"),
		},
		{
			name: "seeking an empty topic",
			run: func(t *testing.T, db *bun.DB, bus events.Bus, group string) []string {
				if err := events.SeekToEnd(ctxT(t), db, topic, group); err != nil {
					t.Fatal(err)
				}
				ch := subscribe(t, bus, topic, group)
				last := publish(t, bus, topic, "new-1")
				return receiveUntil(t, ch, last.UUID)
			},
			want: payloads("new-1"),
		},
		{
			name: "seeking an existing group skips its backlog",
			run: func(t *testing.T, db *bun.DB, bus events.Bus, group string) []string {
				seen := publish(t, bus, topic, "seen")
				func() {
					// A first run of the group consumes "seen", then stops.
					sub, err := bus.Subscriber(group)
					if err != nil {
						t.Fatal(err)
					}
					defer sub.Close()
					ctx, cancel := context.WithCancel(context.Background())
					defer cancel()
					ch, err := sub.Subscribe(ctx, topic)
					if err != nil {
						t.Fatal(err)
					}
					receiveUntil(t, ch, seen.UUID)
				}()
				publish(t, bus, topic, "missed-1", "missed-2")
				settle(t, db, topic)
				if err := events.SeekToEnd(ctxT(t), db, topic, group); err != nil {
					t.Fatal(err)
				}
				ch := subscribe(t, bus, topic, group)
				last := publish(t, bus, topic, "new-1")
				return receiveUntil(t, ch, last.UUID)
			},
			want: payloads("new-1"),
		},
		{
			name: "a message committed after the seek is not skipped, though its transaction began before",
			run: func(t *testing.T, db *bun.DB, bus events.Bus, group string) []string {
				publish(t, bus, topic, "old-1")
				settle(t, db, topic)
				tx, err := db.DB.BeginTx(ctxT(t), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				if err := bus.PublishTx(ctxT(t), tx, topic, newMsg("in-flight")); err != nil {
					t.Fatal(err)
				}
				if err := events.SeekToEnd(ctxT(t), db, topic, group); err != nil {
					t.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				ch := subscribe(t, bus, topic, group)
				last := publish(t, bus, topic, "new-1")
				return receiveUntil(t, ch, last.UUID)
			},
			want: payloads("in-flight", "new-1"),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := pgtest.NewDB(t, "events_seek")
			migrate(t, db)
			bus := newBus(t, db)
			got := tc.run(t, db, bus, "live-test")
			if !slices.Equal(got, tc.want) {
				t.Errorf("group received %v, want %v", got, tc.want)
			}
		})
	}
}

// TestPublishTx checks the transactional publish: a message exists if and
// only if its transaction commits, and carries its publish time.
func TestPublishTx(t *testing.T) {
	migrate(t, testDB)
	bus := newBus(t, testDB)
	const topic = events.TopicOrderEvents
	cases := []struct {
		name      string
		end       func(*sql.Tx) error
		delivered bool
	}{
		{"rolled back", (*sql.Tx).Rollback, false},
		{"committed", (*sql.Tx).Commit, true},
	}
	var published []*message.Message
	before := time.Now()
	for _, tc := range cases {
		tx, err := testDB.DB.BeginTx(ctxT(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		msg := newMsg(tc.name)
		if err := bus.PublishTx(ctxT(t), tx, topic, msg); err != nil {
			t.Fatal(err)
		}
		if err := tc.end(tx); err != nil {
			t.Fatal(err)
		}
		published = append(published, msg)
	}
	after := time.Now()

	// A fresh group replays the topic; the last published message is a
	// committed one, so everything before it has been seen when it arrives.
	ch := subscribe(t, bus, topic, fmt.Sprint("publish-tx-", time.Now().UnixNano()))
	var got []*message.Message
	timeout := time.After(10 * time.Second)
	for len(got) == 0 || got[len(got)-1].UUID != published[len(published)-1].UUID {
		select {
		case m := <-ch:
			m.Ack()
			got = append(got, m)
		case <-timeout:
			t.Fatalf("committed message not received")
		}
	}
	for i, tc := range cases {
		idx := slices.IndexFunc(got, func(m *message.Message) bool { return m.UUID == published[i].UUID })
		if (idx >= 0) != tc.delivered {
			t.Errorf("%s: delivered = %v, want %v", tc.name, idx >= 0, tc.delivered)
			continue
		}
		if idx < 0 {
			continue
		}
		m := got[idx]
		if string(m.Payload) != string(published[i].Payload) {
			t.Errorf("%s: payload %s, want %s", tc.name, m.Payload, published[i].Payload)
		}
		if at := events.PublishedAt(m); at.Before(before) || at.After(after) {
			t.Errorf("%s: published_at %v, want between %v and %v", tc.name, at, before, after)
		}
	}
}
