package storage

import (
	"context"
	"fmt"

	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/access"
)

// maxOptions bounds each list of FilterOptions.
const maxOptions = 200

// FilterOptions are the channels, shops and warehouses the orders within
// scope have, sorted: what the views' filters offer.
type FilterOptions struct {
	Channels, Shops, Warehouses []string
}

// FilterOptions reads the distinct values of each column by skipping
// through its index (a recursive "loose index scan": one index probe per
// value, not a scan of the orders).
func (o *Orders) FilterOptions(ctx context.Context, scope access.Scopes) (FilterOptions, error) {
	var out FilterOptions
	for _, c := range []struct {
		col string
		dst *[]string
	}{{"channel", &out.Channels}, {"shop", &out.Shops}, {"warehouse", &out.Warehouses}} {
		cond, args := "", []any{}
		if len(scope.Channels) > 0 {
			cond += ` AND channel = ANY(?)`
			args = append(args, pgdialect.Array(scope.Channels))
		}
		if len(scope.Warehouses) > 0 {
			cond += ` AND warehouse = ANY(?)`
			args = append(args, pgdialect.Array(scope.Warehouses))
		}
		q := `WITH RECURSIVE t(v) AS (
				(SELECT ` + c.col + ` FROM orders WHERE ` + c.col + ` > ''` + cond + ` ORDER BY ` + c.col + ` LIMIT 1)
				UNION ALL
				SELECT (SELECT ` + c.col + ` FROM orders WHERE ` + c.col + ` > t.v` + cond + ` ORDER BY ` + c.col + ` LIMIT 1) FROM t WHERE t.v IS NOT NULL
			) SELECT v FROM t WHERE v IS NOT NULL LIMIT ?`
		all := append(append(append([]any{}, args...), args...), maxOptions)
		vs := []string{}
		if err := o.db.NewRaw(q, all...).Scan(ctx, &vs); err != nil {
			return out, fmt.Errorf("filter options (%s): %w", c.col, err)
		}
		*c.dst = vs
	}
	return out, nil
}
