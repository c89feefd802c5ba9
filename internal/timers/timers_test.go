package timers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/internal/clock"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

var testDB *bun.DB

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, "timers", &testDB)) }

var quiet = slog.New(slog.DiscardHandler)

var migrated = sync.OnceValue(func() error {
	ctx := context.Background()
	if err := migrations.Migrate(ctx, testDB, quiet); err != nil {
		return err
	}
	_, err := testDB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS timers_test_log (
		key text NOT NULL, timer_id bigint NOT NULL, attempt int NOT NULL)`)
	return err
})

// setup returns the package database, migrated, with no timers and an
// empty handler log. Tests share it, so they do not run in parallel and
// stop their schedulers (Cleanup) before the next test starts.
func setup(t *testing.T) *bun.DB {
	t.Helper()
	if err := migrated(); err != nil {
		t.Fatal(err)
	}
	if _, err := testDB.ExecContext(t.Context(), `TRUNCATE timers, timers_test_log`); err != nil {
		t.Fatal(err)
	}
	return testDB
}

// t0 is microsecond-aligned: PostgreSQL keeps microseconds.
var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// testClock is a manual clock that counts reads: the leader reads it on
// every claim, so the count shows that it polled.
type testClock struct {
	*clock.Manual
	reads atomic.Int64
}

func newClock() *testClock { return &testClock{Manual: clock.NewManual(t0)} }

func (c *testClock) Now() time.Time { c.reads.Add(1); return c.Manual.Now() }

// waitPolls waits until the leader has read the clock n more times (a
// round reads it three times), i.e. has looked at the table at the
// current time.
func (c *testClock) waitPolls(t *testing.T, n int64) {
	t.Helper()
	target := c.reads.Load() + 3*n
	pgtest.WaitFor(t, 10*time.Second, func() bool { return c.reads.Load() >= target })
}

// recorder is a Handler that logs each fired timer in timers_test_log
// inside the firing transaction and counts successful calls per key.
type recorder struct {
	db   *bun.DB
	fail func(fired []Fired) error // optional; runs after the log insert

	mu    sync.Mutex
	calls map[string]int
	fired []Fired
}

func newRecorder(db *bun.DB) *recorder { return &recorder{db: db, calls: map[string]int{}} }

func (r *recorder) handle(ctx context.Context, tx bun.Tx, fired []Fired) error {
	keys, ids, attempts := make([]string, len(fired)), make([]int64, len(fired)), make([]int32, len(fired))
	for i, f := range fired {
		keys[i], ids[i], attempts[i] = f.Key, f.ID, int32(f.Attempt)
	}
	if _, err := tx.Tx.ExecContext(ctx, `INSERT INTO timers_test_log (key, timer_id, attempt)
		SELECT * FROM unnest($1::text[], $2::bigint[], $3::int[])`, keys, ids, attempts); err != nil {
		return err
	}
	if r.fail != nil {
		if err := r.fail(fired); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range fired {
		r.calls[f.Key]++
	}
	r.fired = append(r.fired, fired...)
	return nil
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[key]
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.fired)
}

func (r *recorder) get(key string) (Fired, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.fired {
		if f.Key == key {
			return f, true
		}
	}
	return Fired{}, false
}

// logged counts committed firings per key.
func logged(t *testing.T, db *bun.DB) map[string]int {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), `SELECT key, count(*) FROM timers_test_log GROUP BY key`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// jsonEqual compares JSON values: jsonb normalises spacing and key order.
func jsonEqual(a, b json.RawMessage) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && fmt.Sprint(x) == fmt.Sprint(y)
}

func opts(c *testClock) Options {
	return Options{Now: c.Now, Poll: 5 * time.Millisecond, Standby: 10 * time.Millisecond, Logger: quiet}
}

type node struct {
	*Scheduler
	stop func()
}

// start runs a Scheduler until stop (or the end of the test).
func start(t *testing.T, db *bun.DB, h Handler, o Options) node {
	t.Helper()
	s := NewScheduler(db, h, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after cancel")
		}
	})
	t.Cleanup(stop)
	return node{s, stop}
}

func schedule(t *testing.T, db bun.IDB, ts ...Timer) {
	t.Helper()
	if err := Schedule(t.Context(), db, ts...); err != nil {
		t.Fatal(err)
	}
}

func pending(t *testing.T, s *Scheduler) int64 {
	t.Helper()
	n, err := s.Pending(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFired(t *testing.T, r *recorder, n int) {
	t.Helper()
	pgtest.WaitFor(t, 10*time.Second, func() bool { return r.total() >= n })
}

func TestFiresOnceAtDueTime(t *testing.T) {
	for _, tc := range []struct {
		name string
		due  time.Duration // from t0
	}{
		{"future", 10 * time.Minute},
		{"now", 0},
		{"past", -time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := setup(t)
			c := newClock()
			r := newRecorder(db)
			n := start(t, db, r.handle, opts(c))
			due := t0.Add(tc.due)
			payload := json.RawMessage(`{"order":"tmall/123"}`)
			schedule(t, db, Timer{Key: "rule:x:tmall/123", Kind: "outbound_not_collected", Payload: payload, DueAt: due})

			if tc.due > 0 {
				c.waitPolls(t, 3)
				c.Set(due.Add(-time.Microsecond))
				c.waitPolls(t, 3)
				if got := r.total(); got != 0 {
					t.Fatalf("fired %d before its due time", got)
				}
				c.Set(due)
			}
			waitFired(t, r, 1)
			c.waitPolls(t, 5)
			if got := r.count("rule:x:tmall/123"); got != 1 {
				t.Fatalf("fired %d times, want 1", got)
			}
			f, _ := r.get("rule:x:tmall/123")
			if f.Kind != "outbound_not_collected" || !jsonEqual(f.Payload, payload) || !f.DueAt.Equal(due) || f.Attempt != 0 || f.ID == 0 {
				t.Errorf("fired %+v", f)
			}
			if want := max(0, -tc.due); f.Lag != want {
				t.Errorf("lag %v, want %v", f.Lag, want)
			}
			if p := pending(t, n.Scheduler); p != 0 {
				t.Errorf("%d pending after firing", p)
			}
		})
	}
}

func TestRescheduleMoves(t *testing.T) {
	db := setup(t)
	c := newClock()
	r := newRecorder(db)
	n := start(t, db, r.handle, opts(c))

	schedule(t, db,
		Timer{Key: "later", Kind: "k", DueAt: t0.Add(10 * time.Minute)},
		Timer{Key: "sooner", Kind: "k", DueAt: t0.Add(10 * time.Minute)},
	)
	var firstID int64
	if err := db.QueryRowContext(t.Context(), `SELECT id FROM timers WHERE key = 'later'`).Scan(&firstID); err != nil {
		t.Fatal(err)
	}
	// One call holding a key twice: the last one wins.
	schedule(t, db,
		Timer{Key: "later", Kind: "k", Payload: json.RawMessage(`1`), DueAt: t0.Add(5 * time.Minute)},
		Timer{Key: "later", Kind: "k2", Payload: json.RawMessage(`2`), DueAt: t0.Add(20 * time.Minute)},
		Timer{Key: "sooner", Kind: "k", DueAt: t0.Add(time.Minute)},
	)
	if p := pending(t, n.Scheduler); p != 2 {
		t.Fatalf("%d pending, want 2 (rescheduling must not add timers)", p)
	}

	c.Set(t0.Add(time.Minute))
	waitFired(t, r, 1)
	if r.count("sooner") != 1 {
		t.Fatal("moved-earlier timer did not fire")
	}
	c.Set(t0.Add(10 * time.Minute)) // the original due time of "later"
	c.waitPolls(t, 3)
	if r.count("later") != 0 {
		t.Fatal("moved-later timer fired at its old due time")
	}
	c.Set(t0.Add(20 * time.Minute))
	waitFired(t, r, 2)
	f, _ := r.get("later")
	if f.Kind != "k2" || !jsonEqual(f.Payload, json.RawMessage(`2`)) || !f.DueAt.Equal(t0.Add(20*time.Minute)) {
		t.Errorf("fired %+v, want the last schedule", f)
	}
	if f.ID == firstID {
		t.Errorf("rescheduled timer kept id %d", f.ID)
	}
	c.waitPolls(t, 3)
	if got := logged(t, db); got["later"] != 1 || got["sooner"] != 1 {
		t.Errorf("firings %v, want each once", got)
	}
}

func TestCancel(t *testing.T) {
	keys := []string{"order:tmall/1:a", "order:tmall/1:b", "order:tmall/10:a", "order:tmall/2:a", "order:jd/1:a"}
	for _, tc := range []struct {
		name      string
		cancel    func(ctx context.Context, db bun.IDB) (int, error)
		cancelled []string
	}{
		{"keys", func(ctx context.Context, db bun.IDB) (int, error) {
			return Cancel(ctx, db, "order:tmall/1:a", "order:jd/1:a", "order:jd/1:a", "unknown")
		}, []string{"order:tmall/1:a", "order:jd/1:a"}},
		{"prefix", func(ctx context.Context, db bun.IDB) (int, error) {
			return CancelPrefix(ctx, db, "order:tmall/1:")
		}, []string{"order:tmall/1:a", "order:tmall/1:b"}},
		{"prefix without separator", func(ctx context.Context, db bun.IDB) (int, error) {
			return CancelPrefix(ctx, db, "order:tmall/1")
		}, []string{"order:tmall/1:a", "order:tmall/1:b", "order:tmall/10:a"}},
		{"prefix in a rolled back tx", func(ctx context.Context, db bun.IDB) (int, error) {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return 0, err
			}
			defer tx.Rollback()
			n, err := CancelPrefix(ctx, tx, "order:")
			if err != nil || n != len(keys) {
				return 0, fmt.Errorf("cancelled %d (%v), want %d", n, err, len(keys))
			}
			return 0, nil // rolled back: nothing cancelled
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := setup(t)
			c := newClock()
			r := newRecorder(db)
			start(t, db, r.handle, opts(c))
			for _, k := range keys {
				schedule(t, db, Timer{Key: k, Kind: "k", DueAt: t0.Add(time.Minute)})
			}
			n, err := tc.cancel(t.Context(), db)
			if err != nil {
				t.Fatal(err)
			}
			if n != len(tc.cancelled) {
				t.Errorf("cancelled %d, want %d", n, len(tc.cancelled))
			}
			c.Set(t0.Add(time.Hour))
			waitFired(t, r, len(keys)-len(tc.cancelled))
			c.waitPolls(t, 3)
			got := logged(t, db)
			for _, k := range tc.cancelled {
				if got[k] != 0 {
					t.Errorf("cancelled timer %s fired", k)
				}
				delete(got, k)
			}
			if len(got) != len(keys)-len(tc.cancelled) {
				t.Errorf("fired %v, want the %d others once each", got, len(keys)-len(tc.cancelled))
			}
			for k, n := range got {
				if n != 1 {
					t.Errorf("%s fired %d times", k, n)
				}
			}
		})
	}
}

func TestSuccessor(t *testing.T) {
	for in, want := range map[string]string{
		"a:":                 "a;",
		"x\u00ff":            "x\u0100",
		"a\U0010FFFF":        "b",
		"\U0010FFFF":         "",
		"a\ud7ff":            "a\ue000",
		"order:tmall/1:\x7f": "order:tmall/1:\u0080",
	} {
		got, ok := successor(in)
		if ok != (want != "") || got != want {
			t.Errorf("successor(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestScheduleCommitsWithCallerTx(t *testing.T) {
	db := setup(t)
	ctx := t.Context()
	for _, commit := range []bool{false, true} {
		err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if err := Schedule(ctx, tx, Timer{Key: "k", Kind: "k", DueAt: t0}); err != nil {
				return err
			}
			if !commit {
				return errors.New("the event failed")
			}
			return nil
		})
		if commit != (err == nil) {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT count(*) FROM timers`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{false: 0, true: 1}[commit]; n != want {
			t.Errorf("commit %v: %d timers stored, want %d", commit, n, want)
		}
	}
}

func TestSurvivesRestart(t *testing.T) {
	db := setup(t)
	c := newClock()
	r := newRecorder(db)
	first := start(t, db, r.handle, opts(c))
	pgtest.WaitFor(t, 10*time.Second, first.Leader)
	schedule(t, db,
		Timer{Key: "a", Kind: "k", DueAt: t0.Add(10 * time.Minute)},
		Timer{Key: "b", Kind: "k", DueAt: t0.Add(10 * time.Minute)},
	)
	c.waitPolls(t, 2)
	first.stop()
	if first.Leader() {
		t.Fatal("stopped scheduler still leads")
	}

	// A new process: new Scheduler, same database, nothing in memory.
	second := start(t, db, r.handle, opts(c))
	c.Set(t0.Add(10 * time.Minute))
	waitFired(t, r, 2)
	if !second.Leader() {
		t.Error("the new scheduler does not lead")
	}
	c.waitPolls(t, 3)
	if got := logged(t, db); got["a"] != 1 || got["b"] != 1 || len(got) != 2 {
		t.Errorf("firings %v, want a and b once", got)
	}
}

func TestFiresOnceAcrossNodes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		noElection bool
	}{
		{"elected leader", false},
		// Every node claims as if it led: row locks alone must keep
		// firing exactly-once.
		{"split brain", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := setup(t)
			c := newClock()
			r := newRecorder(db)
			const total = 2000
			ts := make([]Timer, total)
			for i := range ts {
				ts[i] = Timer{Key: fmt.Sprintf("t:%04d", i), Kind: "k", DueAt: t0.Add(time.Duration(i%500) * time.Millisecond)}
			}
			schedule(t, db, ts...)
			o := opts(c)
			o.Batch = 37 // many small claims, to interleave the nodes
			var nodes []node
			var perNode [3]atomic.Int64
			for i := range 3 {
				o.OnFire = func(time.Duration) { perNode[i].Add(1) }
				s := NewScheduler(db, r.handle, o)
				s.noElection = tc.noElection
				nodes = append(nodes, startScheduler(t, s))
			}
			c.Set(t0.Add(time.Second))
			waitFired(t, r, total)
			c.waitPolls(t, 5)
			r.mu.Lock()
			calls := len(r.fired)
			for k, n := range r.calls {
				if n != 1 {
					t.Errorf("handler called %d times for %s", n, k)
				}
			}
			r.mu.Unlock()
			if calls != total {
				t.Errorf("%d firings, want %d", calls, total)
			}
			got := logged(t, db)
			if len(got) != total {
				t.Errorf("%d keys committed, want %d", len(got), total)
			}
			for k, n := range got {
				if n != 1 {
					t.Errorf("%s committed %d times", k, n)
				}
			}
			leaders := 0
			for _, n := range nodes {
				if n.Leader() {
					leaders++
				}
			}
			if want := map[bool]int{false: 1, true: 3}[tc.noElection]; leaders != want {
				t.Errorf("%d leaders, want %d", leaders, want)
			}
			firing := 0
			for i := range perNode {
				if perNode[i].Load() > 0 {
					firing++
				}
			}
			t.Logf("fired per node: %d %d %d", perNode[0].Load(), perNode[1].Load(), perNode[2].Load())
			if tc.noElection && firing < 2 {
				t.Errorf("only %d node fired: the test did not exercise concurrent claims", firing)
			}
		})
	}
}

// startScheduler is start for a Scheduler built by the test.
func startScheduler(t *testing.T, s *Scheduler) node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop := sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	t.Cleanup(stop)
	return node{s, stop}
}

// leaderPID is the backend holding the leader lock.
func leaderPID(t *testing.T, db *bun.DB) int {
	t.Helper()
	var pid int
	err := db.QueryRowContext(t.Context(), `SELECT pid FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = ? AND objsubid = 1
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, lockKey).Scan(&pid)
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

func TestLeaderFailover(t *testing.T) {
	for _, tc := range []struct {
		name string
		kill func(t *testing.T, db *bun.DB, leader node)
	}{
		{"leader stopped", func(t *testing.T, db *bun.DB, leader node) { leader.stop() }},
		{"leader session terminated", func(t *testing.T, db *bun.DB, leader node) {
			var ok bool
			if err := db.QueryRowContext(t.Context(), `SELECT pg_terminate_backend(?)`, leaderPID(t, db)).Scan(&ok); err != nil || !ok {
				t.Fatalf("terminate: %v %v", ok, err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := setup(t)
			c := newClock()
			r := newRecorder(db)
			a := start(t, db, r.handle, opts(c))
			pgtest.WaitFor(t, 10*time.Second, a.Leader)
			b := start(t, db, r.handle, opts(c))
			schedule(t, db, Timer{Key: "before", Kind: "k", DueAt: t0.Add(time.Minute)})
			c.Set(t0.Add(time.Minute))
			waitFired(t, r, 1)
			if b.Leader() {
				t.Fatal("two leaders")
			}
			pid := leaderPID(t, db)

			schedule(t, db, Timer{Key: "after", Kind: "k", DueAt: t0.Add(2 * time.Minute)})
			tc.kill(t, db, a)
			// Someone leads again, on another session.
			pgtest.WaitFor(t, 10*time.Second, func() bool { return a.Leader() != b.Leader() })
			pgtest.WaitFor(t, 10*time.Second, func() bool {
				var n int
				// Advisory locks are per database; other test packages' nodes hold theirs.
				_ = db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = ? AND pid <> ?
					AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`, lockKey, pid).Scan(&n)
				return n == 1
			})
			c.Set(t0.Add(2 * time.Minute))
			waitFired(t, r, 2)
			c.waitPolls(t, 3)
			if got := logged(t, db); got["before"] != 1 || got["after"] != 1 || len(got) != 2 {
				t.Errorf("firings %v, want each once", got)
			}
			if tc.name == "leader stopped" && !b.Leader() {
				t.Error("the standby did not take over")
			}
		})
	}
}

func TestHandlerFailureRetries(t *testing.T) {
	db := setup(t)
	c := newClock()
	r := newRecorder(db)
	var failing atomic.Bool
	failing.Store(true)
	var failures atomic.Int32
	r.fail = func(fired []Fired) error {
		for _, f := range fired {
			if f.Key == "poison" {
				failures.Add(1)
				return errors.New("poison")
			}
		}
		if failing.Load() {
			failures.Add(1)
			return errors.New("downstream unavailable")
		}
		return nil
	}
	o := opts(c)
	o.RetryBackoff = time.Second
	o.MaxRetryBackoff = 4 * time.Second
	n := start(t, db, r.handle, o)
	keys := []string{"a", "b", "c", "poison"}
	for _, k := range keys {
		schedule(t, db, Timer{Key: k, Kind: "k", DueAt: t0})
	}

	// First firing: the whole batch fails; nothing is lost, nothing
	// the handler wrote survives.
	pgtest.WaitFor(t, 10*time.Second, func() bool { return failures.Load() > 0 })
	c.waitPolls(t, 3)
	if p := pending(t, n.Scheduler); p != int64(len(keys)) {
		t.Fatalf("%d pending after a failed batch, want %d", p, len(keys))
	}
	if got := logged(t, db); len(got) != 0 {
		t.Fatalf("the failed handler's writes committed: %v", got)
	}
	var attempts int
	var lastErr string
	if err := db.QueryRowContext(t.Context(), `SELECT attempts, last_error FROM timers WHERE key = 'a'`).Scan(&attempts, &lastErr); err != nil {
		t.Fatal(err)
	}
	if attempts != 1 || lastErr == "" {
		t.Errorf("attempts %d, last error %q", attempts, lastErr)
	}

	// Not retried before the backoff has passed.
	f0 := failures.Load()
	c.Advance(time.Second - time.Microsecond)
	c.waitPolls(t, 3)
	if failures.Load() != f0 || r.total() != 0 {
		t.Fatal("retried before the backoff")
	}

	// The dependency recovers: each is retried on its own, so the poison
	// timer does not hold the others back.
	failing.Store(false)
	c.Advance(time.Microsecond)
	waitFired(t, r, 3)
	c.waitPolls(t, 3)
	got := logged(t, db)
	for _, k := range []string{"a", "b", "c"} {
		if got[k] != 1 || r.count(k) != 1 {
			t.Errorf("%s fired %d times (%d committed), want once", k, r.count(k), got[k])
		}
		if f, _ := r.get(k); f.Attempt != 1 || !f.DueAt.Equal(t0) || f.Lag != time.Second {
			t.Errorf("%s fired %+v, want attempt 1, due %v", k, f, t0)
		}
	}
	if got["poison"] != 0 {
		t.Error("poison committed")
	}

	// The poison timer stays, backing off: 1s, 2s, 4s, 4s...
	for i, wait := range []time.Duration{2 * time.Second, 4 * time.Second, 4 * time.Second} {
		if err := db.QueryRowContext(t.Context(), `SELECT attempts FROM timers WHERE key = 'poison'`).Scan(&attempts); err != nil {
			t.Fatal(err)
		}
		if attempts != i+2 {
			t.Fatalf("poison attempts %d, want %d", attempts, i+2)
		}
		c.Advance(wait - time.Microsecond)
		c.waitPolls(t, 2)
		var a2 int
		_ = db.QueryRowContext(t.Context(), `SELECT attempts FROM timers WHERE key = 'poison'`).Scan(&a2)
		if a2 != attempts {
			t.Fatalf("poison retried before its %v backoff", wait)
		}
		c.Advance(time.Microsecond)
		pgtest.WaitFor(t, 10*time.Second, func() bool {
			var a3 int
			_ = db.QueryRowContext(t.Context(), `SELECT attempts FROM timers WHERE key = 'poison'`).Scan(&a3)
			return a3 == attempts+1
		})
	}
	if p := pending(t, n.Scheduler); p != 1 {
		t.Errorf("%d pending, want the poison timer", p)
	}
	// Rescheduling gives it a fresh start; cancelling removes it.
	schedule(t, db, Timer{Key: "poison", Kind: "k", DueAt: t0.Add(time.Hour)})
	if err := db.QueryRowContext(t.Context(), `SELECT attempts FROM timers WHERE key = 'poison'`).Scan(&attempts); err != nil || attempts != 0 {
		t.Errorf("rescheduled poison: attempts %d, %v", attempts, err)
	}
	if n, err := Cancel(t.Context(), db, "poison"); err != nil || n != 1 {
		t.Errorf("cancel poison: %d, %v", n, err)
	}
}

func TestHandlerPanicRetries(t *testing.T) {
	db := setup(t)
	c := newClock()
	r := newRecorder(db)
	r.fail = func(fired []Fired) error {
		if fired[0].Attempt == 0 {
			panic("boom")
		}
		return nil
	}
	start(t, db, r.handle, opts(c))
	schedule(t, db, Timer{Key: "p", Kind: "k", DueAt: t0})
	pgtest.WaitFor(t, 10*time.Second, func() bool {
		var a int
		_ = db.QueryRowContext(t.Context(), `SELECT attempts FROM timers WHERE key = 'p'`).Scan(&a)
		return a == 1
	})
	var lastErr string
	if err := db.QueryRowContext(t.Context(), `SELECT last_error FROM timers WHERE key = 'p'`).Scan(&lastErr); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(lastErr, "boom") {
		t.Errorf("last error %q", lastErr)
	}
	c.Advance(time.Second) // the default first backoff
	waitFired(t, r, 1)
	c.waitPolls(t, 3)
	if got := logged(t, db); got["p"] != 1 {
		t.Errorf("firings %v, want p once", got)
	}
}

func TestHandlerTxCommitsWithDeletion(t *testing.T) {
	db := setup(t)
	c := newClock()
	var inTx atomic.Int64
	h := func(ctx context.Context, tx bun.Tx, fired []Fired) error {
		for _, f := range fired {
			if _, err := tx.NewRaw(`INSERT INTO timers_test_log (key, timer_id, attempt) VALUES (?, ?, ?)`, f.Key, f.ID, f.Attempt).Exec(ctx); err != nil {
				return err
			}
			// Inside the transaction, the timer is already gone.
			var n int
			if err := tx.NewRaw(`SELECT count(*) FROM timers WHERE key = ?`, f.Key).Scan(ctx, &n); err != nil {
				return err
			}
			if n == 0 {
				inTx.Add(1)
			}
		}
		return nil
	}
	var fired atomic.Int64
	o := opts(c)
	o.OnFire = func(lag time.Duration) {
		if lag != 30*time.Second {
			t.Errorf("OnFire lag %v", lag)
		}
		fired.Add(1)
	}
	n := start(t, db, h, o)
	due := t0.Add(time.Minute)
	schedule(t, db, Timer{Key: "x", Kind: "k", DueAt: due}, Timer{Key: "y", Kind: "k", DueAt: due})
	c.Set(due.Add(30 * time.Second))
	pgtest.WaitFor(t, 10*time.Second, func() bool { return fired.Load() == 2 })
	if inTx.Load() != 2 {
		t.Errorf("the handler saw %d of 2 timers deleted in its transaction", inTx.Load())
	}
	if got := logged(t, db); got["x"] != 1 || got["y"] != 1 {
		t.Errorf("handler rows %v, want x and y", got)
	}
	if p := pending(t, n.Scheduler); p != 0 {
		t.Errorf("%d pending", p)
	}
}

func TestScheduleValidates(t *testing.T) {
	db := setup(t)
	ctx := t.Context()
	for name, ts := range map[string]Timer{
		"empty key":    {Kind: "k", DueAt: t0},
		"zero due":     {Key: "k", Kind: "k"},
		"invalid json": {Key: "k", Kind: "k", DueAt: t0, Payload: json.RawMessage(`{`)},
	} {
		if err := Schedule(ctx, db, ts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := CancelPrefix(ctx, db, ""); err == nil {
		t.Error("empty prefix: no error")
	}
}

// TestHungDatabaseEndsTheRound: while another session holds the timers
// table, a round gives up at its deadline instead of hanging, and the
// timer fires once the table is free again.
func TestHungDatabaseEndsTheRound(t *testing.T) {
	db := setup(t)
	c := newClock()
	r := newRecorder(db)
	o := opts(c)
	o.FireTimeout = 300 * time.Millisecond
	start(t, db, r.handle, o)
	c.waitPolls(t, 2)

	lock, err := db.BeginTx(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lock.ExecContext(t.Context(), `LOCK TABLE timers IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	// A round started under the lock hangs on it; give several a chance.
	time.Sleep(1200 * time.Millisecond)
	// Whatever waits on the lock now started waiting after the first
	// deadline: the rounds before it gave up.
	var waiting int
	var oldest float64
	if err := db.QueryRowContext(t.Context(), `SELECT count(*), coalesce(max(extract(epoch FROM now() - query_start)), 0)
		FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`).Scan(&waiting, &oldest); err != nil {
		t.Fatal(err)
	}
	if oldest > 0.9 {
		t.Errorf("a round has waited %.1fs on the lock, past its 0.3s deadline", oldest)
	}
	if err := lock.Rollback(); err != nil {
		t.Fatal(err)
	}
	schedule(t, db, Timer{Key: "rule:hung:tmall/1", Kind: "k", Payload: json.RawMessage(`{}`), DueAt: t0})
	waitFired(t, r, 1)
	if got := r.count("rule:hung:tmall/1"); got != 1 {
		t.Errorf("fired %d times after the lock went, want 1", got)
	}
	t.Logf("sessions waiting on the lock just before it went: %d, the oldest for %.2fs", waiting, oldest)
}
