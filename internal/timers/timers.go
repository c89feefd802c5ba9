// Package timers keeps Tower's deadlines ("outbound but not collected after
// 10 minutes", "paid but not in the WMS after N seconds", promised ship-by
// times) as durable timers in PostgreSQL, and fires each one exactly once,
// within a fraction of a second of its due time, on whichever node currently
// leads.
//
// # Storage: the database is the source of truth
//
// A timer is a row of the timers table (migrations/20261125100000_timers),
// identified by a caller-chosen key such as
// "rule:outbound_not_collected:tmall/123". Nothing about pending timers lives
// in memory, so they survive restarts and crashes of every node, and a node
// needs no warm-up: whoever leads next simply queries the table.
//
// Schedule and Cancel run inside the caller's transaction, so a timer is
// armed (or disarmed) atomically with the event that caused it: an order
// that became "outbound" and its "not collected" deadline commit together,
// and the "collected" event and the cancellation commit together. Schedule
// is an upsert by key (scheduling a key again moves its timer), done for any
// number of timers with one INSERT ... SELECT FROM unnest(...) ON CONFLICT
// statement, so arming a million timers is a handful of statements.
//
// # Firing: claim by deletion, in the handler's transaction
//
// The leader claims due timers in batches with
//
//	DELETE FROM timers WHERE id = ANY(ARRAY(
//	    SELECT id FROM timers WHERE attempts = 0 AND due_at <= $now
//	    ORDER BY due_at LIMIT $batch FOR UPDATE SKIP LOCKED))
//	RETURNING ...
//
// and calls the Handler with that same transaction, then commits. The
// deletion and the handler's effects (an alert row, an event on the bus)
// commit together or not at all, which is what makes firing exactly-once
// rather than at-least-once: if the handler fails or the node dies
// mid-batch, the transaction rolls back and the timers are still there.
// The claim walks a partial btree index on due_at, so its cost depends on
// the batch, not on how many timers are pending: a million timers due later
// cost nothing per poll.
//
// Exactly-once does not depend on leadership. FOR UPDATE SKIP LOCKED means
// two claimers never get the same row, and a claimed row is gone once its
// transaction commits; even two nodes that both believe they lead (a network
// partition during failover) fire every timer once. Leadership only avoids
// N nodes polling the same index and contending for the same rows.
//
// # Leadership: a session advisory lock on a dedicated connection
//
// Every Scheduler runs the same loop. It takes a connection out of the pool
// and tries pg_try_advisory_lock on it; the winner leads and uses that one
// connection for all its claims, so losing the session (the node crashed,
// the connection broke, an administrator terminated it) releases the lock
// in the server and makes the leader's next claim fail, at which point it
// steps down and discards the connection. The others stand by, retrying the
// lock every Options.Standby, and one takes over as soon as the session is
// gone. A standby never waits inside pg_advisory_lock: a blocked backend
// whose client has vanished would still be granted the lock and hold it
// with nobody behind it.
//
// # Waking up: polling, not LISTEN/NOTIFY
//
// The leader drains due timers in batches back to back while batches come
// back full, and otherwise sleeps until the next due time or Options.Poll
// (100ms), whichever is sooner; the next due time is one index probe. The
// worst-case lag of a lone timer is therefore one poll interval plus one
// claim, well under the one-second budget with any number pending. A timer
// already pending when the leader goes to sleep is fired on time even if it
// is due sooner than the poll interval; one scheduled during the sleep, due
// before it ends, waits for its end. NOTIFY was
// deliberately left out: it would only shave the poll interval off timers
// scheduled to fire almost immediately, yet every scheduling transaction
// (the ingest hot path) would pay for it, because PostgreSQL serialises all
// notifying commits on one global lock.
//
// # Failure: retries with backoff, one timer at a time
//
// When the handler returns an error (or panics), the batch's transaction
// rolls back, and the timers are marked failed: attempts + 1, the error, and
// retry_at = now + RetryBackoff·2^(attempts-1) capped at MaxRetryBackoff. Failed
// timers leave the due_at index for a second partial index on retry_at and
// are retried one per transaction (a bounded number per round), so one bad
// timer costs its batch-mates one backoff delay, not a permanent stall, and
// never blocks fresh timers. A timer is retried until it succeeds or is
// cancelled or rescheduled; Fired.Attempt tells the handler how many times
// it failed before, should it prefer to give up. Database errors (as opposed
// to handler errors) make the leader step down and back off.
//
// # Time
//
// All times come from Options.Now, the one injected clock: a timer is due
// when Now() >= DueAt. In simulation mode that clock runs faster than the
// wall clock, while the poll interval is wall-clock time, so the lag measured
// in simulated time is up to Poll times the speed-up. Due times are stored
// with PostgreSQL's microsecond precision.
package timers

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/uptrace/bun"
)

// Timer is a deadline: at DueAt, fire Kind with Payload. Key identifies it
// for rescheduling and cancellation.
type Timer struct {
	Key     string
	Kind    string
	Payload json.RawMessage // any JSON value, stored as jsonb (so normalised); nil is NULL
	DueAt   time.Time
}

// Fired is a timer handed to the Handler.
type Fired struct {
	Timer
	// ID identifies this scheduling of the key: rescheduling a key gives
	// it a new ID, so handlers can use it as an idempotency token.
	ID int64
	// Lag is how late the timer fired: the clock's now at claim minus DueAt.
	Lag time.Duration
	// Attempt is the number of earlier attempts whose handler failed
	// (0 on the first firing).
	Attempt int
}

// execer is what Schedule and Cancel need of bun.IDB's underlying
// database/sql handle. They bypass bun's query formatting so that arrays go
// to pgx as native array parameters instead of being inlined as literals.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func raw(db bun.IDB) (execer, error) {
	switch d := db.(type) {
	case *bun.DB:
		return d.DB, nil
	case bun.Tx:
		return d.Tx, nil
	case *bun.Tx:
		return d.Tx, nil
	case bun.Conn:
		return d.Conn, nil
	case *bun.Conn:
		return d.Conn, nil
	}
	return nil, fmt.Errorf("timers: unsupported bun.IDB %T", db)
}

// Schedule arms timers, inside db (a *bun.DB, or the caller's bun.Tx so that
// the timers commit with the event that caused them). A timer whose key is
// already scheduled is moved: its kind, payload and due time are replaced,
// and any failed attempts forgotten. When ts holds the same key more than
// once, the last one wins. DueAt may be in the past: the timer then fires at
// once.
func Schedule(ctx context.Context, db bun.IDB, ts ...Timer) error {
	if len(ts) == 0 {
		return nil
	}
	x, err := raw(db)
	if err != nil {
		return err
	}
	// Last one wins per key; sorted by key so that concurrent schedulers
	// take their unique-index locks in one order rather than deadlocking.
	idx := make([]int, len(ts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(ts[a].Key, ts[b].Key) })
	n := len(ts)
	keys, kinds := make([]string, 0, n), make([]string, 0, n)
	payloads := make([]*string, 0, n)
	dues := make([]time.Time, 0, n)
	for j, i := range idx {
		t := &ts[i]
		if j+1 < len(idx) && ts[idx[j+1]].Key == t.Key {
			continue // a later one of the same key follows
		}
		if t.Key == "" {
			return errors.New("timers: schedule: empty key")
		}
		if t.DueAt.IsZero() {
			return fmt.Errorf("timers: schedule %s: zero due time", t.Key)
		}
		var p *string
		if t.Payload != nil {
			s := string(t.Payload)
			p = &s
		}
		keys, kinds, payloads, dues = append(keys, t.Key), append(kinds, t.Kind), append(payloads, p), append(dues, t.DueAt)
	}
	_, err = x.ExecContext(ctx, `
		INSERT INTO timers (key, kind, payload, due_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[], $4::timestamptz[])
		ON CONFLICT (key) DO UPDATE SET
			id = EXCLUDED.id, kind = EXCLUDED.kind, payload = EXCLUDED.payload,
			due_at = EXCLUDED.due_at, created_at = EXCLUDED.created_at,
			attempts = 0, retry_at = NULL, last_error = NULL`,
		keys, kinds, payloads, dues)
	if err != nil {
		return fmt.Errorf("timers: schedule %d: %w", len(keys), err)
	}
	return nil
}

// Cancel disarms the timers with these keys, inside db (typically the
// transaction of the event that was awaited), and reports how many it
// removed. A timer being fired concurrently is waited for: if its firing
// commits, Cancel finds nothing, so 0 means "too late, it fired" (or it was
// never scheduled).
func Cancel(ctx context.Context, db bun.IDB, keys ...string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	x, err := raw(db)
	if err != nil {
		return 0, err
	}
	keys = slices.Clone(keys)
	slices.Sort(keys)
	res, err := x.ExecContext(ctx, `DELETE FROM timers WHERE key = ANY($1::text[])`, slices.Compact(keys))
	if err != nil {
		return 0, fmt.Errorf("timers: cancel %d: %w", len(keys), err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// CancelPrefix disarms every timer whose key starts with prefix (for
// instance all of an order's deadlines, "rule:*:tmall/123" being keyed
// "order:tmall/123:..."), inside db, and reports how many it removed. The
// key index is byte-ordered, so this is an index range scan.
func CancelPrefix(ctx context.Context, db bun.IDB, prefix string) (int, error) {
	if prefix == "" {
		return 0, errors.New("timers: cancel prefix: empty prefix")
	}
	x, err := raw(db)
	if err != nil {
		return 0, err
	}
	var res sql.Result
	if hi, ok := successor(prefix); ok {
		res, err = x.ExecContext(ctx, `DELETE FROM timers WHERE key >= $1 AND key < $2`, prefix, hi)
	} else {
		res, err = x.ExecContext(ctx, `DELETE FROM timers WHERE key >= $1`, prefix)
	}
	if err != nil {
		return 0, fmt.Errorf("timers: cancel prefix %q: %w", prefix, err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// successor returns the least valid UTF-8 string greater than every string
// that starts with prefix, in byte (code point) order: prefix with its last
// incrementable rune incremented and what follows dropped. ok is false when
// there is none (every rune is U+10FFFF).
func successor(prefix string) (string, bool) {
	rs := []rune(strings.ToValidUTF8(prefix, "\uFFFD"))
	for i := len(rs) - 1; i >= 0; i-- {
		r := rs[i] + 1
		if r >= 0xD800 && r <= 0xDFFF { // surrogates are not encodable
			r = 0xE000
		}
		if r <= utf8.MaxRune {
			rs[i] = r
			return string(rs[:i+1]), true
		}
	}
	return "", false
}
