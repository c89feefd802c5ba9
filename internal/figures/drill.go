package figures

import (
	"context"
	"fmt"
	"time"

	"github.com/towerhq/tower/domain/figures"
)

// BacklogSLA is how long a paid order may wait in the warehouse (waiting's
// count, the WAITING_OVER_SLA set).
func (r *Reader) BacklogSLA() time.Duration { return r.opts.BacklogSLA }

// ExceptionTags are the tags that make an order abnormal now.
func (r *Reader) ExceptionTags(ctx context.Context) ([]string, error) {
	if r.opts.ExceptionTags == nil {
		return nil, nil
	}
	return r.opts.ExceptionTags(ctx)
}

// Cause is one rule's share of the alerts of a window.
type Cause struct {
	Rule, Kind    string
	Count, Orders int64
}

// Causes are the alerts raised in [from, to) in the scopes of f by rule,
// most first (at most first of them), and their total: the top causes of
// exceptions. Read from the alerts (indexed by raise time), never the
// events.
func (r *Reader) Causes(ctx context.Context, f figures.Filter, from, to time.Time, first int) (int64, []Cause, error) {
	join, sc := "", scopeOf(f, [4]string{"a.channel", orderCols[1], orderCols[2], orderCols[3]})
	if narrow(f) {
		join = ` JOIN orders o ON o.channel = a.channel AND o.order_no = a.order_no`
	}
	q := `SELECT a.rule, a.kind, count(*), count(DISTINCT (a.channel, a.order_no)) FROM alerts a` + join +
		` WHERE a.raised_at >= ? AND a.raised_at < ?` + sc.where(" AND ") + ` GROUP BY a.rule, a.kind ORDER BY 3 DESC, 1, 2`
	rs, err := r.db.QueryContext(ctx, q, append([]any{from, to}, sc.args...)...)
	if err != nil {
		return 0, nil, fmt.Errorf("figures: causes of exceptions: %w", err)
	}
	defer rs.Close()
	var total int64
	var out []Cause
	for rs.Next() {
		var c Cause
		if err := rs.Scan(&c.Rule, &c.Kind, &c.Count, &c.Orders); err != nil {
			return 0, nil, fmt.Errorf("figures: causes of exceptions: %w", err)
		}
		total += c.Count
		if len(out) < first {
			out = append(out, c)
		}
	}
	if err := rs.Err(); err != nil {
		return 0, nil, fmt.Errorf("figures: causes of exceptions: %w", err)
	}
	return total, out, nil
}
