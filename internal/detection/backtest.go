package detection

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
// Stateful features are replayed too, the way the detector keeps them live,
// from the orders of the range: history before `from` is not counted, so
// window counts near its start and amount means read as a young shop's.
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
	feats := newReplay()
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
		f := feats.observe(&e, t)
		if !p.Listens(e.Kind) {
			continue
		}
		env := rules.NewEnv(&e, t, f, e.OccurredAt)
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

// replay keeps the stateful features during a backtest as the detector
// keeps them live (see features): marks at each order's creation time,
// counted in their windows, and running amount histories, each order
// counted once.
type replay struct {
	marks  map[[2]string][]time.Time
	marked map[order.Key]map[[2]string]bool
	stats  map[string]stat
	paid   map[order.Key]bool
}

// stat is an amount history: how many orders, their total in fen.
type stat struct{ orders, total int64 }

func newReplay() *replay {
	return &replay{marks: map[[2]string][]time.Time{}, marked: map[order.Key]map[[2]string]bool{}, stats: map[string]stat{}, paid: map[order.Key]bool{}}
}

// observe records what e adds to the histories and returns the features
// the detector would have passed with it.
func (r *replay) observe(e *order.Event, t *twin.Twin) rules.Features {
	var f rules.Features
	switch e.Kind {
	case order.KindCreated, order.KindPaid, order.KindAddressChanged:
	default:
		return f
	}
	mine := r.marked[t.Key]
	if mine == nil {
		mine = map[[2]string]bool{}
		r.marked[t.Key] = mine
	}
	for _, m := range orderMarks(t) {
		kv := [2]string{m.kind, m.value}
		if !mine[kv] {
			mine[kv] = true
			r.marks[kv] = append(r.marks[kv], t.CreatedAt)
		}
		n := 0
		for _, at := range r.marks[kv] {
			if at.After(t.CreatedAt.Add(-m.win)) && !at.After(t.CreatedAt) {
				n++
			}
		}
		setFeature(&f, m.kind, min(n, maxWindowCount))
	}
	if (e.Kind != order.KindPaid && e.Kind != order.KindCreated) || t.Details.Amount == nil {
		return f
	}
	// Judged from its creation; only a payment makes it history.
	payment := e.Kind == order.KindPaid
	amount := int64(*t.Details.Amount)
	buyer, shop, sku := amountScopes(t)
	for _, sc := range []struct {
		name  string
		count *int
		mean  *float64
	}{
		{buyer, &f.BuyerOrderCount, &f.BuyerMeanAmount},
		{shop, &f.ShopOrderCount, &f.ShopMeanAmount},
		{sku, &f.SKUOrderCount, &f.SKUMeanAmount},
	} {
		if sc.name == "" {
			continue
		}
		st := r.stats[sc.name]
		if r.paid[t.Key] && st.orders > 0 {
			st.orders-- // its own payment is not its history
			st.total -= amount
		}
		*sc.count = int(st.orders)
		if st.orders > 0 {
			*sc.mean = float64(st.total) / float64(st.orders) / 100
		}
		if payment && !r.paid[t.Key] {
			cur := r.stats[sc.name]
			r.stats[sc.name] = stat{orders: cur.orders + 1, total: cur.total + amount}
		}
	}
	if payment {
		r.paid[t.Key] = true
	}
	return f
}
