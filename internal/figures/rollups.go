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

// Resolutions of figure_rollups, in minutes.
const (
	ResMinute = 1
	ResHour   = 60
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
	return add(ctx, tx, flows, open)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// add upserts counts: flows at both resolutions, open as they are. Rows
// are written in key order, so that two transactions touching the same
// rows lock them in the same order.
func add(ctx context.Context, db execer, flows, open figures.Counts) error {
	if len(flows) > 0 {
		rows := make(map[rollupKey]int64, 2*len(flows))
		for c, n := range flows {
			rows[rollupKey{ResMinute, c}] += n
			h := c
			h.At = c.At.Truncate(time.Hour)
			rows[rollupKey{ResHour, h}] += n
		}
		keys := slices.SortedFunc(maps.Keys(rows), compareRollupKeys)
		var (
			res                              []int16
			at                               []time.Time
			chs, shops, whs, crs, ms, labels []string
			ns                               []int64
		)
		for _, k := range keys {
			n := rows[k]
			if n == 0 {
				continue
			}
			c := k.cell
			res, at = append(res, k.res), append(at, c.At)
			chs, shops, whs, crs = append(chs, c.Scope.Channel), append(shops, c.Scope.Shop), append(whs, c.Scope.Warehouse), append(crs, c.Scope.Courier)
			ms, labels, ns = append(ms, string(c.Metric)), append(labels, c.Label), append(ns, n)
		}
		if len(ns) > 0 {
			if _, err := db.ExecContext(ctx, `
				INSERT INTO figure_rollups (res, at, channel, shop, warehouse, courier, metric, label, n)
				SELECT * FROM unnest($1::smallint[], $2::timestamptz[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bigint[])
				ON CONFLICT (res, at, channel, shop, warehouse, courier, metric, label) DO UPDATE SET n = figure_rollups.n + excluded.n`,
				res, at, chs, shops, whs, crs, ms, labels, ns); err != nil {
				return fmt.Errorf("figures: add %d rollup counts: %w", len(ns), err)
			}
		}
	}
	if len(open) > 0 {
		keys := slices.SortedFunc(maps.Keys(open), compareCells)
		var (
			since                            []time.Time
			chs, shops, whs, crs, ms, labels []string
			ns                               []int64
		)
		for _, c := range keys {
			since = append(since, c.At)
			chs, shops, whs, crs = append(chs, c.Scope.Channel), append(shops, c.Scope.Shop), append(whs, c.Scope.Warehouse), append(crs, c.Scope.Courier)
			ms, labels, ns = append(ms, string(c.Metric)), append(labels, c.Label), append(ns, open[c])
		}
		if _, err := db.ExecContext(ctx, `
			INSERT INTO figure_open (channel, shop, warehouse, courier, metric, label, since, n)
			SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::bigint[])
			ON CONFLICT (channel, shop, warehouse, courier, metric, label, since) DO UPDATE SET n = figure_open.n + excluded.n`,
			chs, shops, whs, crs, ms, labels, since, ns); err != nil {
			return fmt.Errorf("figures: add %d open counts: %w", len(ns), err)
		}
	}
	return nil
}

type rollupKey struct {
	res  int16
	cell figures.Cell
}

func compareRollupKeys(a, b rollupKey) int {
	return cmp.Or(cmp.Compare(a.res, b.res), compareCells(a.cell, b.cell))
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
