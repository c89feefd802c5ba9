package incidents

import (
	"context"
	"fmt"

	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/alerts"
	"github.com/towerhq/tower/internal/cursor"
)

// scopeSQL limits incidents to what an account of scopes sees, as
// incident.VisibleTo says (which the live pushes use).
func scopeSQL(s access.Scopes) (string, []any) {
	var q string
	var args []any
	if len(s.Warehouses) > 0 {
		q += ` AND warehouse = ANY(?::text[])`
		args = append(args, pgdialect.Array(s.Warehouses))
	}
	if len(s.Channels) > 0 {
		q += ` AND (channels && ?::text[] OR (cause = 'channel_silent' AND cause_key = ANY(?::text[])))`
		args = append(args, pgdialect.Array(s.Channels), pgdialect.Array(s.Channels))
	}
	return q, args
}

// Page is one page of incidents (or of an incident's member alerts), newest
// first.
type Page[T any] struct {
	Items   []T
	Cursors []string
	HasNext bool
}

// List returns incidents newest first (by start), in state if given,
// keyset-paginated.
func (s *Store) List(ctx context.Context, db DB, state string, sc access.Scopes, first int, after string) (Page[events.IncidentSnapshot], error) {
	var p Page[events.IncidentSnapshot]
	sq, args := scopeSQL(sc)
	q := `SELECT ` + columns + ` FROM incidents WHERE true` + sq
	if state != "" {
		q += ` AND state = ?`
		args = append(args, state)
	}
	if after != "" {
		at, id, err := cursor.Decode(after)
		if err != nil {
			return p, err
		}
		q += ` AND (started_at, id) < (?, ?)`
		args = append(args, at, id)
	}
	q += ` ORDER BY started_at DESC, id DESC LIMIT ?`
	args = append(args, first+1)
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return p, fmt.Errorf("incidents: list: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		in, err := scan(rows)
		if err != nil {
			return p, fmt.Errorf("incidents: list: %w", err)
		}
		p.Items = append(p.Items, in)
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("incidents: list: %w", err)
	}
	if len(p.Items) > first {
		p.Items, p.HasNext = p.Items[:first], true
	}
	for _, in := range p.Items {
		p.Cursors = append(p.Cursors, cursor.Encode(in.StartedAt, in.ID))
	}
	return p, nil
}

// Get returns incident id if an account of sc sees it (ErrNotFound
// otherwise: an incident out of scope is not there).
func (s *Store) Get(ctx context.Context, db DB, id int64, sc access.Scopes) (events.IncidentSnapshot, error) {
	sq, args := scopeSQL(sc)
	in, err := scan(db.QueryRowContext(ctx, `SELECT `+columns+` FROM incidents WHERE id = ?`+sq, append([]any{id}, args...)...))
	if err != nil {
		if isNoRows(err) {
			return in, ErrNotFound
		}
		return in, fmt.Errorf("incidents: read %d: %w", id, err)
	}
	return in, nil
}

// Members returns an incident's member alerts newest first, those on
// orders an account of sc sees.
func (s *Store) Members(ctx context.Context, db DB, id int64, sc access.Scopes, first int, after string) (Page[events.AlertSnapshot], error) {
	var p Page[events.AlertSnapshot]
	q := `SELECT ` + alertColumnsM + ` FROM incident_members m JOIN alerts a ON a.id = m.alert_id WHERE m.incident_id = ?`
	args := []any{id}
	if len(sc.Channels) > 0 {
		q += ` AND m.channel = ANY(?::text[])`
		args = append(args, pgdialect.Array(sc.Channels))
	}
	if len(sc.Warehouses) > 0 {
		q += ` AND m.warehouse = ANY(?::text[])`
		args = append(args, pgdialect.Array(sc.Warehouses))
	}
	if after != "" {
		at, aid, err := cursor.Decode(after)
		if err != nil {
			return p, err
		}
		q += ` AND (m.raised_at, m.alert_id) < (?, ?)`
		args = append(args, at, aid)
	}
	q += ` ORDER BY m.raised_at DESC, m.alert_id DESC LIMIT ?`
	args = append(args, first+1)
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return p, fmt.Errorf("incidents: members of %d: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		a, err := alerts.Scan(rows, false)
		if err != nil {
			return p, fmt.Errorf("incidents: members of %d: %w", id, err)
		}
		p.Items = append(p.Items, a)
	}
	if err := rows.Err(); err != nil {
		return p, fmt.Errorf("incidents: members of %d: %w", id, err)
	}
	if len(p.Items) > first {
		p.Items, p.HasNext = p.Items[:first], true
	}
	for _, a := range p.Items {
		p.Cursors = append(p.Cursors, cursor.Encode(a.RaisedAt, a.ID))
	}
	return p, nil
}

// alertColumnsM is alerts.Columns of the alias a.
const alertColumnsM = `a.id, a.rule, a.kind, a.severity, a.state, a.channel, a.order_no, a.scope, a.summary, a.condition_since,
	a.raised_at, a.acknowledged_at, coalesce(a.acknowledged_by, ''), a.resolved_at, coalesce(a.resolved_by, '')`
