package figures

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/towerhq/tower/internal/ingest"
)

// The IT view's figures come from this node's Prometheus registry (what
// /metrics exposes): counts since the node started, latencies from the
// histograms' buckets. A cluster's totals are Prometheus's to add up.

// Connector is one ingest source's traffic as this node saw it.
type Connector struct {
	Source string
	// Requests answered; OK those answered 2xx (accepted or duplicates);
	// SignatureFailures those refused for their signature.
	Requests, OK, SignatureFailures int64
	// LatencyP50 and P90 (seconds) from arrival to answer; ok false
	// without requests.
	LatencyP50, LatencyP90 float64
	LatencyKnown           bool
}

// Handler is one bus handler's work on this node.
type Handler struct {
	Handler                      string
	Messages, Failures, Poisoned int64
	// LagP50 and P90 (seconds) from publish to handled.
	LagP50, LagP90 float64
	LagKnown       bool
}

// Topic is one consumer group's unread messages and the topic's parked ones.
type Topic struct {
	Topic, Group   string
	Unread, Parked int64
}

// System are the IT figures.
type System struct {
	Connectors []Connector
	Handlers   []Handler
	Topics     []Topic
}

// SystemOptions say where the IT figures come from.
type SystemOptions struct {
	Gatherer prometheus.Gatherer
	// Groups are the durable consumer groups per topic; Unread counts what
	// one has not read.
	Groups map[string][]string
	Unread func(ctx context.Context, topic, group string) (int64, error)
}

// ReadSystem reads the IT figures.
func ReadSystem(ctx context.Context, o SystemOptions) (System, error) {
	var sys System
	mfs, err := o.Gatherer.Gather()
	if err != nil {
		return sys, fmt.Errorf("figures: gather metrics: %w", err)
	}
	by := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		by[mf.GetName()] = mf
	}
	conns := map[string]*Connector{}
	conn := func(s string) *Connector {
		if conns[s] == nil {
			conns[s] = &Connector{Source: s}
		}
		return conns[s]
	}
	for _, m := range metrics(by, "tower_webhooks_total") {
		src := label(m, "source")
		if src == "unknown" {
			continue // no such source: not a connector
		}
		c, n := conn(src), int64(m.GetCounter().GetValue())
		c.Requests += n
		if label(m, "status") == "200" {
			c.OK += n
		}
		if label(m, "outcome") == ingest.OutcomeBadSignature {
			c.SignatureFailures += n
		}
	}
	for _, m := range metrics(by, "tower_webhook_seconds") {
		c := conn(label(m, "source"))
		c.LatencyP50, c.LatencyKnown = quantile(m.GetHistogram(), 0.5)
		c.LatencyP90, _ = quantile(m.GetHistogram(), 0.9)
	}
	hs := map[string]*Handler{}
	handler := func(name string) *Handler {
		if hs[name] == nil {
			hs[name] = &Handler{Handler: name}
		}
		return hs[name]
	}
	for name, add := range map[string]func(*Handler, int64){
		"tower_handler_messages_total": func(h *Handler, n int64) { h.Messages += n },
		"tower_handler_failures_total": func(h *Handler, n int64) { h.Failures += n },
		"tower_handler_poisoned_total": func(h *Handler, n int64) { h.Poisoned += n },
	} {
		for _, m := range metrics(by, name) {
			add(handler(label(m, "handler")), int64(m.GetCounter().GetValue()))
		}
	}
	for _, m := range metrics(by, "tower_handler_lag_seconds") {
		h := handler(label(m, "handler"))
		h.LagP50, h.LagKnown = quantile(m.GetHistogram(), 0.5)
		h.LagP90, _ = quantile(m.GetHistogram(), 0.9)
	}
	parked := map[string]int64{}
	for _, m := range metrics(by, "tower_poison_parked_messages") {
		parked[label(m, "topic")] = int64(m.GetGauge().GetValue())
	}
	for _, c := range conns {
		sys.Connectors = append(sys.Connectors, *c)
	}
	slices.SortFunc(sys.Connectors, func(a, b Connector) int { return cmpString(a.Source, b.Source) })
	for _, h := range hs {
		sys.Handlers = append(sys.Handlers, *h)
	}
	slices.SortFunc(sys.Handlers, func(a, b Handler) int { return cmpString(a.Handler, b.Handler) })
	topics := make([]string, 0, len(o.Groups))
	for t := range o.Groups {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	for _, t := range topics {
		for _, g := range o.Groups[t] {
			tp := Topic{Topic: t, Group: g, Parked: parked[t]}
			if o.Unread != nil {
				if tp.Unread, err = o.Unread(ctx, t, g); err != nil {
					return sys, err
				}
			}
			sys.Topics = append(sys.Topics, tp)
		}
	}
	return sys, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func metrics(by map[string]*dto.MetricFamily, name string) []*dto.Metric {
	if mf := by[name]; mf != nil {
		return mf.GetMetric()
	}
	return nil
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// quantile estimates the q-quantile of a Prometheus histogram the way
// histogram_quantile does: linear within the bucket that holds it, the
// highest finite bound when it falls in +Inf.
func quantile(h *dto.Histogram, q float64) (float64, bool) {
	total := float64(h.GetSampleCount())
	if h == nil || total == 0 {
		return 0, false
	}
	rank := q * total
	var prevBound, prevCount float64
	for _, b := range h.GetBucket() {
		ub, cum := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if cum >= rank {
			if math.IsInf(ub, 1) {
				return prevBound, true
			}
			if cum == prevCount {
				return ub, true
			}
			return prevBound + (ub-prevBound)*(rank-prevCount)/(cum-prevCount), true
		}
		prevBound, prevCount = ub, cum
	}
	return prevBound, true
}
