package figures

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/twin"
)

// MaxWindow is the longest window Figures reads (its hourly series is
// priced by it).
const MaxWindow = 7 * 24 * time.Hour

// Reader answers the views' questions from the rollups, the open gauges
// and the few small sets the twins cannot hold (open alerts, tagged
// orders, lookups). It never reads the event table.
type Reader struct {
	db   bun.IDB
	opts ReaderOptions

	mu    sync.Mutex
	cache map[string]cached
}

// ReaderOptions configure a Reader.
type ReaderOptions struct {
	Settings figures.Settings
	// MinuteRetention is how far back minute rollups exist.
	MinuteRetention time.Duration
	// Goals, HealthWindow and BacklogSLA make the health index.
	Goals        figures.Goals
	HealthWindow time.Duration
	BacklogSLA   time.Duration
	// ExceptionTags returns the tags that make an order abnormal (from the
	// rules in force: figures.ExceptionTags).
	ExceptionTags func(context.Context) ([]string, error)
	// CacheFor lets callers asking the same within this long (subscribers
	// of one scope) share one answer; 0 caches nothing.
	CacheFor time.Duration
}

type cached struct {
	at time.Time // real time
	v  any
}

// NewReader reads through db (the API's pool).
func NewReader(db bun.IDB, o ReaderOptions) *Reader {
	return &Reader{db: db, opts: o, cache: map[string]cached{}}
}

// Settings are what the rollups count with.
func (r *Reader) Settings() figures.Settings { return r.opts.Settings }

// Window are the figures of [From, To) as of At.
type Window struct {
	From, To, At time.Time
	figures.Summary
	// Abnormal: orders created in the window with an open alert or an
	// exception tag, of the orders created in it.
	Abnormal figures.Rate
	// DetectionTime of the alerts raised in the window.
	DetectionTime figures.Histogram
	// RepeatedLookups of the orders looked up in the window.
	RepeatedLookups figures.Rate
	// Now: the open backlog per stage, the paid orders waiting longer than
	// the SLA, and open orders with an open divergence alert.
	Backlog     []figures.StageBacklog
	Waiting     figures.Rate
	Divergences figures.Rate
	// Hours is the hourly series of the window.
	Hours []figures.Hour
}

// Figures reads the figures of [from, to) in the scopes of f, at now.
func (r *Reader) Figures(ctx context.Context, f figures.Filter, from, to, now time.Time) (Window, error) {
	key := fmt.Sprintf("figures %v %d %d %d", f, from.UnixNano(), to.UnixNano(), now.Truncate(time.Second).Unix())
	v, err := r.cached(key, func() (any, error) { return r.window(ctx, f, from, to, now) })
	if err != nil {
		return Window{}, err
	}
	return v.(Window), nil
}

func (r *Reader) window(ctx context.Context, f figures.Filter, from, to, now time.Time) (Window, error) {
	w := Window{From: from, To: to, At: now}
	// The reads are independent but for two that need another's answer:
	// each stage's run at once, on connections of their own.
	var (
		rows, hours        []figures.Row
		open               []figures.OpenRow
		diverging, unusual int64
	)
	if err := parallel(
		func() (err error) { rows, err = r.flows(ctx, f, from, to, now); return },
		func() (err error) { open, err = r.open(ctx, f); return },
		func() (err error) { w.DetectionTime, err = r.detection(ctx, f, from, to); return },
		func() (err error) { w.RepeatedLookups, err = r.lookups(ctx, f, from, to); return },
		func() (err error) { hours, err = r.hourRows(ctx, f, from); return },
		func() (err error) { diverging, err = r.divergences(ctx, f); return },
		func() (err error) { unusual, err = r.abnormal(ctx, f, from, to); return },
	); err != nil {
		return w, err
	}
	w.Summary = figures.Summarize(rows, now)
	w.Backlog = figures.Backlog(open, now)
	w.Waiting = figures.WaitingOver(open, now, r.opts.BacklogSLA)
	w.Divergences = rateOf(diverging, figures.OpenCount(open))
	w.Abnormal = rateOf(unusual, w.Created)
	openNow := map[twin.Stage]int64{}
	for _, o := range open {
		if o.Metric == figures.Open {
			openNow[twin.Stage(o.Label)] += o.N
		}
	}
	w.Hours = figures.Hourly(hours, openNow, from, to)
	return w, nil
}

// rateOf is num of den, num counted apart from den (so both are read at
// once) and so capped by it: an order created or closed between the reads
// cannot make a share above one.
func rateOf(num, den int64) figures.Rate {
	return figures.Rate{Num: min(num, den), Den: den}
}

// parallel runs fs at once and returns the first error.
func parallel(fs ...func() error) error {
	errs := make([]error, len(fs))
	var wg sync.WaitGroup
	for i, f := range fs {
		wg.Go(func() { errs[i] = f() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Health is the health index of the scopes of f over the trailing window
// ending at now.
func (r *Reader) Health(ctx context.Context, f figures.Filter, now time.Time) (figures.Index, time.Time, error) {
	from := now.Add(-r.opts.HealthWindow)
	key := fmt.Sprintf("health %v %d", f, now.Truncate(time.Second).Unix())
	v, err := r.cached(key, func() (any, error) {
		var rows []figures.Row
		var open []figures.OpenRow
		var diverging, unusual int64
		if err := parallel(
			func() (err error) { rows, err = r.flows(ctx, f, from, now, now); return },
			func() (err error) { open, err = r.open(ctx, f); return },
			func() (err error) { diverging, err = r.divergences(ctx, f); return },
			func() (err error) { unusual, err = r.abnormal(ctx, f, from, now); return },
		); err != nil {
			return nil, err
		}
		s := figures.Summarize(rows, now)
		in := figures.HealthInputs{
			OnTimeShip: s.OnTimeShip, OnTimeDelivery: s.OnTimeDelivery,
			BacklogAge:  figures.WaitingOver(open, now, r.opts.BacklogSLA),
			Divergences: rateOf(diverging, figures.OpenCount(open)),
			Abnormal:    rateOf(unusual, s.Created),
		}
		return figures.Health(in, r.opts.Goals), nil
	})
	if err != nil {
		return figures.Index{}, from, err
	}
	return v.(figures.Index), from, nil
}

func (r *Reader) cached(key string, f func() (any, error)) (any, error) {
	if r.opts.CacheFor <= 0 {
		return f()
	}
	r.mu.Lock()
	c, ok := r.cache[key]
	r.mu.Unlock()
	if ok && time.Since(c.at) < r.opts.CacheFor {
		return c.v, nil
	}
	v, err := f()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	if len(r.cache) > 1000 { // many scopes and windows: start again
		clear(r.cache)
	}
	r.cache[key] = cached{at: time.Now(), v: v}
	r.mu.Unlock()
	return v, nil
}

// span is a stretch of buckets of one resolution.
type span struct {
	res      int
	from, to time.Time
}

// spans are the buckets that cover [from, to) once: whole hours by the
// hour, the partial hours at the ends by the minute while minute rollups
// exist (before that, the partial hour is read whole). With days (the
// pre-summed scopes have them), whole business days over by now are read
// by the day.
func (r *Reader) spans(from, to, now time.Time, days bool) []span {
	from, to = from.UTC(), to.UTC()
	if !from.Before(to) {
		return nil
	}
	minutesFrom := now.Add(-r.opts.MinuteRetention).Add(time.Minute)
	hFrom := from.Truncate(time.Hour)
	if hFrom.Before(from) {
		hFrom = hFrom.Add(time.Hour)
	}
	hTo := to.Truncate(time.Hour)
	edge := func(lo, hi time.Time) span {
		if !lo.Before(minutesFrom) {
			return span{ResMinute, lo, hi}
		}
		h := lo.Truncate(time.Hour)
		return span{ResHour, h, h.Add(time.Hour)}
	}
	if hFrom.After(hTo) { // within one hour
		return []span{edge(from, to)}
	}
	var out []span
	if from.Before(hFrom) {
		out = append(out, edge(from, hFrom))
	}
	if hFrom.Before(hTo) {
		out = append(out, r.hoursAndDays(hFrom, hTo, now, days)...)
	}
	if hTo.Before(to) {
		out = append(out, edge(hTo, to))
	}
	return out
}

// hoursAndDays covers the whole hours [from, to): the business days within
// it that are over by now by the day (when days), the rest by the hour.
func (r *Reader) hoursAndDays(from, to, now time.Time, days bool) []span {
	all := []span{{ResHour, from, to}}
	loc := r.opts.Settings.Location
	if !days || loc == nil {
		return all
	}
	midnight := func(t time.Time, next bool) time.Time {
		lt := t.In(loc)
		d := time.Date(lt.Year(), lt.Month(), lt.Day(), 0, 0, 0, 0, loc)
		if next && d.Before(t) {
			d = d.AddDate(0, 0, 1)
		}
		return d.UTC()
	}
	d0, d1 := midnight(from, true), midnight(minTime(to, now), false)
	// Days that do not start on the hour (a zone half an hour off) would
	// not line up with the hours around them.
	if !d0.Before(d1) || d0.Truncate(time.Hour) != d0 || d1.Truncate(time.Hour) != d1 {
		return all
	}
	var out []span
	if from.Before(d0) {
		out = append(out, span{ResHour, from, d0})
	}
	out = append(out, span{ResDay, d0, d1})
	if d1.Before(to) {
		out = append(out, span{ResHour, d1, to})
	}
	return out
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// scope is f as SQL conditions on the rollups' (or orders') columns.
type scope struct {
	conds []string
	args  []any
}

func scopeOf(f figures.Filter, cols [4]string) scope {
	var s scope
	for i, vs := range [][]string{f.Channels, f.Shops, f.Warehouses, f.Couriers} {
		if len(vs) > 0 {
			s.conds = append(s.conds, cols[i]+" IN (?)")
			s.args = append(s.args, bun.In(vs))
		}
	}
	return s
}

// rollupScope is f as conditions on the rollup rows and open gauges: the
// pre-summed scopes' when they answer f (presummed), else the orders' own
// (no courier is Summed there).
func rollupScope(f figures.Filter) (s scope, presummed bool) {
	if !f.Presummed() {
		s = scopeOf(f, rollupCols)
		s.conds = append(s.conds, "courier <> ?")
		s.args = append(s.args, figures.Summed)
		return s, false
	}
	for i, vs := range [][]string{f.Channels, f.Shops, f.Warehouses, nil} {
		if len(vs) > 0 {
			s.conds = append(s.conds, rollupCols[i]+" IN (?)")
			s.args = append(s.args, bun.In(vs))
		} else {
			s.conds = append(s.conds, rollupCols[i]+" = ?")
			s.args = append(s.args, figures.Summed)
		}
	}
	return s, true
}

func (s scope) where(prefix string) string {
	if len(s.conds) == 0 {
		return ""
	}
	return prefix + strings.Join(s.conds, " AND ")
}

var (
	rollupCols = [4]string{"channel", "shop", "warehouse", "courier"}
	// The orders' generated shop and warehouse columns: matching them
	// reads no twin document (the courier has no column yet).
	orderCols = [4]string{"o.channel", "coalesce(o.shop, '')",
		"coalesce(o.warehouse, '')", "coalesce(o.twin->'details'->>'courier', '')"}
)

// narrow reports whether f narrows anything but the channel (which every
// table has): then alerts and lookups join the orders to match.
func narrow(f figures.Filter) bool { return len(f.Shops)+len(f.Warehouses)+len(f.Couriers) > 0 }

// flows reads the flow rows that cover [from, to) once.
func (r *Reader) flows(ctx context.Context, f figures.Filter, from, to, now time.Time) ([]figures.Row, error) {
	sc, presummed := rollupScope(f)
	sp := r.spans(from, to, now, presummed)
	if len(sp) == 0 {
		return nil, nil
	}
	// One range of the key per span, glued with UNION ALL: an OR of the
	// spans made PostgreSQL scan the whole table (7.5M rows for a 1M-order
	// history) instead of the ranges.
	stages := bun.In([]string{string(figures.StageIn), string(figures.StageOut)})
	var parts []string
	var args []any
	deadlines := bun.In([]string{string(figures.ShipDue), string(figures.ShipOnTime), string(figures.ShipLate),
		string(figures.DeliveryDue), string(figures.DeliveryOnTime), string(figures.DeliveryLate)})
	args = append(args, deadlines, deadlines, from.UTC())
	for _, s := range sp {
		parts = append(parts, `SELECT res, at, metric, label, n FROM figure_rollups WHERE res = ? AND at >= ? AND at < ? AND metric NOT IN (?)`+sc.where(" AND "))
		args = append(args, s.res, s.from, s.to, stages)
		args = append(args, sc.args...)
	}
	// Summarize needs the bucket only of deadline counts (a deadline in a
	// bucket not over yet is not late yet); the rest it sums over the
	// window, so PostgreSQL sums them too, and a week comes back as a few
	// hundred rows instead of one per scope, hour and label. Stage flows
	// are the hourly series' (hourRows).
	q := `SELECT CASE WHEN metric IN (?) THEN res ELSE 0 END, CASE WHEN metric IN (?) THEN at ELSE ?::timestamptz END AS bucket,
		metric, label, sum(n) FROM (` + strings.Join(parts, " UNION ALL ") + `) x GROUP BY 1, 2, metric, label HAVING sum(n) <> 0`
	return r.rows(ctx, q, args...)
}

// hourRows reads the hour rows from from's hour on (to the newest: the
// backlog series walks back from the present).
func (r *Reader) hourRows(ctx context.Context, f figures.Filter, from time.Time) ([]figures.Row, error) {
	sc, _ := rollupScope(f)
	// The series counts all packing, not per station or packer: those
	// labels are most of the packed rows.
	q := `SELECT res, at, metric, label, sum(n) FROM figure_rollups WHERE res = 60 AND at >= ? AND metric IN (?)
		AND (metric <> 'packed' OR label = '')` + sc.where(" AND ") + ` GROUP BY res, at, metric, label HAVING sum(n) <> 0`
	ms := bun.In([]string{string(figures.Created), string(figures.Paid), string(figures.Outbound), string(figures.Packed),
		string(figures.StageIn), string(figures.StageOut)})
	return r.rows(ctx, q, append([]any{from.UTC().Truncate(time.Hour), ms}, sc.args...)...)
}

func (r *Reader) rows(ctx context.Context, q string, args ...any) ([]figures.Row, error) {
	rs, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("figures: read rollups: %w", err)
	}
	defer rs.Close()
	var out []figures.Row
	for rs.Next() {
		var row figures.Row
		var res int
		if err := rs.Scan(&res, &row.At, &row.Metric, &row.Label, &row.N); err != nil {
			return nil, fmt.Errorf("figures: read rollups: %w", err)
		}
		row.Span = time.Duration(res) * time.Minute
		out = append(out, row)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("figures: read rollups: %w", err)
	}
	return out, nil
}

// open reads the open gauges.
func (r *Reader) open(ctx context.Context, f figures.Filter) ([]figures.OpenRow, error) {
	sc, presummed := rollupScope(f)
	q := `SELECT metric, label, since, sum(n) FROM figure_open` + sc.where(" WHERE ") + ` GROUP BY metric, label, since HAVING sum(n) <> 0`
	if presummed && len(f.Channels) <= 1 && len(f.Shops) <= 1 && len(f.Warehouses) <= 1 {
		// One scope's own rows: one per metric, label and minute already
		// (half the time of grouping 9,000 of them).
		q = `SELECT metric, label, since, n FROM figure_open` + sc.where(" WHERE ") + ` AND n <> 0`
	}
	rs, err := r.db.QueryContext(ctx, q, sc.args...)
	if err != nil {
		return nil, fmt.Errorf("figures: read open counts: %w", err)
	}
	defer rs.Close()
	var out []figures.OpenRow
	for rs.Next() {
		var o figures.OpenRow
		if err := rs.Scan(&o.Metric, &o.Label, &o.Since, &o.N); err != nil {
			return nil, fmt.Errorf("figures: read open counts: %w", err)
		}
		out = append(out, o)
	}
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("figures: read open counts: %w", err)
	}
	return out, nil
}

// openStages are the stages an open order is in (figures.Backlogged).
func openStages() []string {
	var out []string
	for _, s := range twin.Stages {
		if figures.Backlogged(s) {
			out = append(out, string(s))
		}
	}
	return out
}

// divergences: open orders with an open divergence alert, of the open
// orders (the open gauges' count).
func (r *Reader) divergences(ctx context.Context, f figures.Filter) (int64, error) {
	var n int64
	sc := scopeOf(f, orderCols)
	q := `SELECT count(*) FROM (SELECT DISTINCT channel, order_no FROM alerts WHERE state <> 'RESOLVED' AND kind IN (?)) a
		JOIN orders o USING (channel, order_no) WHERE o.stage IN (?)` + sc.where(" AND ")
	args := append([]any{bun.In(figures.DivergenceKinds), bun.In(openStages())}, sc.args...)
	if err := r.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("figures: count divergences: %w", err)
	}
	return n, nil
}

// abnormal: orders created in [from, to) with an open alert or an
// exception tag (figures.Abnormal), of created (the rollups' count).
func (r *Reader) abnormal(ctx context.Context, f figures.Filter, from, to time.Time) (int64, error) {
	var n int64
	var tags []string
	if r.opts.ExceptionTags != nil {
		var err error
		if tags, err = r.opts.ExceptionTags(ctx); err != nil {
			return 0, err
		}
	}
	sc := scopeOf(f, orderCols)
	w := sc.where(" AND ")
	// Alerts carry their order's shop and warehouse: only the open alerts
	// of the filter's orders are joined to them.
	asc := scopeOf(figures.Filter{Shops: f.Shops, Warehouses: f.Warehouses}, [4]string{"", "shop", "warehouse", ""})
	// Tagged orders and orders with open alerts are few, each indexed;
	// their union counts an order once.
	q := `SELECT count(*) FROM (
		SELECT o.id FROM orders o WHERE o.tags <> '{}' AND o.tags && ?::text[] AND o.created_at >= ? AND o.created_at < ?` + w + `
		UNION
		SELECT o.id FROM (SELECT DISTINCT channel, order_no FROM alerts WHERE state <> 'RESOLVED' AND raised_at >= ?` + asc.where(" AND ") + `) a
			JOIN orders o USING (channel, order_no) WHERE o.created_at >= ? AND o.created_at < ?` + w + `
	) x`
	args := []any{pgdialect.Array(tags), from, to}
	args = append(args, sc.args...)
	// An alert is raised on an order that exists: one raised before the
	// window is on an order created before it.
	args = append(args, from)
	args = append(args, asc.args...)
	args = append(args, from, to)
	args = append(args, sc.args...)
	if err := r.db.QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("figures: count abnormal orders: %w", err)
	}
	return n, nil
}

// detection: the detection times (figures.DetectionTime) of the alerts
// raised in [from, to), binned as figures.Bin does (width_bucket counts
// the bounds at or below the value).
func (r *Reader) detection(ctx context.Context, f figures.Filter, from, to time.Time) (figures.Histogram, error) {
	bounds := make([]float64, len(figures.Bounds))
	for i, b := range figures.Bounds {
		bounds[i] = b.Seconds()
	}
	// An alert carries its order's shop and warehouse: only a courier
	// filter needs the orders.
	join, sc := "", scopeOf(f, [4]string{"a.channel", "a.shop", "a.warehouse", orderCols[3]})
	if len(f.Couriers) > 0 {
		join = ` JOIN orders o ON o.channel = a.channel AND o.order_no = a.order_no`
	}
	q := `SELECT width_bucket(extract(epoch FROM greatest(a.raised_at - a.condition_since, interval '0'))::float8, ?::float8[]), count(*)
		FROM alerts a` + join + ` WHERE a.raised_at >= ? AND a.raised_at < ?` + sc.where(" AND ") + ` GROUP BY 1`
	rs, err := r.db.QueryContext(ctx, q, append([]any{pgdialect.Array(bounds), from, to}, sc.args...)...)
	if err != nil {
		return nil, fmt.Errorf("figures: detection times: %w", err)
	}
	defer rs.Close()
	var h figures.Histogram
	for rs.Next() {
		var b int
		var n int64
		if err := rs.Scan(&b, &n); err != nil {
			return nil, fmt.Errorf("figures: detection times: %w", err)
		}
		h.Add(b, n)
	}
	return h, rs.Err()
}

// lookups: repeated customer-service lookups of the orders looked up in
// [from, to).
func (r *Reader) lookups(ctx context.Context, f figures.Filter, from, to time.Time) (figures.Rate, error) {
	join, sc := "", scopeOf(f, [4]string{"l.channel", orderCols[1], orderCols[2], orderCols[3]})
	if narrow(f) {
		join = ` JOIN orders o ON o.channel = l.channel AND o.order_no = l.order_no`
	}
	rs, err := r.db.QueryContext(ctx, `SELECT l.channel, l.order_no, l.at FROM order_lookups l`+join+
		` WHERE l.at >= ? AND l.at < ?`+sc.where(" AND "), append([]any{from.Add(-figures.RepeatWindow), to}, sc.args...)...)
	if err != nil {
		return figures.Rate{}, fmt.Errorf("figures: read lookups: %w", err)
	}
	defer rs.Close()
	var ls []figures.Lookup
	for rs.Next() {
		var l figures.Lookup
		if err := rs.Scan(&l.Order.Channel, &l.Order.OrderNo, &l.At); err != nil {
			return figures.Rate{}, fmt.Errorf("figures: read lookups: %w", err)
		}
		ls = append(ls, l)
	}
	if err := rs.Err(); err != nil {
		return figures.Rate{}, fmt.Errorf("figures: read lookups: %w", err)
	}
	return figures.RepeatedLookups(ls, from, to), nil
}
