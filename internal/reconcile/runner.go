// Package reconcile makes sure: pushes get lost (the platform gave up after
// its retries, Tower was down), so for each channel source Tower pulls the
// platform's order list by update time on a schedule, with an overlap, and
// ingests whatever it had not seen as events marked recovered. How many
// events come only this way is a direct measure of push loss.
package reconcile

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/ingest"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/internal/reconcile/pull"
)

// Source is one channel source to reconcile.
type Source struct {
	Name    string // the ingest source the events are attributed to
	Client  pull.Client
	Every   time.Duration // default 5m
	Overlap time.Duration // how far each window reaches back before the last one's end; default 2m
	// Grace: updates this recent may still have their push on the way, so
	// the window ends this long before now (default 1m; the next window's
	// overlap covers them).
	Grace time.Duration
}

// Runner pulls every source on its schedule.
type Runner struct {
	db        *bun.DB
	committer *ingest.Committer
	m         *metrics.Metrics
	log       *slog.Logger
	now       func() time.Time
	sources   []Source
}

// New builds a runner; now is the injected clock.
func New(db *bun.DB, committer *ingest.Committer, m *metrics.Metrics, log *slog.Logger, now func() time.Time, sources []Source) *Runner {
	for i := range sources {
		if sources[i].Every <= 0 {
			sources[i].Every = 5 * time.Minute
		}
		if sources[i].Overlap <= 0 {
			sources[i].Overlap = 2 * time.Minute
		}
		if sources[i].Grace <= 0 {
			sources[i].Grace = time.Minute
		}
	}
	return &Runner{db: db, committer: committer, m: m,
		log: log.With("component", "reconcile"), now: now, sources: sources}
}

// Run reconciles each source every Every until ctx ends. With several
// nodes, a session advisory lock per source makes one of them do it.
func (r *Runner) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range r.sources {
		wg.Go(func() { r.loop(ctx, s) })
	}
	wg.Wait()
}

func (r *Runner) loop(ctx context.Context, s Source) {
	// The schedule follows the injected clock (a simulation speeds it up),
	// checked every second of real time.
	t := time.NewTicker(min(s.Every, time.Second))
	defer t.Stop()
	var last time.Time
	for {
		if now := r.now(); last.IsZero() || now.Sub(last) >= s.Every || now.Before(last) {
			last = now
			if err := r.leading(ctx, s, func() error { _, err := r.Once(ctx, s); return err }); err != nil && ctx.Err() == nil {
				r.log.Error("reconciliation failed", "source", s.Name, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// leading runs f only if this node holds the source's lock.
func (r *Runner) leading(ctx context.Context, s Source, f func() error) error {
	conn, err := r.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("reconcile %s: connect: %w", s.Name, err)
	}
	defer conn.Close()
	h := fnv.New64a()
	_, _ = h.Write([]byte("reconcile:" + s.Name))
	key := int64(h.Sum64() >> 1)
	var got bool
	if err := conn.QueryRowContext(ctx, "SELECT pg_try_advisory_lock(?)", key).Scan(&got); err != nil {
		return fmt.Errorf("reconcile %s: lock: %w", s.Name, err)
	}
	if !got {
		return nil // another node reconciles this source
	}
	defer func() { _, _ = conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(?)", key) }()
	return f()
}

// Result is what one pull found.
type Result struct {
	From, To  time.Time
	Listed    int
	Recovered int
}

// Once pulls one window for s: from the end of its last successful window
// (less the overlap) to now, and ingests what Tower has not seen.
func (r *Runner) Once(ctx context.Context, s Source) (Result, error) {
	// Pushes of the last minute may still be on their way: leave them to
	// the next window (the overlap covers them).
	now := r.now()
	res := Result{To: now.Add(-s.Grace)}
	var last sql.NullTime
	err := r.db.NewSelect().Table("reconcile_runs").ColumnExpr("max(window_to)").
		Where("source = ? AND error IS NULL AND finished_at IS NOT NULL", s.Name).Scan(ctx, &last)
	if err != nil {
		return res, fmt.Errorf("reconcile %s: last window: %w", s.Name, err)
	}
	from := now.Add(-s.Every)
	// A clock set back (a simulation starting its day) makes the last
	// window lie in the future: start afresh.
	if last.Valid && !last.Time.After(now) {
		from = last.Time
	}
	res.From = from.Add(-s.Overlap)
	var runID int64
	if err := r.db.NewRaw(`INSERT INTO reconcile_runs (source, window_from, window_to, started_at) VALUES (?, ?, ?, ?) RETURNING id`,
		s.Name, res.From, res.To, now).Scan(ctx, &runID); err != nil {
		return res, fmt.Errorf("reconcile %s: record run: %w", s.Name, err)
	}
	finish := func(runErr error) error {
		var msg *string
		if runErr != nil {
			m := runErr.Error()
			msg = &m
			r.m.ReconcileRuns.WithLabelValues(s.Name, "error").Inc()
		} else {
			r.m.ReconcileRuns.WithLabelValues(s.Name, "ok").Inc()
		}
		if _, err := r.db.NewRaw(`UPDATE reconcile_runs SET listed = ?, recovered = ?, finished_at = ?, error = ? WHERE id = ?`,
			res.Listed, res.Recovered, r.now(), msg, runID).Exec(context.WithoutCancel(ctx)); err != nil {
			return fmt.Errorf("reconcile %s: finish run: %w", s.Name, err)
		}
		return runErr
	}

	snaps, err := s.Client.List(ctx, res.From, res.To)
	if err != nil {
		return res, finish(fmt.Errorf("reconcile %s: list: %w", s.Name, err))
	}
	res.Listed = len(snaps)
	evs, err := r.unseen(ctx, s.Name, snaps)
	if err != nil {
		return res, finish(err)
	}
	if len(evs) > 0 {
		body, _ := json.Marshal(map[string]any{"window": []time.Time{res.From, res.To}, "listed": len(snaps), "recovered": len(evs)})
		out, err := r.committer.Submit(ctx, &ingest.Delivery{
			Source: s.Name, DeliveryID: fmt.Sprintf("reconcile-%d", runID), ReceivedAt: now,
			Headers: map[string]string{"x-tower-reconcile": "1"}, Body: body, Verified: true, Events: evs,
		})
		if err != nil {
			return res, finish(fmt.Errorf("reconcile %s: store: %w", s.Name, err))
		}
		res.Recovered = out.Accepted
		r.m.ReconcileRecovered.WithLabelValues(s.Name).Add(float64(out.Accepted))
		if out.Accepted > 0 {
			r.log.Warn("reconciliation recovered events the pushes lost", "source", s.Name, "recovered", out.Accepted, "listed", len(snaps))
		}
	}
	return res, finish(nil)
}

// storedKinds lists, per order, the kinds of the events Tower stored.
func storedKinds(ctx context.Context, db *bun.DB, keys []order.Key) (map[order.Key]map[order.Kind]bool, error) {
	out := map[order.Key]map[order.Kind]bool{}
	if len(keys) == 0 {
		return out, nil
	}
	chs, nos := make([]string, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		chs[i], nos[i] = k.Channel, k.OrderNo
	}
	rows, err := db.QueryContext(ctx, `
		SELECT DISTINCT channel, order_no, kind FROM order_events
		WHERE (channel, order_no) IN (SELECT * FROM unnest(?::text[], ?::text[]))`, pgdialect.Array(chs), pgdialect.Array(nos))
	if err != nil {
		return nil, fmt.Errorf("stored events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k order.Key
		var kind string
		if err := rows.Scan(&k.Channel, &k.OrderNo, &kind); err != nil {
			return nil, err
		}
		if out[k] == nil {
			out[k] = map[order.Kind]bool{}
		}
		out[k][order.Kind(kind)] = true
	}
	return out, rows.Err()
}

// unseen turns the facts of listed orders that Tower has not stored into
// recovered events.
func (r *Runner) unseen(ctx context.Context, source string, snaps []pull.Snapshot) ([]order.Event, error) {
	keys := make([]order.Key, 0, len(snaps))
	for _, s := range snaps {
		keys = append(keys, s.Key)
	}
	// What Tower has stored, whether or not the projection has folded it
	// into the twins yet: a push that arrived is not lost.
	stored, err := storedKinds(ctx, r.db, keys)
	if err != nil {
		return nil, fmt.Errorf("reconcile %s: %w", source, err)
	}
	var out []order.Event
	for _, s := range snaps {
		for _, f := range s.Facts {
			if stored[s.Key][f.Kind] {
				continue
			}
			e := order.Event{
				// Stable per fact, so overlapping windows and several nodes
				// recover it once.
				ID:     "reconcile:" + string(f.Kind) + ":" + s.Key.OrderNo,
				Source: source, Kind: f.Kind, System: order.SystemChannel,
				OccurredAt: f.At, Order: s.Key, Data: f.Data, Recovered: true,
			}
			if err := e.Validate(); err != nil {
				r.log.Warn("reconciliation skipped an order it could not map", "source", source, "order", s.Key.String(), "err", err)
				continue
			}
			out = append(out, e)
		}
	}
	return out, nil
}
