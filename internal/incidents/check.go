package incidents

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/incident"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/ingest"
)

// Run checks every CheckEvery until ctx ends.
func (s *Store) Run(ctx context.Context) {
	t := time.NewTicker(s.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := s.Check(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("incidents: check", "err", err)
		}
	}
}

// Check does what no alert announces, at the server clock's now: resolves
// incidents whose quiet period has passed with every member resolved,
// opens and resolves signature_failures incidents from the refused
// deliveries, and channel_silent ones from the channels' events. One node
// at a time; another node's check under way makes this one a no-op.
func (s *Store) Check(ctx context.Context) error {
	now := s.now()
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var ok bool
		if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock(?)`, checkLock).Scan(&ok); err != nil {
			return fmt.Errorf("incidents: check lock: %w", err)
		}
		if !ok {
			return nil
		}
		var out []events.IncidentSnapshot
		for _, step := range []func(context.Context, bun.Tx, time.Time) ([]events.IncidentSnapshot, error){
			s.checkQuiet, s.checkSignatures, s.checkSilence,
		} {
			snaps, err := step(ctx, tx, now)
			if err != nil {
				return err
			}
			out = append(out, snaps...)
		}
		return s.publish(ctx, tx, out)
	})
}

// checkQuiet groups again the causes of open member-based incidents: those
// whose quiet period has passed with every member resolved resolve.
func (s *Store) checkQuiet(ctx context.Context, tx bun.Tx, now time.Time) ([]events.IncidentSnapshot, error) {
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT cause, cause_key FROM incidents WHERE cause = ? AND state <> ? AND last_seen_at <= ?`,
		incident.CourierStopped.String(), incident.Resolved.String(), now.Add(-s.cfg.Quiet))
	if err != nil {
		return nil, fmt.Errorf("incidents: read quiet incidents: %w", err)
	}
	var keys []incident.Key
	for rows.Next() {
		k, err := scanKey(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		keys = append(keys, k)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []events.IncidentSnapshot
	for _, k := range keys {
		snaps, err := s.sync(ctx, tx, k, now)
		if err != nil {
			return nil, err
		}
		out = append(out, snaps...)
	}
	return out, nil
}

// signal is one observation of a cause no alert stands for.
type signal struct {
	key      incident.Key
	start    time.Time
	last     time.Time
	count    int
	severity string
	channels []string
}

// checkSignatures opens an incident for each source with SignatureFailures
// refused deliveries within Window (of those the audit kept: a flood is
// sampled, which still counts past any sensible threshold), and resolves
// those without a failure for the quiet period.
func (s *Store) checkSignatures(ctx context.Context, tx bun.Tx, now time.Time) ([]events.IncidentSnapshot, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT source, count(*), min(received_at), max(received_at) FROM webhook_deliveries
		WHERE NOT verified AND outcome = ? AND received_at > ? AND received_at <= ?
		GROUP BY source`, ingest.OutcomeBadSignature, now.Add(-s.cfg.Window), now)
	if err != nil {
		return nil, fmt.Errorf("incidents: count signature failures: %w", err)
	}
	var breaches []signal
	for rows.Next() {
		var sg signal
		var source string
		if err := rows.Scan(&source, &sg.count, &sg.start, &sg.last); err != nil {
			rows.Close()
			return nil, fmt.Errorf("incidents: count signature failures: %w", err)
		}
		if incident.SignatureBreach(s.cfg, sg.count) {
			sg.key, sg.severity = incident.Key{Cause: incident.SignatureFailures, Value: source}, "critical"
			breaches = append(breaches, sg)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []events.IncidentSnapshot
	for _, sg := range breaches {
		snap, err := s.observe(ctx, tx, sg, now)
		if err != nil {
			return nil, err
		}
		if snap != nil {
			out = append(out, *snap)
		}
	}
	// Open ones: their failures since they began, and whether they stopped.
	open, err := openOf(ctx, tx, incident.SignatureFailures)
	if err != nil {
		return nil, err
	}
	for _, in := range open {
		var n int
		var last *time.Time
		if err := tx.QueryRowContext(ctx, `
			SELECT count(*), max(received_at) FROM webhook_deliveries
			WHERE source = ? AND NOT verified AND outcome = ? AND received_at >= ? AND received_at <= ?`,
			in.Key, ingest.OutcomeBadSignature, in.StartedAt, now).Scan(&n, &last); err != nil {
			return nil, fmt.Errorf("incidents: count signature failures of %s: %w", in.Key, err)
		}
		if last == nil {
			last = &in.LastSeenAt
		}
		if n != in.Members || !last.Equal(in.LastSeenAt) {
			if _, err := tx.ExecContext(ctx, `UPDATE incidents SET members = ?, last_seen_at = ?, updated_at = ? WHERE id = ?`,
				max(n, in.Members), *last, now, in.ID); err != nil {
				return nil, fmt.Errorf("incidents: update %d: %w", in.ID, err)
			}
		}
		if incident.SignatureSettled(s.cfg, *last, now) {
			snap, err := resolve(ctx, tx, in.ID, "auto: signatures verify again", now, events.IncidentResolved)
			if err != nil {
				return nil, err
			}
			out = append(out, snap)
		}
	}
	return out, nil
}

// checkSilence opens an incident for each channel incident.Silent finds
// silent, and resolves those whose channel is heard from again.
func (s *Store) checkSilence(ctx context.Context, tx bun.Tx, now time.Time) ([]events.IncidentSnapshot, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT channel, max(received_at), count(*) FROM order_events
		WHERE system = ? AND received_at > ? AND received_at <= ?
		GROUP BY channel`, string(order.SystemChannel), now.Add(-s.cfg.Lookback), now)
	if err != nil {
		return nil, fmt.Errorf("incidents: read channel flows: %w", err)
	}
	var flows []incident.Flow
	for rows.Next() {
		var f incident.Flow
		if err := rows.Scan(&f.Channel, &f.Last, &f.Events); err != nil {
			rows.Close()
			return nil, fmt.Errorf("incidents: read channel flows: %w", err)
		}
		flows = append(flows, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	silent := incident.Silent(s.cfg, flows, now)
	var out []events.IncidentSnapshot
	for _, f := range flows {
		if !slices.Contains(silent, f.Channel) {
			continue
		}
		snap, err := s.observe(ctx, tx, signal{key: incident.Key{Cause: incident.ChannelSilent, Value: f.Channel},
			start: f.Last, last: f.Last, severity: "critical", channels: []string{f.Channel}}, now)
		if err != nil {
			return nil, err
		}
		if snap != nil {
			out = append(out, *snap)
		}
	}
	open, err := openOf(ctx, tx, incident.ChannelSilent)
	if err != nil {
		return nil, err
	}
	for _, in := range open {
		if slices.Contains(silent, in.Key) {
			continue
		}
		snap, err := resolve(ctx, tx, in.ID, "auto: events again", now, events.IncidentResolved)
		if err != nil {
			return nil, err
		}
		out = append(out, snap)
	}
	return out, nil
}

// observe opens an incident for a signal unless its cause has one open.
func (s *Store) observe(ctx context.Context, tx bun.Tx, sg signal, now time.Time) (*events.IncidentSnapshot, error) {
	if err := lock(ctx, tx, sg.key); err != nil {
		return nil, err
	}
	open, err := openIDs(ctx, tx, sg.key)
	if err != nil || len(open) > 0 {
		return nil, err
	}
	channels := sg.channels
	if channels == nil {
		channels = []string{}
	}
	var id int64
	if err := tx.QueryRowContext(ctx, `
		INSERT INTO incidents (cause, cause_key, state, severity, started_at, last_seen_at, opened_at, members, channels, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		sg.key.Cause.String(), sg.key.Value, incident.Open.String(), sg.severity, sg.start, sg.last, now, sg.count,
		pgdialect.Array(channels), now).Scan(&id); err != nil {
		return nil, fmt.Errorf("incidents: open %s: %w", sg.key, err)
	}
	s.log.Info("incident opened", "cause", sg.key.Cause.String(), "key", sg.key.Value, "incident", id)
	snap, err := get(ctx, tx, id)
	snap.Event = events.IncidentOpened
	return &snap, err
}

func openOf(ctx context.Context, tx bun.Tx, c incident.Cause) ([]events.IncidentSnapshot, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+columns+` FROM incidents WHERE cause = ? AND state <> ? ORDER BY id`,
		c.String(), incident.Resolved.String())
	if err != nil {
		return nil, fmt.Errorf("incidents: read open %s: %w", c, err)
	}
	defer rows.Close()
	var out []events.IncidentSnapshot
	for rows.Next() {
		in, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("incidents: read open %s: %w", c, err)
		}
		out = append(out, in)
	}
	return out, rows.Err()
}
