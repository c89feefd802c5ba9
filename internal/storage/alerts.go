package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
	"github.com/towerhq/tower/internal/alerts"
	"github.com/towerhq/tower/internal/cursor"
	"github.com/towerhq/tower/internal/workitems"
)

// Alerts reads alerts, work items, silences and rule hits.
type Alerts struct{ db *bun.DB }

func NewAlerts(db *bun.DB) *Alerts { return &Alerts{db: db} }

// AlertFilter narrows List.
type AlertFilter struct {
	State string
	Kind  string
	Since *time.Time
	// Scope leaves out alerts on orders the caller may not see.
	Scope access.Scopes
}

// AlertPage is one page of alerts, newest first.
type AlertPage struct {
	Alerts  []events.AlertSnapshot
	Cursors []string
	HasNext bool
}

// List returns alerts newest first, keyset-paginated.
func (s *Alerts) List(ctx context.Context, f AlertFilter, first int, after string) (AlertPage, error) {
	sq, args := scopeSQL(f.Scope)
	q := `SELECT ` + alerts.Columns + ` FROM alerts t WHERE true` + sq
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, f.State)
	}
	if f.Kind != "" {
		q += ` AND kind = ?`
		args = append(args, f.Kind)
	}
	if f.Since != nil {
		q += ` AND raised_at >= ?`
		args = append(args, *f.Since)
	}
	if after != "" {
		at, id, err := cursor.Decode(after)
		if err != nil {
			return AlertPage{}, err
		}
		q += ` AND (raised_at, id) < (?, ?)`
		args = append(args, at, id)
	}
	q += ` ORDER BY raised_at DESC, id DESC LIMIT ?`
	args = append(args, first+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return AlertPage{}, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	var p AlertPage
	for rows.Next() {
		a, err := alerts.Scan(rows, false)
		if err != nil {
			return AlertPage{}, fmt.Errorf("list alerts: %w", err)
		}
		p.Alerts = append(p.Alerts, a)
	}
	if err := rows.Err(); err != nil {
		return AlertPage{}, err
	}
	if len(p.Alerts) > first {
		p.Alerts, p.HasNext = p.Alerts[:first], true
	}
	for _, a := range p.Alerts {
		p.Cursors = append(p.Cursors, cursor.Encode(a.RaisedAt, a.ID))
	}
	return p, nil
}

// OfOrder returns an order's alerts, newest first.
func (s *Alerts) OfOrder(ctx context.Context, k order.Key) ([]events.AlertSnapshot, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+alerts.Columns+` FROM alerts WHERE channel = ? AND order_no = ? ORDER BY raised_at DESC, id DESC LIMIT 100`, k.Channel, k.OrderNo)
	if err != nil {
		return nil, fmt.Errorf("order alerts: %w", err)
	}
	defer rows.Close()
	var out []events.AlertSnapshot
	for rows.Next() {
		a, err := alerts.Scan(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// WorkItems lists a queue within scope, newest first.
func (s *Alerts) WorkItems(ctx context.Context, queue, status string, scope access.Scopes, first int) ([]events.WorkItemSnapshot, error) {
	sq, sargs := scopeSQL(scope)
	q := `SELECT ` + workitems.Columns + ` FROM work_items t WHERE queue = ?` + sq
	args := append([]any{queue}, sargs...)
	if status != "" {
		q += ` AND status = ?`
		args = append(args, status)
	}
	q += ` ORDER BY created_at DESC, id DESC LIMIT ?`
	args = append(args, first)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("work items: %w", err)
	}
	defer rows.Close()
	var out []events.WorkItemSnapshot
	for rows.Next() {
		w, err := workitems.Scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, rows.Err()
}

// Alert returns one alert (ErrNotFound if none).
func (s *Alerts) Alert(ctx context.Context, id int64) (events.AlertSnapshot, error) {
	a, err := alerts.Scan(s.db.QueryRowContext(ctx, `SELECT `+alerts.Columns+` FROM alerts WHERE id = ?`, id), false)
	if errors.Is(err, sql.ErrNoRows) {
		return a, ErrNotFound
	}
	if err != nil {
		return a, fmt.Errorf("read alert %d: %w", id, err)
	}
	return a, nil
}

// WorkItem returns one work item (ErrNotFound if none).
func (s *Alerts) WorkItem(ctx context.Context, id int64) (events.WorkItemSnapshot, error) {
	w, err := workitems.Scan(s.db.QueryRowContext(ctx, `SELECT `+workitems.Columns+` FROM work_items WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return w, ErrNotFound
	}
	if err != nil {
		return w, fmt.Errorf("read work item %d: %w", id, err)
	}
	return w, nil
}

// Silence is a stored silence.
type Silence struct {
	ID        int64     `bun:"id"`
	Rule      string    `bun:"rule"`
	Scope     string    `bun:"scope"`
	Until     time.Time `bun:"until"`
	Reason    string    `bun:"reason"`
	CreatedBy string    `bun:"created_by"`
}

// Silences lists silences still in force at now.
func (s *Alerts) Silences(ctx context.Context, now time.Time) ([]Silence, error) {
	var out []Silence
	err := s.db.NewSelect().Table("silences").Column("id", "rule", "scope", "until", "reason", "created_by").
		Where("until > ?", now).Order("until").Scan(ctx, &out)
	return out, err
}

// AddSilence stores a silence.
func (s *Alerts) AddSilence(ctx context.Context, sl Silence, now time.Time) (Silence, error) {
	err := s.db.NewRaw(`INSERT INTO silences (rule, scope, until, reason, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?) RETURNING id`,
		sl.Rule, sl.Scope, sl.Until, sl.Reason, now, sl.CreatedBy).Scan(ctx, &sl.ID)
	return sl, err
}

// DeleteSilence removes one.
func (s *Alerts) DeleteSilence(ctx context.Context, id int64) (bool, error) {
	res, err := s.db.NewDelete().Table("silences").Where("id = ?", id).Exec(ctx)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// HourCount is hits in one hour.
type HourCount struct {
	Hour  time.Time `bun:"hour"`
	Hits  int       `bun:"hits"`
	Error int       `bun:"errors"`
}

// RuleHits returns a rule's hits per hour since since.
func (s *Alerts) RuleHits(ctx context.Context, rule string, since time.Time) ([]HourCount, error) {
	var out []HourCount
	err := s.db.NewSelect().Table("rule_hits").Column("hour", "hits", "errors").
		Where("rule = ? AND hour >= ?", rule, since.Truncate(time.Hour)).Order("hour").Scan(ctx, &out)
	return out, err
}
