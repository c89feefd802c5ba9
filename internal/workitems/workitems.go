// Package workitems owns the work_items table: detection opens items on
// the work queues its rules route orders to, and people claim, annotate and
// resolve them through the API. Every write goes through here, in the
// caller's transaction.
//
// An item is open, then claimed (by one person, who may hand it to
// another), then resolved; a resolved item never changes again, and at
// most one item per queue and order is not resolved.
package workitems

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/events"
)

// Statuses, as stored.
const (
	StatusOpen     = "open"
	StatusClaimed  = "claimed"
	StatusResolved = "resolved"
)

// Columns are read by Scan.
const Columns = `id, queue, channel, order_no, rule, status, coalesce(assignee, ''), notes, created_at, updated_at`

// Scan reads a work_items row selected with Columns.
func Scan(row interface{ Scan(...any) error }) (events.WorkItemSnapshot, error) {
	var w events.WorkItemSnapshot
	var notes []byte
	if err := row.Scan(&w.ID, &w.Queue, &w.Channel, &w.OrderNo, &w.Rule, &w.Status, &w.Assignee, &notes, &w.CreatedAt, &w.UpdatedAt); err != nil {
		return w, err
	}
	if err := json.Unmarshal(notes, &w.Notes); err != nil {
		return w, fmt.Errorf("work item %d notes: %w", w.ID, err)
	}
	return w, nil
}

// Route puts an order on a work queue because of a rule.
type Route struct {
	Queue string
	Order order.Key
	Rule  string
}

// Open opens an item for each route, except where the queue already has an
// item for the order that is not resolved, and returns the items opened.
func Open(ctx context.Context, tx bun.Tx, rs []Route, now time.Time) ([]events.WorkItemSnapshot, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	n := len(rs)
	q, ch, no, rule := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	for i, r := range rs {
		q[i], ch[i], no[i], rule[i] = r.Queue, r.Order.Channel, r.Order.OrderNo, r.Rule
	}
	// The conflict target is the partial unique index on unresolved items;
	// its predicate must be spelled as in the migration.
	rows, err := tx.QueryContext(ctx, `
		INSERT INTO work_items (queue, channel, order_no, rule, status, created_at, updated_at)
		SELECT DISTINCT ON (q, c, n) q, c, n, r, ?, ?::timestamptz, ?::timestamptz
		FROM unnest(?::text[], ?::text[], ?::text[], ?::text[]) AS x(q, c, n, r) ORDER BY q, c, n, r
		ON CONFLICT (queue, channel, order_no) WHERE status <> 'resolved' DO NOTHING
		RETURNING `+Columns,
		StatusOpen, now, now, pgdialect.Array(q), pgdialect.Array(ch), pgdialect.Array(no), pgdialect.Array(rule))
	if err != nil {
		return nil, fmt.Errorf("route to work queues: %w", err)
	}
	defer rows.Close()
	var out []events.WorkItemSnapshot
	for rows.Next() {
		w, err := Scan(rows)
		if err != nil {
			return nil, fmt.Errorf("route to work queues: %w", err)
		}
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("route to work queues: %w", err)
	}
	return out, nil
}

// ErrNotFound is returned for an unknown work item.
var ErrNotFound = errors.New("work item not found")

// ErrResolved is returned when changing a resolved item.
var ErrResolved = errors.New("work item already resolved")

// Claim gives item id to by.
func Claim(ctx context.Context, tx bun.Tx, id int64, by string, now time.Time) (events.WorkItemSnapshot, error) {
	return update(ctx, tx, id, `status = '`+StatusClaimed+`', assignee = ?, `, []any{by}, by, "", now)
}

// Resolve resolves item id, with an optional closing note; an item nobody
// claimed is assigned to by.
func Resolve(ctx context.Context, tx bun.Tx, id int64, by, note string, now time.Time) (events.WorkItemSnapshot, error) {
	return update(ctx, tx, id, `status = '`+StatusResolved+`', assignee = coalesce(assignee, ?), `, []any{by}, by, note, now)
}

// AddNote adds by's note to item id.
func AddNote(ctx context.Context, tx bun.Tx, id int64, by, note string, now time.Time) (events.WorkItemSnapshot, error) {
	return update(ctx, tx, id, "", nil, by, note, now)
}

// update sets set (a list of assignments ending with ", ") and appends the
// note, if any, to an item that is not resolved.
func update(ctx context.Context, tx bun.Tx, id int64, set string, setArgs []any, by, note string, now time.Time) (events.WorkItemSnapshot, error) {
	noteJSON := "[]"
	if note != "" {
		b, err := json.Marshal([]events.WorkNote{{At: now, By: by, Text: note}})
		if err != nil {
			return events.WorkItemSnapshot{}, fmt.Errorf("work item %d note: %w", id, err)
		}
		noteJSON = string(b)
	}
	args := append(setArgs, noteJSON, now, id, StatusResolved)
	w, err := Scan(tx.QueryRowContext(ctx, `UPDATE work_items SET `+set+`notes = notes || ?::jsonb, updated_at = ?
		WHERE id = ? AND status <> ? RETURNING `+Columns, args...))
	if errors.Is(err, sql.ErrNoRows) {
		var st string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM work_items WHERE id = ?`, id).Scan(&st); errors.Is(err, sql.ErrNoRows) {
			return w, ErrNotFound
		}
		return w, ErrResolved
	}
	if err != nil {
		return w, fmt.Errorf("update work item %d: %w", id, err)
	}
	return w, nil
}
