package timers

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/internal/clock"
)

// Handler acts on fired timers inside tx, the transaction that deletes them:
// its effects commit with the deletion, so a timer's firing happens exactly
// once. It must not commit or roll back tx. Returning an error (or
// panicking) rolls everything back; the timers are then retried after a
// backoff, one per call. fired is in due order and never empty.
type Handler func(ctx context.Context, tx bun.Tx, fired []Fired) error

// Options tune a Scheduler. Zero values take the defaults.
type Options struct {
	// Now is the clock (default: the wall clock). In simulation mode, pass
	// the scaled clock.
	Now func() time.Time
	// Poll is the longest the leader sleeps between claims when nothing
	// is due (wall-clock time; default 100ms, at most 200ms).
	Poll time.Duration
	// Batch is the most timers claimed and handed to the Handler at once
	// (default 1000).
	Batch int
	// FireTimeout bounds one round's transaction (claim, handler,
	// commit): a hung database ends the leadership instead of holding it
	// forever (default 30s).
	FireTimeout time.Duration
	// Standby is how often a node that does not lead retries the lock
	// (wall-clock time; default 500ms): the failover delay after the
	// leader's session ends.
	Standby time.Duration
	// RetryBackoff is the delay before a failed timer's first retry,
	// doubling with each further failure up to MaxRetryBackoff (clock time;
	// defaults 1s and 5m).
	RetryBackoff    time.Duration
	MaxRetryBackoff time.Duration
	Logger          *slog.Logger
	// OnFire is called with each fired timer's lag once its firing has
	// committed (for metrics).
	OnFire func(lag time.Duration)
}

const (
	defaultPoll  = 100 * time.Millisecond
	maxPoll      = 200 * time.Millisecond
	defaultBatch = 1000
	// retriesPerRound bounds the failed timers retried (one transaction
	// each) between two claims of fresh timers.
	retriesPerRound = 32
	// maxErrorBackoff caps the wait after database errors.
	maxErrorBackoff = 5 * time.Second
	maxErrorText    = 2000
)

// lockKey is the session advisory lock whose holder leads ("timr").
const lockKey int64 = 0x74696d72

// Scheduler fires due timers through its Handler on whichever node leads.
// Run one per node; see the package documentation.
type Scheduler struct {
	db   *bun.DB
	h    Handler
	now  func() time.Time
	opts Options
	log  *slog.Logger

	leading atomic.Bool
	// noElection makes every Scheduler claim as if it led (tests: split
	// brain must still fire each timer once).
	noElection bool
}

// NewScheduler returns a Scheduler firing timers through h. Call Run.
func NewScheduler(db *bun.DB, h Handler, opts Options) *Scheduler {
	if h == nil {
		panic("timers: nil Handler")
	}
	if opts.Now == nil {
		opts.Now = clock.Real{}.Now
	}
	if opts.Poll <= 0 {
		opts.Poll = defaultPoll
	}
	opts.Poll = min(opts.Poll, maxPoll)
	if opts.Batch <= 0 {
		opts.Batch = defaultBatch
	}
	if opts.Standby <= 0 {
		opts.Standby = 500 * time.Millisecond
	}
	if opts.RetryBackoff <= 0 {
		opts.RetryBackoff = time.Second
	}
	if opts.MaxRetryBackoff <= 0 {
		opts.MaxRetryBackoff = 5 * time.Minute
	}
	opts.MaxRetryBackoff = max(opts.MaxRetryBackoff, opts.RetryBackoff)
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Scheduler{db: db, h: h, now: opts.Now, opts: opts, log: log.With("component", "timers")}
}

// Leader reports whether this Scheduler currently leads.
func (s *Scheduler) Leader() bool { return s.leading.Load() }

// Pending counts the timers not yet fired, failed ones included.
func (s *Scheduler) Pending(ctx context.Context) (int64, error) {
	var n int64
	if err := s.db.DB.QueryRowContext(ctx, `SELECT count(*) FROM timers`).Scan(&n); err != nil {
		return 0, fmt.Errorf("timers: pending: %w", err)
	}
	return n, nil
}

// Run takes part in leader election and, while leading, fires due timers,
// until ctx ends; it then returns nil. Database errors are logged and
// retried with backoff, never returned: a node that cannot reach the
// database simply does not lead.
func (s *Scheduler) Run(ctx context.Context) error {
	failures := 0
	for ctx.Err() == nil {
		conn, ok, err := s.elect(ctx)
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil
			}
			failures++
			s.log.Error("timers: election failed", "err", err)
			sleep(ctx, s.errorBackoff(failures))
			continue
		case !ok:
			failures = 0
			sleep(ctx, s.opts.Standby)
			continue
		}
		s.leading.Store(true)
		s.log.Info("timers: leading")
		fired, err := s.lead(ctx, conn)
		s.leading.Store(false)
		// Closing the session is what releases the lock: never hand a
		// connection that may still hold it back to the pool.
		discard(conn)
		if ctx.Err() != nil {
			return nil
		}
		if fired {
			failures = 0
		}
		failures++
		s.log.Error("timers: stepped down", "err", err)
		sleep(ctx, s.errorBackoff(failures))
	}
	return nil
}

func (s *Scheduler) errorBackoff(failures int) time.Duration {
	d := s.opts.Poll
	for i := 1; i < failures && d < maxErrorBackoff; i++ {
		d *= 2
	}
	return min(d, maxErrorBackoff)
}

// elect returns a dedicated connection holding the leader lock, or ok false
// when another node leads.
func (s *Scheduler) elect(ctx context.Context) (bun.Conn, bool, error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return bun.Conn{}, false, fmt.Errorf("connect: %w", err)
	}
	if s.noElection {
		return conn, true, nil
	}
	var got bool
	if err := conn.Conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey).Scan(&got); err != nil {
		discard(conn) // the outcome is unknown: the session may hold the lock
		return bun.Conn{}, false, fmt.Errorf("lock: %w", err)
	}
	if !got {
		_ = conn.Close()
		return bun.Conn{}, false, nil
	}
	return conn, true, nil
}

// discard closes conn's session instead of returning it to the pool.
func discard(conn bun.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// queue is which timers a claim takes.
type queue int

const (
	fresh queue = iota // due timers that have not failed, in batches
	retry              // failed timers whose backoff has passed, one at a time
)

var claimSQL = [...]string{
	fresh: `
		DELETE FROM timers WHERE id = ANY(ARRAY(
			SELECT id FROM timers WHERE attempts = 0 AND due_at <= $1
			ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED))
		RETURNING id, key, kind, payload, due_at, attempts`,
	retry: `
		DELETE FROM timers WHERE id = ANY(ARRAY(
			SELECT id FROM timers WHERE attempts > 0 AND retry_at <= $1
			ORDER BY retry_at LIMIT $2 FOR UPDATE SKIP LOCKED))
		RETURNING id, key, kind, payload, due_at, attempts`,
}

// lead fires timers on conn until ctx ends or the database fails. fired
// reports whether at least one round succeeded.
func (s *Scheduler) lead(ctx context.Context, conn bun.Conn) (fired bool, err error) {
	for {
		n, err := s.fire(ctx, conn, fresh, s.opts.Batch)
		if err != nil {
			return fired, err
		}
		r := 0
		for r < retriesPerRound {
			k, err := s.fire(ctx, conn, retry, 1)
			if err != nil {
				return fired, err
			}
			if k == 0 {
				break
			}
			r++
		}
		fired = true
		if n == s.opts.Batch || r == retriesPerRound {
			if ctx.Err() != nil {
				return fired, ctx.Err()
			}
			continue // more may be due: no sleep
		}
		d, err := s.idle(ctx, conn, n+r > 0)
		if err != nil {
			return fired, err
		}
		if !sleep(ctx, d) {
			return fired, ctx.Err()
		}
	}
}

// idle returns how long to sleep: until the next due time, at most Poll.
func (s *Scheduler) idle(ctx context.Context, conn bun.Conn, firedSome bool) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, s.fireTimeout())
	defer cancel()
	var next sql.NullTime
	err := conn.Conn.QueryRowContext(ctx, `SELECT least(
		(SELECT min(due_at) FROM timers WHERE attempts = 0),
		(SELECT min(retry_at) FROM timers WHERE attempts > 0))`).Scan(&next)
	if err != nil {
		return 0, fmt.Errorf("next due: %w", err)
	}
	d := s.opts.Poll
	if next.Valid {
		d = min(d, next.Time.Sub(s.now()))
	}
	if d <= 0 && !firedSome {
		// Due but not claimable: locked by a transaction rescheduling
		// or cancelling it (or another claimer). Do not spin.
		return s.opts.Poll / 4, nil
	}
	return max(d, time.Millisecond), nil
}

// fire claims up to limit timers of q, runs the handler and commits. It
// returns how many it claimed; an error means the database failed (handler
// errors are dealt with here).
func (s *Scheduler) fire(ctx context.Context, conn bun.Conn, q queue, limit int) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.fireTimeout())
	defer cancel()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }() // no-op after Commit
	now := s.now()
	fired, err := claim(ctx, tx.Tx, q, now, limit)
	if err != nil || len(fired) == 0 {
		return 0, err
	}
	if herr := s.call(ctx, tx, fired); herr != nil {
		_ = tx.Rollback()
		if ctx.Err() != nil {
			return 0, ctx.Err() // shutting down: not the timers' fault
		}
		if err := s.markFailed(ctx, conn, fired, now, herr); err != nil {
			return 0, err
		}
		s.log.Warn("timers: handler failed; will retry", "timers", len(fired),
			"first", fired[0].Key, "attempt", fired[0].Attempt+1, "err", herr)
		return len(fired), nil
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit %d fired: %w", len(fired), err)
	}
	if s.opts.OnFire != nil {
		for _, f := range fired {
			s.opts.OnFire(f.Lag)
		}
	}
	return len(fired), nil
}

func claim(ctx context.Context, tx *sql.Tx, q queue, now time.Time, limit int) ([]Fired, error) {
	rows, err := tx.QueryContext(ctx, claimSQL[q], now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	defer rows.Close()
	var out []Fired
	for rows.Next() {
		var f Fired
		var payload []byte
		if err := rows.Scan(&f.ID, &f.Key, &f.Kind, &payload, &f.DueAt, &f.Attempt); err != nil {
			return nil, fmt.Errorf("claim: %w", err)
		}
		if payload != nil {
			f.Payload = payload
		}
		f.Lag = now.Sub(f.DueAt)
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	slices.SortFunc(out, func(a, b Fired) int {
		if c := a.DueAt.Compare(b.DueAt); c != 0 {
			return c
		}
		return int(a.ID - b.ID)
	})
	return out, nil
}

// call runs the handler, turning a panic into an error so that a bad timer
// is retried with backoff instead of crashing every node in turn.
func (s *Scheduler) call(ctx context.Context, tx bun.Tx, fired []Fired) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return s.h(ctx, tx, fired)
}

// markFailed records a failed attempt on the (rolled back, so still stored)
// timers. Guarded by id: a timer rescheduled meanwhile has a new id and
// starts afresh.
func (s *Scheduler) markFailed(ctx context.Context, conn bun.Conn, fired []Fired, now time.Time, herr error) error {
	ids := make([]int64, len(fired))
	for i, f := range fired {
		ids[i] = f.ID
	}
	msg := herr.Error()
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText]
	}
	msg = toValidText(msg)
	_, err := conn.Conn.ExecContext(ctx, `
		UPDATE timers SET
			attempts = attempts + 1,
			retry_at = $2::timestamptz + make_interval(secs => least($4::float8, $3::float8 * power(2, attempts))),
			last_error = $5
		WHERE id = ANY($1::bigint[])`,
		ids, now, s.opts.RetryBackoff.Seconds(), s.opts.MaxRetryBackoff.Seconds(), msg)
	if err != nil {
		return fmt.Errorf("mark %d failed: %w", len(ids), err)
	}
	return nil
}

// toValidText makes s storable as PostgreSQL text (valid UTF-8, no NUL).
func toValidText(s string) string {
	b := []byte(strings.ToValidUTF8(s, "\uFFFD"))
	b = slices.DeleteFunc(b, func(c byte) bool { return c == 0 })
	return string(b)
}

// sleep waits d or until ctx ends, reporting false if ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// fireTimeout is the deadline of each statement round on the leader's
// connection.
func (s *Scheduler) fireTimeout() time.Duration {
	if s.opts.FireTimeout > 0 {
		return s.opts.FireTimeout
	}
	return 30 * time.Second
}
