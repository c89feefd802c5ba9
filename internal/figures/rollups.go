// Package figures keeps and reads Tower's fulfilment figures: the rollups
// per minute and per hour (figure_rollups) and the open gauges
// (figure_open), written by the projection in the same transaction as the
// twins it changes, and the customer-service lookups (order_lookups).
// What is counted is domain/figures'; this package stores and sums.
//
// The projection hands Apply each changed twin before and after; the
// delta of their contributions is added. The sum over all changes is the
// contribution of the final twins, whatever order the events came in, so
// a replay gives the same numbers and Rebuild (from the twins alone) gives
// what Apply kept.
package figures

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/twin"
)

// Resolutions of figure_rollups, in minutes. Days are the business time
// zone's calendar days, and only the pre-summed scopes have them (and
// only they have no minutes).
const (
	ResMinute = 1
	ResHour   = 60
	ResDay    = 1440
)

// Rollups writes the rollups with fixed settings.
type Rollups struct {
	s figures.Settings
}

// New returns rollups counting with s (validated by the configuration).
func New(s figures.Settings) *Rollups { return &Rollups{s: s} }

// Settings are what the rollups count with.
func (r *Rollups) Settings() figures.Settings { return r.s }

// Change is one twin a projection transaction changed: as stored before
// (nil for a new order) and as it stores it.
type Change struct {
	Before, After *twin.Twin
}

// Apply adds what changes change to the rollups, in the projection's
// transaction.
func (r *Rollups) Apply(ctx context.Context, tx *sql.Tx, changes []Change) error {
	flows, open := figures.Counts{}, figures.Counts{}
	for _, c := range changes {
		if c.After != nil {
			f := figures.Of(c.After)
			figures.Contribute(&f, r.s, 1, flows, open)
		}
		if c.Before != nil {
			f := figures.Of(c.Before)
			figures.Contribute(&f, r.s, -1, flows, open)
		}
	}
	return r.add(ctx, tx, flows, open)
}

// RollupKey is one row of figure_rollups.
type RollupKey struct {
	Res  int16
	Cell figures.Cell
}

// AddRows adds to rows the figure_rollups rows flows make: each cell in its
// order's own scope and in each pre-summed scope (figures.Scope.Sums), by
// the minute (when minutes says so for its time) and by the hour, and in
// the pre-summed scopes by the business day too.
func (r *Rollups) AddRows(rows map[RollupKey]int64, flows figures.Counts, minutes func(time.Time) bool) {
	for c, n := range flows {
		withMinute := minutes == nil || minutes(c.At)
		lt := c.At.In(r.s.Location)
		day := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, r.s.Location).UTC()
		add := func(sc figures.Scope, days bool) {
			m := c
			m.Scope = sc
			if withMinute {
				rows[RollupKey{ResMinute, m}] += n
			}
			h := m
			h.At = c.At.Truncate(time.Hour)
			rows[RollupKey{ResHour, h}] += n
			if days {
				h.At = day
				rows[RollupKey{ResDay, h}] += n
			}
		}
		add(c.Scope, false)
		for _, sum := range c.Scope.Sums() {
			add(sum, true)
		}
	}
}

// AddOpen adds to rows the figure_open rows open makes: each gauge in its
// order's own scope and in each pre-summed scope.
func AddOpen(rows, open figures.Counts) {
	for c, n := range open {
		rows[c] += n
		for _, sum := range c.Scope.Sums() {
			s := c
			s.Scope = sum
			rows[s] += n
		}
	}
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// add upserts counts, in one statement: flows as AddRows makes them, open
// as they are. Rows are written in key order, so that two transactions
// touching the same rows lock them in the same order.
func (r *Rollups) add(ctx context.Context, db execer, flows, open figures.Counts) error {
	var args []any
	var parts []string
	if len(flows) > 0 {
		rows := make(map[RollupKey]int64, 4*len(flows))
		r.AddRows(rows, flows, nil)
		var (
			res                              []int16
			at                               []time.Time
			chs, shops, whs, crs, ms, labels []string
			ns                               []int64
		)
		for _, k := range slices.SortedFunc(maps.Keys(rows), CompareRollupKeys) {
			n := rows[k]
			if n == 0 {
				continue
			}
			c := k.Cell
			res, at = append(res, k.Res), append(at, c.At)
			chs, shops, whs, crs = append(chs, c.Scope.Channel), append(shops, c.Scope.Shop), append(whs, c.Scope.Warehouse), append(crs, c.Scope.Courier)
			ms, labels, ns = append(ms, string(c.Metric)), append(labels, c.Label), append(ns, n)
		}
		if len(ns) > 0 {
			p := len(args)
			args = append(args, res, at, chs, shops, whs, crs, ms, labels, ns)
			parts = append(parts, fmt.Sprintf(`INSERT INTO figure_rollups (res, at, channel, shop, warehouse, courier, metric, label, n)
				SELECT * FROM unnest($%d::smallint[], $%d::timestamptz[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::bigint[])
				ON CONFLICT (res, at, channel, shop, warehouse, courier, metric, label) DO UPDATE SET n = figure_rollups.n + excluded.n`,
				p+1, p+2, p+3, p+4, p+5, p+6, p+7, p+8, p+9))
		}
	}
	if len(open) > 0 {
		all := make(figures.Counts, 5*len(open))
		AddOpen(all, open)
		open = all
		var (
			since                            []time.Time
			chs, shops, whs, crs, ms, labels []string
			ns                               []int64
		)
		for _, c := range slices.SortedFunc(maps.Keys(open), compareCells) {
			since = append(since, c.At)
			chs, shops, whs, crs = append(chs, c.Scope.Channel), append(shops, c.Scope.Shop), append(whs, c.Scope.Warehouse), append(crs, c.Scope.Courier)
			ms, labels, ns = append(ms, string(c.Metric)), append(labels, c.Label), append(ns, open[c])
		}
		p := len(args)
		args = append(args, chs, shops, whs, crs, ms, labels, since, ns)
		parts = append(parts, fmt.Sprintf(`INSERT INTO figure_open (channel, shop, warehouse, courier, metric, label, since, n)
			SELECT * FROM unnest($%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::text[], $%d::timestamptz[], $%d::bigint[])
			ON CONFLICT (channel, shop, warehouse, courier, metric, label, since) DO UPDATE SET n = figure_open.n + excluded.n`,
			p+1, p+2, p+3, p+4, p+5, p+6, p+7, p+8))
	}
	var q string
	switch len(parts) {
	case 0:
		return nil
	case 1:
		q = parts[0]
	default:
		// One round trip: the first insert as a data-modifying CTE.
		q = "WITH rollups AS (" + parts[0] + ") " + parts[1]
	}
	if _, err := db.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("figures: add %d flow and %d open counts: %w", len(flows), len(open), err)
	}
	return nil
}

// CompareRollupKeys is figure_rollups' primary key order.
func CompareRollupKeys(a, b RollupKey) int {
	return cmp.Or(cmp.Compare(a.Res, b.Res), compareCells(a.Cell, b.Cell))
}

// compareCells is the primary key order of both tables.
func compareCells(a, b figures.Cell) int {
	return cmp.Or(
		a.At.Compare(b.At),
		cmp.Compare(a.Scope.Channel, b.Scope.Channel), cmp.Compare(a.Scope.Shop, b.Scope.Shop),
		cmp.Compare(a.Scope.Warehouse, b.Scope.Warehouse), cmp.Compare(a.Scope.Courier, b.Scope.Courier),
		cmp.Compare(a.Metric, b.Metric), cmp.Compare(a.Label, b.Label),
	)
}
