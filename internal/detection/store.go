// Package detection finds exceptions as events arrive: it evaluates the
// editable rules against each event, the order's twin (as the projection
// just computed it) and stateful features, schedules deadline timers, and
// raises and resolves alerts, routes orders to work queues and says which
// tags they get, all inside the projection's transaction, so an alert
// exists if and only if the twin change that caused it does. It writes
// only its own tables (rules, overrides, features, rule hits): alerts go
// through internal/alerts, work items through internal/workitems, and
// orders, tags included, are the projection's to write.
package detection

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/rules"
)

// RuleRecord is a stored rule with its audit fields.
type RuleRecord struct {
	Rule      rules.Rule
	UpdatedAt time.Time
	UpdatedBy string
	// DisabledReason says why Tower switched the rule off by itself.
	DisabledReason string
}

// autoDisabler is who a rule switched off for failing was changed by.
const autoDisabler = "tower (kept failing)"

// ErrNotFound is returned for an unknown rule.
var ErrNotFound = errors.New("rule not found")

// Rules stores rule definitions, every version kept.
type Rules struct{ db *bun.DB }

func NewRules(db *bun.DB) *Rules { return &Rules{db: db} }

// Seed stores the default rules when no rule was ever stored (first start).
func (s *Rules) Seed(ctx context.Context, defaults []rules.Rule, now time.Time) (bool, error) {
	seeded := false
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var n int
		if err := tx.NewRaw(`SELECT count(*) FROM rule_versions`).Scan(ctx, &n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		// Two nodes starting at once: the second waits here, then sees rows.
		if _, err := tx.ExecContext(ctx, `LOCK TABLE rule_versions IN EXCLUSIVE MODE`); err != nil {
			return err
		}
		if err := tx.NewRaw(`SELECT count(*) FROM rule_versions`).Scan(ctx, &n); err != nil || n > 0 {
			return err
		}
		for _, r := range defaults {
			if err := put(ctx, tx, r, false, now, "system"); err != nil {
				return err
			}
		}
		seeded = true
		return bump(ctx, tx)
	})
	if err != nil {
		return false, fmt.Errorf("seed rules: %w", err)
	}
	return seeded, nil
}

func put(ctx context.Context, tx bun.Tx, r rules.Rule, deleted bool, now time.Time, by string) error {
	def, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO rules (name, version, definition, enabled, deleted, updated_at, updated_by) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET version = excluded.version, definition = excluded.definition,
			enabled = excluded.enabled, deleted = excluded.deleted, updated_at = excluded.updated_at, updated_by = excluded.updated_by,
			disabled_reason = NULL`,
		r.Name, r.Version, string(def), r.Enabled, deleted, now, by); err != nil {
		return fmt.Errorf("store rule %s: %w", r.Name, err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO rule_versions (name, version, definition, enabled, deleted, created_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Name, r.Version, string(def), r.Enabled, deleted, now, by); err != nil {
		return fmt.Errorf("store rule %s version %d: %w", r.Name, r.Version, err)
	}
	return nil
}

func bump(ctx context.Context, tx bun.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE rules_revision SET revision = revision + 1`)
	return err
}

// Revision moves whenever any rule changes; detectors reload when it does.
func Revision(ctx context.Context, db bun.IDB) (int64, error) {
	var rev int64
	err := db.NewRaw(`SELECT revision FROM rules_revision`).Scan(ctx, &rev)
	return rev, err
}

// List returns every live (not deleted) rule.
func (s *Rules) List(ctx context.Context) ([]RuleRecord, error) {
	return list(ctx, s.db, "")
}

// Get returns one rule.
func (s *Rules) Get(ctx context.Context, name string) (RuleRecord, error) {
	rs, err := list(ctx, s.db, name)
	if err != nil {
		return RuleRecord{}, err
	}
	if len(rs) == 0 {
		return RuleRecord{}, ErrNotFound
	}
	return rs[0], nil
}

func list(ctx context.Context, db bun.IDB, name string) ([]RuleRecord, error) {
	var rows []struct {
		Definition     []byte         `bun:"definition"`
		UpdatedAt      time.Time      `bun:"updated_at"`
		UpdatedBy      string         `bun:"updated_by"`
		DisabledReason sql.NullString `bun:"disabled_reason"`
	}
	q := db.NewSelect().Table("rules").Column("definition", "updated_at", "updated_by", "disabled_reason").Where("NOT deleted").Order("name")
	if name != "" {
		q = q.Where("name = ?", name)
	}
	if err := q.Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	out := make([]RuleRecord, 0, len(rows))
	for _, r := range rows {
		var rule rules.Rule
		if err := json.Unmarshal(r.Definition, &rule); err != nil {
			return nil, fmt.Errorf("decode rule: %w", err)
		}
		out = append(out, RuleRecord{Rule: rule, UpdatedAt: r.UpdatedAt, UpdatedBy: r.UpdatedBy, DisabledReason: r.DisabledReason.String})
	}
	return out, nil
}

// Save validates and compiles r, then stores it as a new version.
func (s *Rules) Save(ctx context.Context, r rules.Rule, now time.Time, by string) (RuleRecord, error) {
	if _, err := rules.Compile(r); err != nil {
		return RuleRecord{}, err
	}
	err := s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var v sql.NullInt64
		if err := tx.NewRaw(`SELECT max(version) FROM rule_versions WHERE name = ?`, r.Name).Scan(ctx, &v); err != nil {
			return err
		}
		r.Version = int(v.Int64) + 1
		if err := put(ctx, tx, r, false, now, by); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
	if err != nil {
		return RuleRecord{}, fmt.Errorf("save rule %s: %w", r.Name, err)
	}
	return RuleRecord{Rule: r, UpdatedAt: now, UpdatedBy: by}, nil
}

// SetEnabled switches a rule on or off (a new version).
func (s *Rules) SetEnabled(ctx context.Context, name string, enabled bool, now time.Time, by string) (RuleRecord, error) {
	rec, err := s.Get(ctx, name)
	if err != nil {
		return rec, err
	}
	rec.Rule.Enabled = enabled
	return s.Save(ctx, rec.Rule, now, by)
}

// Delete removes a rule (its versions stay, the last one marked deleted).
func (s *Rules) Delete(ctx context.Context, name string, now time.Time, by string) error {
	rec, err := s.Get(ctx, name)
	if err != nil {
		return err
	}
	return s.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		r := rec.Rule
		r.Version++
		r.Enabled = false
		if err := put(ctx, tx, r, true, now, by); err != nil {
			return err
		}
		return bump(ctx, tx)
	})
}

// Version is one stored version of a rule.
type Version struct {
	Rule      rules.Rule
	Deleted   bool
	CreatedAt time.Time
	CreatedBy string
}

// Versions lists a rule's history, newest first.
func (s *Rules) Versions(ctx context.Context, name string) ([]Version, error) {
	var rows []struct {
		Definition []byte    `bun:"definition"`
		Deleted    bool      `bun:"deleted"`
		CreatedAt  time.Time `bun:"created_at"`
		CreatedBy  string    `bun:"created_by"`
	}
	if err := s.db.NewSelect().Table("rule_versions").Column("definition", "deleted", "created_at", "created_by").
		Where("name = ?", name).Order("version DESC").Scan(ctx, &rows); err != nil {
		return nil, fmt.Errorf("rule versions: %w", err)
	}
	out := make([]Version, 0, len(rows))
	for _, r := range rows {
		var rule rules.Rule
		if err := json.Unmarshal(r.Definition, &rule); err != nil {
			return nil, err
		}
		out = append(out, Version{Rule: rule, Deleted: r.Deleted, CreatedAt: r.CreatedAt, CreatedBy: r.CreatedBy})
	}
	return out, nil
}

// disableFailing switches a failing rule off as a new version, with the
// reason shown beside it, in the caller's transaction (the one that
// counted the errors). Every node reloads on the revision bump.
func disableFailing(ctx context.Context, tx bun.Tx, name, reason string, now time.Time) error {
	var def []byte
	err := tx.NewRaw(`SELECT definition FROM rules WHERE name = ? AND enabled AND NOT deleted FOR UPDATE`, name).Scan(ctx, &def)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // switched off or deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("disable failing rule %s: %w", name, err)
	}
	var r rules.Rule
	if err := json.Unmarshal(def, &r); err != nil {
		return fmt.Errorf("disable failing rule %s: %w", name, err)
	}
	var v int
	if err := tx.NewRaw(`SELECT max(version) FROM rule_versions WHERE name = ?`, name).Scan(ctx, &v); err != nil {
		return fmt.Errorf("disable failing rule %s: %w", name, err)
	}
	r.Version, r.Enabled = v+1, false
	if err := put(ctx, tx, r, false, now, autoDisabler); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE rules SET disabled_reason = ? WHERE name = ?`, reason, name); err != nil {
		return fmt.Errorf("disable failing rule %s: %w", name, err)
	}
	return bump(ctx, tx)
}
