package figures

import (
	"context"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The IT view's figures: each connector's and handler's traffic over a time
// range for the whole cluster (Traffic), the bus backlog and parked
// messages as they are now.

// Connector is one ingest source's traffic.
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

// Handler is one bus handler's work.
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
	TrafficFigures
	Topics []Topic
}

// SystemOptions say where the IT figures come from.
type SystemOptions struct {
	Traffic  *Traffic
	Gatherer prometheus.Gatherer
	// Groups are the durable consumer groups per topic; Unread counts what
	// one has not read.
	Groups map[string][]string
	Unread func(ctx context.Context, topic, group string) (int64, error)
}

// ReadSystem reads the IT figures of q's range.
func ReadSystem(ctx context.Context, o SystemOptions, q TrafficQuery) (System, error) {
	var sys System
	tf, err := o.Traffic.Read(ctx, q)
	if err != nil {
		return sys, err
	}
	sys.TrafficFigures = tf
	by, err := gatherByName(o.Gatherer)
	if err != nil {
		return sys, err
	}
	parked := map[string]int64{}
	for _, m := range metrics(by, "tower_poison_parked_messages") {
		parked[label(m, "topic")] = int64(m.GetGauge().GetValue())
	}
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

// gatherByName reads g's metric families by name.
func gatherByName(g prometheus.Gatherer) (map[string]*dto.MetricFamily, error) {
	mfs, err := g.Gather()
	if err != nil {
		return nil, fmt.Errorf("figures: gather metrics: %w", err)
	}
	by := make(map[string]*dto.MetricFamily, len(mfs))
	for _, mf := range mfs {
		by[mf.GetName()] = mf
	}
	return by, nil
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
