package detection

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/events"
)

// WorkItemColumns are read by ScanWorkItem.
const WorkItemColumns = `id, queue, channel, order_no, rule, status, coalesce(assignee, ''), notes, created_at, updated_at`

// ScanWorkItem reads a work_items row.
func ScanWorkItem(row interface{ Scan(...any) error }) (events.WorkItemSnapshot, error) {
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

// ErrWorkItemNotFound is returned for an unknown work item.
var ErrWorkItemNotFound = errors.New("work item not found")

// ErrWorkItemResolved is returned when changing a resolved item.
var ErrWorkItemResolved = errors.New("work item already resolved")

// UpdateWorkItem claims, resolves or annotates a work item, inside tx.
func UpdateWorkItem(ctx context.Context, tx bun.Tx, id int64, action, by, note string, now time.Time) (events.WorkItemSnapshot, error) {
	var set string
	switch action {
	case "claim":
		set = "status = 'claimed', assignee = ?"
	case "resolve":
		set = "status = 'resolved', assignee = coalesce(assignee, ?)"
	case "note":
	default:
		return events.WorkItemSnapshot{}, fmt.Errorf("work item action %q", action)
	}
	noteJSON := "[]"
	if note != "" {
		b, _ := json.Marshal([]events.WorkNote{{At: now, By: by, Text: note}})
		noteJSON = string(b)
	}
	args := []any{}
	if action != "note" {
		args = append(args, by)
	}
	args = append(args, noteJSON, now, id)
	q := `UPDATE work_items SET ` + set + `, notes = notes || ?::jsonb, updated_at = ? WHERE id = ? AND status <> 'resolved' RETURNING ` + WorkItemColumns
	if action == "note" {
		q = `UPDATE work_items SET notes = notes || ?::jsonb, updated_at = ? WHERE id = ? AND status <> 'resolved' RETURNING ` + WorkItemColumns
	}
	w, err := ScanWorkItem(tx.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		var st string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM work_items WHERE id = ?`, id).Scan(&st); errors.Is(err, sql.ErrNoRows) {
			return w, ErrWorkItemNotFound
		}
		return w, ErrWorkItemResolved
	}
	return w, err
}
