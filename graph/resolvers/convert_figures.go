package resolvers

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/towerhq/tower/domain/figures"
	"github.com/towerhq/tower/domain/twin"
	"github.com/towerhq/tower/graph/model"
	ifigures "github.com/towerhq/tower/internal/figures"
)

// maxThroughput bounds each of the station and packer lists.
const maxThroughput = 100

// figureFilter counts within the caller's scope, narrowed by the
// arguments: a channel or warehouse outside the scope is refused.
func figureFilter(ctx context.Context, channel, shop, warehouse, courier *string) (figures.Filter, error) {
	one := func(s *string) []string {
		if s == nil || strings.TrimSpace(*s) == "" {
			return nil
		}
		return []string{strings.TrimSpace(*s)}
	}
	sc := caller(ctx).Scopes
	narrow := func(kind string, asked, allowed []string) ([]string, error) {
		switch {
		case len(allowed) == 0:
			return asked, nil
		case len(asked) == 0:
			return allowed, nil
		case slices.Contains(allowed, asked[0]):
			return asked, nil
		}
		return nil, &codedError{code: CodeForbidden, msg: kind + " " + asked[0] + " is outside your scope"}
	}
	chs, err := narrow("channel", one(channel), sc.Channels)
	if err != nil {
		return figures.Filter{}, err
	}
	whs, err := narrow("warehouse", one(warehouse), sc.Warehouses)
	if err != nil {
		return figures.Filter{}, err
	}
	return figures.Filter{Channels: chs, Shops: one(shop), Warehouses: whs, Couriers: one(courier)}, nil
}

func healthOf(idx figures.Index, from, at time.Time) *model.Health {
	h := &model.Health{Index: idx.Value, At: at, From: from, Components: make([]*model.HealthComponent, 0, len(idx.Components))}
	for _, c := range idx.Components {
		target := c.Target
		h.Components = append(h.Components, &model.HealthComponent{
			Name: c.Name, Value: c.Value, Weight: c.Weight, Target: &target, Zero: c.Zero, Score: c.Score, Measured: c.Known,
		})
	}
	return h
}

func rateOf(r figures.Rate) *model.Rate {
	out := &model.Rate{Count: int(r.Num), Of: int(r.Den)}
	if v, ok := r.Value(); ok {
		out.Value = &v
	}
	return out
}

func durationsOf(h figures.Histogram) *model.Durations {
	d := &model.Durations{Count: int(h.Count())}
	if p, ok := h.Quantile(0.5); ok {
		s := p.Seconds()
		d.P50 = &s
	}
	if p, ok := h.Quantile(0.9); ok {
		s := p.Seconds()
		d.P90 = &s
	}
	return d
}

func figuresOf(w ifigures.Window, tz string) *model.Figures {
	f := &model.Figures{
		From: w.From, To: w.To, At: w.At, TimeZone: tz,
		Orders: int(w.Created), Inflow: int(w.Paid), Outbound: int(w.Outbound), Delivered: int(w.Delivered), Packed: int(w.Packed),
		OnTimeShip: rateOf(w.OnTimeShip), OnTimeDelivery: rateOf(w.OnTimeDelivery), SameDayShipping: rateOf(w.SameDay),
		Abnormal: rateOf(w.Abnormal), RepeatedLookups: rateOf(w.RepeatedLookups),
		PaidToWms: durationsOf(w.PaidToWMS), PaidToOutbound: durationsOf(w.PaidToOutbound),
		OutboundToCollected: durationsOf(w.OutboundToCollected), PaidToFirstCourierUpdate: durationsOf(w.PaidToFirstCourier),
		DetectionTime: durationsOf(w.DetectionTime),
		Waiting:       rateOf(w.Waiting), OpenDivergences: rateOf(w.Divergences),
		Backlog:    make([]*model.StageBacklog, 0, len(w.Backlog)),
		Throughput: []*model.Throughput{},
		Hours:      make([]*model.FigureHour, 0, len(w.Hours)),
	}
	for _, b := range w.Backlog {
		f.Backlog = append(f.Backlog, &model.StageBacklog{
			Stage: model.Stage(b.Stage), Count: int(b.Count), OldestSince: b.Oldest,
			AgeP50: b.AgeP50.Seconds(), AgeP90: b.AgeP90.Seconds(),
		})
	}
	// Packed per hour over the part of the window that has passed.
	end := w.To
	if w.At.Before(end) {
		end = w.At
	}
	hours := max(end.Sub(w.From).Hours(), 1.0/60)
	for _, by := range []struct {
		name string
		m    map[string]int64
	}{{"station", w.Stations}, {"packer", w.Packers}} {
		var ts []*model.Throughput
		for id, n := range by.m {
			if n > 0 {
				ts = append(ts, &model.Throughput{By: by.name, ID: id, Packed: int(n), PerHour: float64(n) / hours})
			}
		}
		slices.SortFunc(ts, func(a, b *model.Throughput) int {
			return cmp.Or(cmp.Compare(b.Packed, a.Packed), cmp.Compare(a.ID, b.ID))
		})
		f.Throughput = append(f.Throughput, ts[:min(len(ts), maxThroughput)]...)
	}
	for _, h := range w.Hours {
		fh := &model.FigureHour{At: h.At, Orders: int(h.Created), Inflow: int(h.Paid), Outbound: int(h.Outbound), Packed: int(h.Packed),
			Backlog: []*model.StageCount{}}
		for _, s := range twin.Stages {
			if n := h.Backlog[s]; n != 0 {
				fh.Backlog = append(fh.Backlog, &model.StageCount{Stage: model.Stage(s), Count: int(n)})
			}
		}
		f.Hours = append(f.Hours, fh)
	}
	return f
}

// maxTrafficRange is how far back the IT figures reach: the hourly traffic
// rows' retention.
const maxTrafficRange = ifigures.TrafficHourRetention

// SystemFigures are the IT figures of a range and channel (the
// systemFigures field, the IT view's export).
func (r *Resolver) SystemFigures(ctx context.Context, from, to *time.Time, channel *string) (*model.SystemFigures, error) {
	q, err := r.trafficQuery(from, to, channel)
	if err != nil {
		return nil, err
	}
	s, err := ifigures.ReadSystem(ctx, r.System, q)
	if err != nil {
		return nil, err
	}
	return r.systemOf(s, time.Now()), nil
}

// trafficQuery is the range and sources the IT figures were asked for:
// wall-clock time, as the traffic is recorded.
func (r *Resolver) trafficQuery(from, to *time.Time, channel *string) (ifigures.TrafficQuery, error) {
	var q ifigures.TrafficQuery
	// To stays zero, the present, unless the range ends before it: then
	// this node's counts not flushed yet belong in it.
	end := time.Now()
	if to != nil && to.Before(end) {
		q.To, end = *to, *to
	}
	q.From = end.Add(-time.Hour)
	if from != nil {
		q.From = *from
	}
	if !q.From.Before(end) {
		return q, badInput("to", "to must be after from")
	}
	if end.Sub(q.From) > maxTrafficRange {
		return q, badInput("from", "the IT figures reach back 90 days at most")
	}
	if channel != nil && *channel != "" {
		q.Sources = []string{}
		for _, s := range r.Sources {
			if s.Channel == *channel || s.Channel == "" {
				q.Sources = append(q.Sources, s.Name)
			}
		}
	}
	return q, nil
}

func (r *Resolver) systemOf(s ifigures.System, at time.Time) *model.SystemFigures {
	out := &model.SystemFigures{At: at, From: s.From, To: s.To, StepSeconds: int(s.Step / time.Second),
		Connectors: []*model.ConnectorFigures{}, Handlers: []*model.HandlerFigures{}, Topics: []*model.TopicBacklog{}}
	opt := func(v float64, ok bool) *float64 {
		if !ok {
			return nil
		}
		return &v
	}
	str := func(s string) *string {
		if s == "" {
			return nil
		}
		return &s
	}
	minutes := max(s.To.Sub(s.From).Minutes(), 1)
	for _, c := range s.Connectors {
		cf := &model.ConnectorFigures{Source: c.Source, Requests: int(c.Requests), Succeeded: int(c.OK), SignatureFailures: int(c.SignatureFailures),
			LatencyP50: opt(c.LatencyP50, c.LatencyKnown), LatencyP90: opt(c.LatencyP90, c.LatencyKnown),
			RatePerMinute: float64(c.Requests) / minutes, Trend: []*model.TrafficPoint{}}
		for _, src := range r.Sources {
			if src.Name == c.Source {
				cf.Type, cf.Channel = str(src.Type), str(src.Channel)
			}
		}
		if c.Requests > 0 {
			r := float64(c.OK) / float64(c.Requests)
			cf.SuccessRate = &r
		}
		for _, p := range s.Trends[c.Source] {
			cf.Trend = append(cf.Trend, &model.TrafficPoint{At: p.At, Requests: int(p.Requests), Succeeded: int(p.OK), SignatureFailures: int(p.SigFailures)})
		}
		out.Connectors = append(out.Connectors, cf)
	}
	for _, h := range s.Handlers {
		out.Handlers = append(out.Handlers, &model.HandlerFigures{Handler: h.Handler, Messages: int(h.Messages), Failures: int(h.Failures),
			Poisoned: int(h.Poisoned), LagP50: opt(h.LagP50, h.LagKnown), LagP90: opt(h.LagP90, h.LagKnown)})
	}
	for _, t := range s.Topics {
		out.Topics = append(out.Topics, &model.TopicBacklog{Topic: t.Topic, Group: t.Group, Unread: int(t.Unread), Parked: int(t.Parked)})
	}
	return out
}

// figureRefresh: a figures subscription recomputes at least this often,
// changes or not, since passing deadlines change the figures too.
const figureRefresh = 30 * time.Second

// pushFigures streams compute's result: at once, then after every change
// the hub reports (at most one per interval), and every figureRefresh.
// A failed recomputation skips that push (and is logged); the stream
// goes on.
func pushFigures[T any](ctx context.Context, r *Resolver, field string, compute func(now time.Time) (T, error)) (<-chan T, error) {
	first, err := compute(r.Now())
	if err != nil {
		return nil, err
	}
	mb := r.Hub.SubscribeChanges(ctx)
	out := make(chan T, 1)
	out <- first
	r.Metrics.Subscriptions.WithLabelValues(field).Inc()
	go func() {
		defer close(out)
		defer r.Metrics.Subscriptions.WithLabelValues(field).Dec()
		tick := time.NewTicker(figureRefresh)
		defer tick.Stop()
		last := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-mb.Ready():
			case <-tick.C:
			}
			if wait := r.FigurePushInterval - time.Since(last); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
			_, _, replaced := mb.Take()
			if replaced > 0 {
				r.Metrics.SubscriptionDrops.WithLabelValues(field).Add(float64(replaced))
			}
			v, err := compute(r.Now())
			last = time.Now()
			if err != nil {
				if ctx.Err() == nil && r.Log != nil {
					r.Log.Warn("figures push skipped", "field", field, "err", err)
				}
				continue
			}
			select {
			case out <- v:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// maxLookup is the most orders one lookup returns.
const maxLookup = 100

// checkWindow refuses a window that is empty or longer than the figures
// read (their hourly series is priced by it).
func checkWindow(from, to time.Time) error {
	if !from.Before(to) {
		return badInput("to", "to must be after from")
	}
	if to.Sub(from) > ifigures.MaxWindow {
		return badInput("to", "a window of figures is at most 7 days")
	}
	return nil
}
