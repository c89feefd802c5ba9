// Package alerts owns the alerts table: every write to it goes through here
// (detection raises and resolves, people acknowledge and resolve through
// the API), and every state change is one domain/alert allows. Each call
// runs in its caller's transaction, so an alert changes together with what
// caused it and with the message that publishes it.
package alerts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/alert"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
)

// Columns are read by Scan.
const Columns = `id, rule, kind, severity, state, channel, order_no, scope, summary, condition_since, raised_at,
	acknowledged_at, coalesce(acknowledged_by, ''), resolved_at, coalesce(resolved_by, '')`

// columnsA is Columns qualified by the alias a.
const columnsA = `a.id, a.rule, a.kind, a.severity, a.state, a.channel, a.order_no, a.scope, a.summary, a.condition_since,
	a.raised_at, a.acknowledged_at, coalesce(a.acknowledged_by, ''), a.resolved_at, coalesce(a.resolved_by, '')`

// Scan reads an alerts row selected with Columns; raised marks a new alert.
func Scan(row interface{ Scan(...any) error }, raised bool) (events.AlertSnapshot, error) {
	var a events.AlertSnapshot
	var ack, res sql.NullTime
	err := row.Scan(&a.ID, &a.Rule, &a.Kind, &a.Severity, &a.State, &a.Channel, &a.OrderNo, &a.Scope, &a.Summary,
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

// Condition is a rule's condition found holding on an order.
type Condition struct {
	Rule, Kind, Severity string
	Order                order.Key
	// Scope groups notifications (the order's warehouse, else its channel).
	Scope   string
	Summary string
	// Since is when the condition began to hold.
	Since time.Time
}

// Raise opens a FIRING alert for each condition, except where the rule
// already has an open alert on the order: that one stands, and no second
// one is raised. It returns the alerts raised. Each copies its order's
// shop and warehouse (for the figures; see FollowOrders).
func Raise(ctx context.Context, tx bun.Tx, cs []Condition, now time.Time) ([]events.AlertSnapshot, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	n := len(cs)
	rule, kind, sev, ch, no, scope, sum := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	since := make([]time.Time, n)
	for i, c := range cs {
		rule[i], kind[i], sev[i], ch[i], no[i], scope[i], sum[i], since[i] = c.Rule, c.Kind, c.Severity, c.Order.Channel, c.Order.OrderNo, c.Scope, c.Summary, c.Since
	}
	// The conflict target is the partial unique index on open alerts
	// (alert.State.Open); its predicate must be spelled as in the migration.
	rows, err := tx.QueryContext(ctx, `
		INSERT INTO alerts (rule, kind, severity, state, channel, order_no, scope, summary, condition_since, raised_at, updated_at, shop, warehouse)
		SELECT DISTINCT ON (r, c, n) r, k, s, ?, c, n, sc, su, si, ?, ?, coalesce(o.shop, ''), coalesce(o.warehouse, '')
		FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::timestamptz[]) AS x(r, k, s, c, n, sc, su, si)
			LEFT JOIN orders o ON o.channel = x.c AND o.order_no = x.n
		ORDER BY r, c, n, si
		ON CONFLICT (rule, channel, order_no) WHERE state <> 'RESOLVED' DO NOTHING
		RETURNING `+Columns,
		alert.Firing.String(), now, now, pgdialect.Array(rule), pgdialect.Array(kind), pgdialect.Array(sev), pgdialect.Array(ch), pgdialect.Array(no),
		pgdialect.Array(scope), pgdialect.Array(sum), pgdialect.Array(since))
	if err != nil {
		return nil, fmt.Errorf("raise %d alerts: %w", n, err)
	}
	defer rows.Close()
	var out []events.AlertSnapshot
	for rows.Next() {
		a, err := Scan(rows, true)
		if err != nil {
			return nil, fmt.Errorf("raise alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// Moved is an order whose shop or warehouse changed.
type Moved struct {
	Order           order.Key
	Shop, Warehouse string
}

// FollowOrders gives the alerts of orders whose shop or warehouse changed
// the order's new ones, so the figures over a shop or a warehouse count
// them where the order is now.
func FollowOrders(ctx context.Context, tx bun.Tx, ms []Moved) error {
	if len(ms) == 0 {
		return nil
	}
	ch, no, shop, wh := make([]string, len(ms)), make([]string, len(ms)), make([]string, len(ms)), make([]string, len(ms))
	for i, m := range ms {
		ch[i], no[i], shop[i], wh[i] = m.Order.Channel, m.Order.OrderNo, m.Shop, m.Warehouse
	}
	if _, err := tx.ExecContext(ctx, `
		UPDATE alerts a SET shop = x.s, warehouse = x.w
		FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS x(c, n, s, w)
		WHERE a.channel = x.c AND a.order_no = x.n AND (a.shop, a.warehouse) IS DISTINCT FROM (x.s, x.w)`,
		pgdialect.Array(ch), pgdialect.Array(no), pgdialect.Array(shop), pgdialect.Array(wh)); err != nil {
		return fmt.Errorf("alerts of %d moved orders: %w", len(ms), err)
	}
	return nil
}

// Resolution closes the open alert of a rule on an order: its condition
// cleared (By says how, e.g. "auto: courier.collected").
type Resolution struct {
	Rule  string
	Order order.Key
	By    string
}

// Resolve resolves the open alerts the resolutions name and returns them;
// a resolution with no open alert changes nothing. Every open state moves
// to Resolved (alert.From), so the update only needs "not resolved", the
// predicate of the open-alerts index.
func Resolve(ctx context.Context, tx bun.Tx, rs []Resolution, now time.Time) ([]events.AlertSnapshot, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	n := len(rs)
	rule, ch, no, by := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, r := range rs {
		rule[i], ch[i], no[i], by[i] = r.Rule, r.Order.Channel, r.Order.OrderNo, r.By
	}
	rows, err := tx.QueryContext(ctx, `
		UPDATE alerts a SET state = ?, resolved_at = ?, resolved_by = x.b, updated_at = ?
		FROM (SELECT DISTINCT ON (r, c, n) * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS x(r, c, n, b)) x
		WHERE a.rule = x.r AND a.channel = x.c AND a.order_no = x.n AND a.state <> ?
		RETURNING `+columnsA,
		alert.Resolved.String(), now, now, pgdialect.Array(rule), pgdialect.Array(ch), pgdialect.Array(no), pgdialect.Array(by),
		alert.Resolved.String())
	if err != nil {
		return nil, fmt.Errorf("resolve %d alerts: %w", n, err)
	}
	defer rows.Close()
	var out []events.AlertSnapshot
	for rows.Next() {
		a, err := Scan(rows, false)
		if err != nil {
			return nil, fmt.Errorf("resolve alerts: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// ErrNotFound is returned for an unknown alert id.
var ErrNotFound = errors.New("alert not found")

// SetState moves alert id to state to by hand (acknowledge, resolve) and
// returns it. A move alert.Move refuses comes back as its error
// (alert.ErrResolved, *alert.TransitionError); one that changes nothing
// (acknowledging twice) returns the alert as it is.
func SetState(ctx context.Context, tx bun.Tx, id int64, to alert.State, by string, now time.Time) (events.AlertSnapshot, error) {
	var set string
	switch to {
	case alert.Acknowledged:
		set = `acknowledged_at = ?, acknowledged_by = ?`
	case alert.Resolved:
		set = `resolved_at = ?, resolved_by = ?`
	default:
		return events.AlertSnapshot{}, fmt.Errorf("set alert %d state: %w", id, &alert.TransitionError{To: to})
	}
	// Locked first, so the state Move judges is the one the update changes.
	var cur string
	err := tx.QueryRowContext(ctx, `SELECT state FROM alerts WHERE id = ? FOR UPDATE`, id).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return events.AlertSnapshot{}, ErrNotFound
	}
	if err != nil {
		return events.AlertSnapshot{}, fmt.Errorf("set alert %d %s: %w", id, to, err)
	}
	from, err := alert.ParseState(cur)
	if err != nil {
		return events.AlertSnapshot{}, fmt.Errorf("set alert %d %s: %w", id, to, err)
	}
	changed, err := alert.Move(from, to)
	if err != nil {
		return events.AlertSnapshot{}, err
	}
	q := `SELECT ` + Columns + ` FROM alerts WHERE id = ?`
	args := []any{id}
	if changed {
		q = `UPDATE alerts SET state = ?, ` + set + `, updated_at = ? WHERE id = ? RETURNING ` + Columns
		args = []any{to.String(), now, by, now, id}
	}
	a, err := Scan(tx.QueryRowContext(ctx, q, args...), false)
	if err != nil {
		return a, fmt.Errorf("set alert %d %s: %w", id, to, err)
	}
	return a, nil
}

// SetIncident points alerts at the incident they belong to (internal/incidents
// groups them; the alerts stay one per order).
func SetIncident(ctx context.Context, tx bun.Tx, incident int64, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE alerts SET incident_id = ? WHERE id = ANY(?::bigint[]) AND incident_id IS DISTINCT FROM ?`,
		incident, pgdialect.Array(ids), incident); err != nil {
		return fmt.Errorf("point %d alerts at incident %d: %w", len(ids), incident, err)
	}
	return nil
}
