package detection

import (
	"context"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/twin"
)

// Override replaces a deadline rule's wait for one channel, warehouse or
// courier.
type Override struct {
	ID         int64
	Rule       string
	ScopeKind  string // channel | warehouse | courier
	ScopeValue string
	After      time.Duration
}

// overrides indexes the overrides of the loaded revision.
type overrides map[string]map[string]time.Duration // rule -> "kind:value" -> after

// after returns the wait for t under rule, the most specific scope first.
func (o overrides) after(rule string, t *twin.Twin, dflt time.Duration) time.Duration {
	m := o[rule]
	if len(m) == 0 {
		return dflt
	}
	d := t.Details
	for _, k := range []string{"warehouse:" + d.Warehouse, "courier:" + d.Courier, "channel:" + t.Key.Channel} {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return dflt
}

func loadOverrides(ctx context.Context, db bun.IDB) (overrides, error) {
	list, err := ListOverrides(ctx, db)
	if err != nil {
		return nil, err
	}
	out := overrides{}
	for _, o := range list {
		if out[o.Rule] == nil {
			out[o.Rule] = map[string]time.Duration{}
		}
		out[o.Rule][o.ScopeKind+":"+o.ScopeValue] = o.After
	}
	return out, nil
}

// ListOverrides returns every override.
func ListOverrides(ctx context.Context, db bun.IDB) ([]Override, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, rule, scope_kind, scope_value, after_ms FROM deadline_overrides ORDER BY rule, scope_kind, scope_value`)
	if err != nil {
		return nil, fmt.Errorf("deadline overrides: %w", err)
	}
	defer rows.Close()
	var out []Override
	for rows.Next() {
		var o Override
		var ms int64
		if err := rows.Scan(&o.ID, &o.Rule, &o.ScopeKind, &o.ScopeValue, &ms); err != nil {
			return nil, err
		}
		o.After = time.Duration(ms) * time.Millisecond
		out = append(out, o)
	}
	return out, rows.Err()
}

// SetOverride stores an override; the detectors reload on the next event.
func (s *Rules) SetOverride(ctx context.Context, o Override, now time.Time, by string) (Override, error) {
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		if err := tx.QueryRowContext(ctx, `
			INSERT INTO deadline_overrides (rule, scope_kind, scope_value, after_ms, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (rule, scope_kind, scope_value) DO UPDATE SET after_ms = excluded.after_ms, updated_at = excluded.updated_at, updated_by = excluded.updated_by
			RETURNING id`, o.Rule, o.ScopeKind, o.ScopeValue, o.After.Milliseconds(), now, by).Scan(&o.ID); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return o, fmt.Errorf("set deadline override: %w", err)
	}
	return o, nil
}

// DeleteOverride removes one.
func (s *Rules) DeleteOverride(ctx context.Context, id int64) (bool, error) {
	var n int64
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM deadline_overrides WHERE id = ?`, id)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return bump(ctx, tx)
	})
	return n > 0, err
}
