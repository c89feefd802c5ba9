package detect

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/domain/rules"
	"github.com/towerhq/tower/domain/twin"
)

// BacktestResult is what a draft rule would have done.
type BacktestResult struct {
	Events, Orders, Hits, OrdersHit, Errors int
	Samples                                 []Sample
}

// Sample is one order the rule would have hit.
type Sample struct {
	Key  order.Key
	At   time.Time
	Kind order.Kind
}

// maxBacktestEvents bounds one backtest (the editor asks for a range).
const maxBacktestEvents = 2_000_000

// Backtest replays the stored events of [from, to) in time order, rebuilding
// each order's twin as it was at each event, and evaluates r on them (a
// deadline rule is evaluated at its due time, when that falls in the range).
// Stateful counts are not replayed: features read zero, so rules that need
// them under-count; the editor says so.
func Backtest(ctx context.Context, db *bun.DB, r rules.Rule, from, to time.Time, samples int) (BacktestResult, error) {
	var res BacktestResult
	p, err := rules.Compile(r)
	if err != nil {
		return res, err
	}
	rows, err := db.QueryContext(ctx, `
		SELECT source, event_id, kind, system, channel, order_no, occurred_at, recovered, data
		FROM order_events WHERE occurred_at >= ? AND occurred_at < ? AND channel <> ''
		ORDER BY occurred_at, id LIMIT ?`, from, to, maxBacktestEvents)
	if err != nil {
		return res, fmt.Errorf("backtest: %w", err)
	}
	defer rows.Close()
	twins := map[order.Key]*twin.Twin{}
	hitOrders := map[order.Key]bool{}
	type due struct {
		key order.Key
		at  time.Time
	}
	var dues []due
	for rows.Next() {
		var e order.Event
		var data []byte
		if err := rows.Scan(&e.Source, &e.ID, &e.Kind, &e.System, &e.Order.Channel, &e.Order.OrderNo, &e.OccurredAt, &e.Recovered, &data); err != nil {
			return res, fmt.Errorf("backtest: %w", err)
		}
		if err := json.Unmarshal(data, &e.Data); err != nil {
			return res, fmt.Errorf("backtest: event %s: %w", e.ID, err)
		}
		res.Events++
		t := twins[e.Order]
		if t == nil {
			t = twin.New(e.Order)
			twins[e.Order] = t
		}
		t.Apply(e)
		if !p.Listens(e.Kind) {
			continue
		}
		env := rules.NewEnv(&e, t, rules.Features{}, e.OccurredAt)
		if p.Deadline() {
			if at, ok, err := p.Due(env); err != nil {
				res.Errors++
			} else if ok && at.Before(to) {
				dues = append(dues, due{key: e.Order, at: at})
			}
			continue
		}
		ok, err := p.EvalRef(&env)
		if err != nil {
			res.Errors++
			continue
		}
		if ok {
			res.Hits++
			if !hitOrders[e.Order] && len(res.Samples) < samples {
				res.Samples = append(res.Samples, Sample{Key: e.Order, At: e.OccurredAt, Kind: e.Kind})
			}
			hitOrders[e.Order] = true
		}
	}
	if err := rows.Err(); err != nil {
		return res, err
	}
	// Deadlines are judged on the twin as the range left it: an awaited
	// event that came before the due time is on it, one after is too (a
	// small over-forgiveness, noted for the editor).
	for _, d := range dues {
		env := rules.NewEnv(nil, twins[d.key], rules.Features{}, d.at)
		ok, err := p.EvalRef(&env)
		if err != nil {
			res.Errors++
			continue
		}
		if ok {
			res.Hits++
			if !hitOrders[d.key] && len(res.Samples) < samples {
				res.Samples = append(res.Samples, Sample{Key: d.key, At: d.at})
			}
			hitOrders[d.key] = true
		}
	}
	res.Orders, res.OrdersHit = len(twins), len(hitOrders)
	return res, nil
}
