package figures

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	"github.com/towerhq/tower/internal/ingest"
)

// Traffic keeps a node's interface traffic (webhooks per source, messages
// per bus handler) in traffic_rollups, a minute and an hour at a time, so
// the IT view reads any time range for the whole cluster. It samples the
// node's metrics registry (what /metrics exposes) and adds what was counted
// since its last flush: the webhook path pays nothing for it, and a flush
// that fails leaves its counts for the next one.
type Traffic struct {
	db     bun.IDB
	gather prometheus.Gatherer
	now    func() time.Time

	mu      sync.Mutex
	flushed counts // cumulative counts already added to the table
}

// TrafficHourRetention is how long the hourly traffic rows are kept; the
// minute rows are kept as long as the figures' (figures.minute_retention).
const TrafficHourRetention = 90 * 24 * time.Hour

// Traffic kinds and metrics, as stored.
const (
	kindConnector = "connector"
	kindHandler   = "handler"

	metricRequests = "requests"
	metricOK       = "ok"
	metricSigFail  = "signature_failures"
	metricLatency  = "latency"
	metricMessages = "messages"
	metricFailures = "failures"
	metricPoisoned = "poisoned"
	metricLag      = "lag"
)

type trafficKey struct {
	kind, name, metric string
	le                 float64 // a histogram bucket's upper bound; 0 for counters
}

type counts map[trafficKey]int64

// NewTraffic samples g into db; now dates the rows (the wall clock: this is
// the interfaces' own record, whatever a simulation's clock says).
func NewTraffic(db bun.IDB, g prometheus.Gatherer, now func() time.Time) *Traffic {
	if now == nil {
		now = time.Now
	}
	return &Traffic{db: db, gather: g, now: now, flushed: counts{}}
}

// Run flushes every interval until ctx ends, and once more then.
func (t *Traffic) Run(ctx context.Context, every time.Duration, onErr func(error)) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			// The last counts of a node shutting down.
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := t.Flush(fctx); err != nil && onErr != nil {
				onErr(err)
			}
			cancel()
			return
		case <-tick.C:
			if err := t.Flush(ctx); err != nil && onErr != nil && ctx.Err() == nil {
				onErr(err)
			}
		}
	}
}

// Flush adds what the registry counted since the last flush to the current
// minute and hour.
func (t *Traffic) Flush(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	cur, err := t.snapshot()
	if err != nil {
		return err
	}
	d := delta(cur, t.flushed)
	if len(d) == 0 {
		return nil
	}
	keys := make([]trafficKey, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	// One order for every node's upserts: no two flushes wait on each other
	// in a cycle.
	slices.SortFunc(keys, compareKeys)
	var kinds, names, ms, les []string
	var ns []int64
	for _, k := range keys {
		kinds, names, ms = append(kinds, k.kind), append(names, k.name), append(ms, k.metric)
		les, ns = append(les, formatLE(k.le)), append(ns, d[k])
	}
	now := t.now().UTC()
	if _, err := t.db.NewRaw(`INSERT INTO traffic_rollups (res, at, kind, name, metric, le, n)
		SELECT r.res, r.at, k.kind, k.name, k.metric, k.le::float8, k.n
		FROM (VALUES (1::smallint, ?::timestamptz), (60::smallint, ?::timestamptz)) AS r(res, at)
		CROSS JOIN unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::bigint[]) AS k(kind, name, metric, le, n)
		ON CONFLICT (res, at, kind, name, metric, le) DO UPDATE SET n = traffic_rollups.n + excluded.n`,
		now.Truncate(time.Minute), now.Truncate(time.Hour),
		pgdialect.Array(kinds), pgdialect.Array(names), pgdialect.Array(ms), pgdialect.Array(les), pgdialect.Array(ns),
	).Exec(ctx); err != nil {
		return fmt.Errorf("figures: flush traffic (%d counts): %w", len(keys), err)
	}
	t.flushed = cur
	return nil
}

// TrafficQuery is a time range [From, To) of traffic, for some sources
// (nil: all); To zero is the present.
type TrafficQuery struct {
	From, To time.Time
	Sources  []string
}

// TrafficPoint is one source's webhooks in one step of a trend.
type TrafficPoint struct {
	At                        time.Time
	Requests, OK, SigFailures int64
}

// TrafficFigures are the connectors and handlers over a range, and each
// connector's trend in steps of Step.
type TrafficFigures struct {
	From, To   time.Time
	Step       time.Duration
	Connectors []Connector
	Handlers   []Handler
	Trends     map[string][]TrafficPoint
}

// trendPoints is the most points a trend has.
const trendPoints = 120

var trendSteps = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour, 24 * time.Hour}

// Read sums the range's rows, this node's counts not flushed yet included
// when the range reaches the present. Ranges over a day read the hourly
// rows, From rounded down to its hour.
func (t *Traffic) Read(ctx context.Context, q TrafficQuery) (TrafficFigures, error) {
	now := t.now().UTC()
	if q.To.IsZero() || q.To.After(now) {
		q.To = now
	}
	res, grain := 1, time.Minute
	if q.To.Sub(q.From) > 24*time.Hour {
		res, grain = 60, time.Hour
	}
	from := q.From.UTC().Truncate(grain)
	step := trendSteps[len(trendSteps)-1]
	for _, s := range trendSteps {
		if s >= grain && q.To.Sub(from) <= s*trendPoints {
			step = s
			break
		}
	}
	out := TrafficFigures{From: from, To: q.To, Step: step, Trends: map[string][]TrafficPoint{}}
	if !q.To.After(from) {
		return out, nil
	}
	var wanted map[string]bool
	if q.Sources != nil {
		wanted = map[string]bool{}
		for _, s := range q.Sources {
			wanted[s] = true
		}
	}
	keep := func(k trafficKey) bool { return k.kind != kindConnector || wanted == nil || wanted[k.name] }

	// Held across the reads: a flush in between would count its rows twice.
	t.mu.Lock()
	defer t.mu.Unlock()
	var rows []struct {
		Kind, Name, Metric string
		LE                 float64 `bun:"le"`
		N                  int64
	}
	if err := t.db.NewRaw(`SELECT kind, name, metric, le, sum(n)::bigint AS n FROM traffic_rollups
		WHERE res = ? AND at >= ? AND at < ? GROUP BY kind, name, metric, le`, res, from, q.To).Scan(ctx, &rows); err != nil {
		return out, fmt.Errorf("figures: read traffic: %w", err)
	}
	total := counts{}
	for _, r := range rows {
		total[trafficKey{r.Kind, r.Name, r.Metric, r.LE}] += r.N
	}
	var trend []struct {
		At           time.Time
		Name, Metric string
		N            int64
	}
	if err := t.db.NewRaw(`SELECT date_bin(?::interval, at, ?::timestamptz) AS at, name, metric, sum(n)::bigint AS n FROM traffic_rollups
		WHERE res = ? AND kind = ? AND metric IN (?, ?, ?) AND at >= ? AND at < ? GROUP BY 1, 2, 3 ORDER BY 1`,
		step.String(), from, res, kindConnector, metricRequests, metricOK, metricSigFail, from, q.To).Scan(ctx, &trend); err != nil {
		return out, fmt.Errorf("figures: read traffic trend: %w", err)
	}
	points := map[string]map[time.Time]*TrafficPoint{}
	point := func(name string, at time.Time) *TrafficPoint {
		if points[name] == nil {
			points[name] = map[time.Time]*TrafficPoint{}
		}
		if points[name][at] == nil {
			points[name][at] = &TrafficPoint{At: at}
		}
		return points[name][at]
	}
	addPoint := func(name, metric string, at time.Time, n int64) {
		if wanted != nil && !wanted[name] {
			return
		}
		p := point(name, at)
		switch metric {
		case metricRequests:
			p.Requests += n
		case metricOK:
			p.OK += n
		case metricSigFail:
			p.SigFailures += n
		}
	}
	for _, r := range trend {
		addPoint(r.Name, r.Metric, r.At.UTC(), r.N)
	}
	if !q.To.Before(now) {
		cur, err := t.snapshot()
		if err != nil {
			return out, err
		}
		bin := from.Add(now.Sub(from) / step * step)
		for k, n := range delta(cur, t.flushed) {
			total[k] += n
			if k.kind == kindConnector {
				addPoint(k.name, k.metric, bin, n)
			}
		}
	}
	out.Connectors, out.Handlers = fold(total, keep)
	for name, byAt := range points {
		ps := make([]TrafficPoint, 0, len(byAt))
		for _, p := range byAt {
			ps = append(ps, *p)
		}
		slices.SortFunc(ps, func(a, b TrafficPoint) int { return a.At.Compare(b.At) })
		out.Trends[name] = ps
	}
	return out, nil
}

// fold turns counts into connectors and handlers, each sorted by name.
func fold(c counts, keep func(trafficKey) bool) ([]Connector, []Handler) {
	conns, hs := map[string]*Connector{}, map[string]*Handler{}
	lat, lag := map[string][]bucket{}, map[string][]bucket{}
	for k, n := range c {
		if !keep(k) || n == 0 {
			continue
		}
		switch k.kind {
		case kindConnector:
			if conns[k.name] == nil {
				conns[k.name] = &Connector{Source: k.name}
			}
			x := conns[k.name]
			switch k.metric {
			case metricRequests:
				x.Requests += n
			case metricOK:
				x.OK += n
			case metricSigFail:
				x.SignatureFailures += n
			case metricLatency:
				lat[k.name] = append(lat[k.name], bucket{k.le, n})
			}
		case kindHandler:
			if hs[k.name] == nil {
				hs[k.name] = &Handler{Handler: k.name}
			}
			x := hs[k.name]
			switch k.metric {
			case metricMessages:
				x.Messages += n
			case metricFailures:
				x.Failures += n
			case metricPoisoned:
				x.Poisoned += n
			case metricLag:
				lag[k.name] = append(lag[k.name], bucket{k.le, n})
			}
		}
	}
	outC := make([]Connector, 0, len(conns))
	for name, x := range conns {
		x.LatencyP50, x.LatencyKnown = bucketQuantile(lat[name], 0.5)
		x.LatencyP90, _ = bucketQuantile(lat[name], 0.9)
		outC = append(outC, *x)
	}
	slices.SortFunc(outC, func(a, b Connector) int { return cmp.Compare(a.Source, b.Source) })
	outH := make([]Handler, 0, len(hs))
	for name, x := range hs {
		x.LagP50, x.LagKnown = bucketQuantile(lag[name], 0.5)
		x.LagP90, _ = bucketQuantile(lag[name], 0.9)
		outH = append(outH, *x)
	}
	slices.SortFunc(outH, func(a, b Handler) int { return cmp.Compare(a.Handler, b.Handler) })
	return outC, outH
}

// bucket is one histogram bucket: its upper bound and its own count.
type bucket struct {
	le float64
	n  int64
}

// bucketQuantile estimates the q-quantile the way histogram_quantile does:
// linear within the bucket that holds it, the highest finite bound when it
// falls in the last.
func bucketQuantile(bs []bucket, q float64) (float64, bool) {
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	var total int64
	for _, b := range bs {
		total += b.n
	}
	if total == 0 {
		return 0, false
	}
	rank := q * float64(total)
	var prevBound, cum float64
	for _, b := range bs {
		next := cum + float64(b.n)
		if next >= rank {
			if math.IsInf(b.le, 1) {
				return prevBound, true
			}
			if b.n == 0 {
				return b.le, true
			}
			return prevBound + (b.le-prevBound)*(rank-cum)/float64(b.n), true
		}
		prevBound, cum = b.le, next
	}
	return prevBound, true
}

// snapshot reads the registry's cumulative counts: webhooks per source
// (answered, 200, refused for the signature, latency buckets) and work per
// handler (handled, failed, parked, lag buckets).
func (t *Traffic) snapshot() (counts, error) {
	by, err := gatherByName(t.gather)
	if err != nil {
		return nil, err
	}
	c := counts{}
	for _, m := range metrics(by, "tower_webhooks_total") {
		src := label(m, "source")
		if src == "unknown" {
			continue // no such source: not a connector
		}
		n := int64(m.GetCounter().GetValue())
		c[trafficKey{kindConnector, src, metricRequests, 0}] += n
		if label(m, "status") == "200" {
			c[trafficKey{kindConnector, src, metricOK, 0}] += n
		}
		if label(m, "outcome") == ingest.OutcomeBadSignature {
			c[trafficKey{kindConnector, src, metricSigFail, 0}] += n
		}
	}
	histogram(c, metrics(by, "tower_webhook_seconds"), kindConnector, "source", metricLatency)
	for name, metric := range map[string]string{
		"tower_handler_messages_total": metricMessages,
		"tower_handler_failures_total": metricFailures,
		"tower_handler_poisoned_total": metricPoisoned,
	} {
		for _, m := range metrics(by, name) {
			c[trafficKey{kindHandler, label(m, "handler"), metric, 0}] += int64(m.GetCounter().GetValue())
		}
	}
	histogram(c, metrics(by, "tower_handler_lag_seconds"), kindHandler, "handler", metricLag)
	return c, nil
}

// histogram adds each bucket's own count (Prometheus keeps them cumulative).
func histogram(c counts, ms []*dto.Metric, kind, nameLabel, metric string) {
	for _, m := range ms {
		h, name := m.GetHistogram(), label(m, nameLabel)
		var prev uint64
		for _, b := range h.GetBucket() {
			if !math.IsInf(b.GetUpperBound(), 1) {
				c[trafficKey{kind, name, metric, b.GetUpperBound()}] += int64(b.GetCumulativeCount() - prev)
				prev = b.GetCumulativeCount()
			}
		}
		c[trafficKey{kind, name, metric, math.Inf(1)}] += int64(h.GetSampleCount() - prev)
	}
}

func delta(cur, flushed counts) counts {
	d := counts{}
	for k, n := range cur {
		if v := n - flushed[k]; v > 0 {
			d[k] = v
		}
	}
	return d
}

func compareKeys(a, b trafficKey) int {
	for _, c := range []int{cmp.Compare(a.kind, b.kind), cmp.Compare(a.name, b.name), cmp.Compare(a.metric, b.metric), cmp.Compare(a.le, b.le)} {
		if c != 0 {
			return c
		}
	}
	return 0
}

func formatLE(le float64) string {
	if math.IsInf(le, 1) {
		return "Infinity"
	}
	return strconv.FormatFloat(le, 'g', -1, 64)
}
