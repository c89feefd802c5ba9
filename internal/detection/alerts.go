package detection

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
)

// Alert states.
const (
	StateFiring       = "FIRING"
	StateAcknowledged = "ACKNOWLEDGED"
	StateResolved     = "RESOLVED"
)

type alertInput struct {
	rule, kind, severity, scope, summary string
	key                                  order.Key
	since                                time.Time
}

// AlertColumns are read by ScanAlert.
const AlertColumns = `id, rule, kind, severity, state, channel, order_no, scope, summary, condition_since, raised_at,
	acknowledged_at, coalesce(acknowledged_by, ''), resolved_at, coalesce(resolved_by, '')`

// alertColumnsA is AlertColumns qualified by the alias a.
const alertColumnsA = `a.id, a.rule, a.kind, a.severity, a.state, a.channel, a.order_no, a.scope, a.summary, a.condition_since,
	a.raised_at, a.acknowledged_at, coalesce(a.acknowledged_by, ''), a.resolved_at, coalesce(a.resolved_by, '')`

// ScanAlert reads an alerts row selected with AlertColumns.
func ScanAlert(rows interface{ Scan(...any) error }, raised bool) (events.AlertSnapshot, error) {
	var a events.AlertSnapshot
	var ack, res sql.NullTime
	err := rows.Scan(&a.ID, &a.Rule, &a.Kind, &a.Severity, &a.State, &a.Channel, &a.OrderNo, &a.Scope, &a.Summary,
		&a.ConditionSince, &a.RaisedAt, &ack, &a.AcknowledgedBy, &res, &a.ResolvedBy)
	if ack.Valid {
		a.AcknowledgedAt = &ack.Time
	}
	if res.Valid {
		a.ResolvedAt = &res.Time
	}
	a.Raised = raised
	return a, err
}

// raiseAlerts inserts alerts; an order already having an open alert of the
// rule gets no second one.
func raiseAlerts(ctx context.Context, tx bun.Tx, in []alertInput, now time.Time) ([]events.AlertSnapshot, error) {
	if len(in) == 0 {
		return nil, nil
	}
	n := len(in)
	rule, kind, sev, ch, no, scope, sum := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	since := make([]time.Time, n)
	for i, a := range in {
		rule[i], kind[i], sev[i], ch[i], no[i], scope[i], sum[i], since[i] = a.rule, a.kind, a.severity, a.key.Channel, a.key.OrderNo, a.scope, a.summary, a.since
	}
	rows, err := tx.QueryContext(ctx, `
		INSERT INTO alerts (rule, kind, severity, state, channel, order_no, scope, summary, condition_since, raised_at, updated_at)
		SELECT DISTINCT ON (r, c, n) r, k, s, 'FIRING', c, n, sc, su, si, ?, ?
		FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[]) AS x(r, k, s, c, n, sc, su, si)
		ORDER BY r, c, n, si
		ON CONFLICT (rule, channel, order_no) WHERE state <> 'RESOLVED' DO NOTHING
		RETURNING `+AlertColumns,
		now, now, pgdialect.Array(rule), pgdialect.Array(kind), pgdialect.Array(sev), pgdialect.Array(ch), pgdialect.Array(no),
		pgdialect.Array(scope), pgdialect.Array(sum), pgdialect.Array(since))
	if err != nil {
		return nil, fmt.Errorf("raise %d alerts: %w", n, err)
	}
	defer rows.Close()
	var out []events.AlertSnapshot
	for rows.Next() {
		a, err := ScanAlert(rows, true)
		if err != nil {
			return nil, fmt.Errorf("raise alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

type resolution struct {
	rule string
	key  order.Key
	by   string
}

// resolveAlerts closes the open alerts of (rule, order) pairs whose
// condition cleared (the awaited event arrived).
func resolveAlerts(ctx context.Context, tx bun.Tx, rs []resolution, now time.Time) ([]events.AlertSnapshot, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	n := len(rs)
	rule, ch, no, by := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, r := range rs {
		rule[i], ch[i], no[i], by[i] = r.rule, r.key.Channel, r.key.OrderNo, r.by
	}
	rows, err := tx.QueryContext(ctx, `
		UPDATE alerts a SET state = 'RESOLVED', resolved_at = ?, resolved_by = x.b, updated_at = ?
		FROM (SELECT DISTINCT ON (r, c, n) * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS x(r, c, n, b)) x
		WHERE a.rule = x.r AND a.channel = x.c AND a.order_no = x.n AND a.state <> 'RESOLVED'
		RETURNING `+alertColumnsA,
		now, now, pgdialect.Array(rule), pgdialect.Array(ch), pgdialect.Array(no), pgdialect.Array(by))
	if err != nil {
		return nil, fmt.Errorf("resolve alerts: %w", err)
	}
	defer rows.Close()
	var out []events.AlertSnapshot
	for rows.Next() {
		a, err := ScanAlert(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ErrAlertNotFound is returned for an unknown alert id.
var ErrAlertNotFound = errors.New("alert not found")

// ErrAlertState is returned for a transition the alert's state forbids.
var ErrAlertState = errors.New("alert is already resolved")

// SetAlertState acknowledges or resolves an alert by hand, inside tx.
func SetAlertState(ctx context.Context, tx bun.Tx, id int64, state, by string, now time.Time) (events.AlertSnapshot, error) {
	var q string
	switch state {
	case StateAcknowledged:
		q = `UPDATE alerts SET state = 'ACKNOWLEDGED', acknowledged_at = ?, acknowledged_by = ?, updated_at = ?
			WHERE id = ? AND state = 'FIRING' RETURNING ` + AlertColumns
	case StateResolved:
		q = `UPDATE alerts SET state = 'RESOLVED', resolved_at = ?, resolved_by = ?, updated_at = ?
			WHERE id = ? AND state <> 'RESOLVED' RETURNING ` + AlertColumns
	default:
		return events.AlertSnapshot{}, fmt.Errorf("set alert state %q: unknown state", state)
	}
	a, err := ScanAlert(tx.QueryRowContext(ctx, q, now, by, now, id), false)
	if errors.Is(err, sql.ErrNoRows) {
		var cur string
		if err := tx.QueryRowContext(ctx, `SELECT state FROM alerts WHERE id = ?`, id).Scan(&cur); errors.Is(err, sql.ErrNoRows) {
			return a, ErrAlertNotFound
		}
		if state == StateAcknowledged && cur == StateAcknowledged {
			// Acknowledging twice is a no-op, not an error.
			return ScanAlert(tx.QueryRowContext(ctx, `SELECT `+AlertColumns+` FROM alerts WHERE id = ?`, id), false)
		}
		return a, ErrAlertState
	}
	if err != nil {
		return a, fmt.Errorf("set alert %d %s: %w", id, state, err)
	}
	return a, nil
}
