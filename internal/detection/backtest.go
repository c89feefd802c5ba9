package detection

import (
	"context"
	"encoding/json"
	"errors"
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
	// Truncated says why the replay stopped before the end of the range,
	// "" when it covered it: the counts are then of the part replayed.
	Truncated string
}

// Sample is one order the rule would have hit.
type Sample struct {
	Key  order.Key
	At   time.Time
	Kind order.Kind
}

// Bounds on backtests. A backtest replays up to millions of events through a
// rule that is still a draft: each evaluation is bounded by the rules
// package (MaxSteps, MaxBytes), and these bound a backtest as a whole and
// how many run on a node at once, so drafts cannot starve live detection.
const (
	// maxBacktestEvents bounds one backtest (the editor asks for a range).
	maxBacktestEvents = 2_000_000
	// maxBacktestTime bounds one backtest's replay.
	maxBacktestTime = 2 * time.Minute
	// maxOverBounds stops a replay once the rule went over its evaluation
	// bounds this often: each such evaluation costs the most an
	// evaluation can, and the answer is clear by then.
	maxOverBounds = 100
	// maxConcurrentBacktests run on a node at once; more wait for a slot
	// up to backtestSlotWait.
	maxConcurrentBacktests = 2
	backtestSlotWait       = 5 * time.Second
)

// ErrBacktestBusy is returned when every backtest slot of the node stayed
// taken while the backtest waited.
var ErrBacktestBusy = errors.New("backtest: too many backtests running; try again shortly")

var backtestSlots = make(chan struct{}, maxConcurrentBacktests)

// errBacktestTime is the cause of a backtest's context ending at
// maxBacktestTime, as opposed to its caller going away.
var errBacktestTime = errors.New("backtest time limit")

func acquireBacktestSlot(ctx context.Context) (release func(), err error) {
	wait := time.NewTimer(backtestSlotWait)
	defer wait.Stop()
	select {
	case backtestSlots <- struct{}{}:
		return func() { <-backtestSlots }, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrBacktestBusy, ctx.Err())
	case <-wait.C:
		return nil, ErrBacktestBusy
	}
}

// Backtest replays the stored events of [from, to) in time order, rebuilding
// each order's twin as it was at each event, and evaluates r on them (a
// deadline rule is evaluated at its due time, when that falls in the range).
// Stateful features are replayed too, the way the detector keeps them live,
// from the orders of the range: history before `from` is not counted, so
// window counts near its start and amount means read as a young shop's.
//
// At most maxConcurrentBacktests run at once on a node (ErrBacktestBusy when
// no slot frees up in time). A replay stops early, with the reason in
// Truncated, after maxBacktestEvents events, after maxBacktestTime, or once
// the rule went over its evaluation bounds maxOverBounds times.
func Backtest(ctx context.Context, db *bun.DB, r rules.Rule, from, to time.Time, samples int) (BacktestResult, error) {
	var res BacktestResult
	p, err := rules.Compile(r)
	if err != nil {
		return res, err
	}
	release, err := acquireBacktestSlot(ctx)
	if err != nil {
		return res, err
	}
	defer release()
	ctx, cancel := context.WithTimeoutCause(ctx, maxBacktestTime, errBacktestTime)
	defer cancel()
	overBounds := 0
	// failed counts a rule error, and stops the replay once the rule went
	// over its bounds too often.
	failed := func(err error) {
		res.Errors++
		if errors.Is(err, rules.ErrOverBounds) {
			overBounds++
		}
		if overBounds >= maxOverBounds && res.Truncated == "" {
			res.Truncated = fmt.Sprintf("the rule went over its evaluation bounds on %d events: %v", overBounds, err)
		}
	}
	// stopped reports whether the replay's time is up; err is set when the
	// caller went away instead.
	stopped := func() (bool, error) {
		if ctx.Err() == nil {
			return false, nil
		}
		if context.Cause(ctx) == errBacktestTime {
			res.Truncated = fmt.Sprintf("the replay took longer than %v", maxBacktestTime)
			return true, nil
		}
		return true, fmt.Errorf("backtest: %w", ctx.Err())
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
	for res.Truncated == "" && rows.Next() {
		if res.Events%1024 == 0 {
			if stop, err := stopped(); stop {
				if err != nil {
					return res, err
				}
				break
			}
		}
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
				failed(err)
			} else if ok && at.Before(to) {
				dues = append(dues, due{key: e.Order, at: at})
			}
			continue
		}
		ok, err := p.EvalRef(&env)
		if err != nil {
			failed(err)
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
		if stop, serr := stopped(); !stop || serr != nil {
			return res, fmt.Errorf("backtest: %w", err)
		}
	}
	if res.Truncated == "" && res.Events == maxBacktestEvents {
		res.Truncated = fmt.Sprintf("only the first %d events of the range were replayed", maxBacktestEvents)
	}
	// Deadlines are judged on the twin as the range left it: an awaited
	// event that came before the due time is on it, one after is too (a
	// small over-forgiveness, noted for the editor).
	for i, d := range dues {
		if res.Truncated != "" {
			break
		}
		if i%1024 == 0 {
			if stop, err := stopped(); stop {
				if err != nil {
					return res, err
				}
				break
			}
		}
		env := rules.NewEnv(nil, twins[d.key], rules.Features{}, d.at)
		ok, err := p.EvalRef(&env)
		if err != nil {
			failed(err)
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
