package figures_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/figures"
	"github.com/towerhq/tower/internal/metrics"
	"github.com/towerhq/tower/migrations"
)

// node is one server's registry and its traffic recorder on a clock the
// test moves.
type node struct {
	m   *metrics.Metrics
	t   *figures.Traffic
	now *time.Time
}

func newNode(now *time.Time) node {
	m := metrics.New()
	return node{m: m, t: figures.NewTraffic(testDB, m.Registry, func() time.Time { return *now }), now: now}
}

func flush(t *testing.T, n node) {
	t.Helper()
	if err := n.t.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func connector(t *testing.T, tf figures.TrafficFigures, source string) figures.Connector {
	t.Helper()
	for _, c := range tf.Connectors {
		if c.Source == source {
			return c
		}
	}
	return figures.Connector{Source: source}
}

// The IT view's traffic: what every node counted, per minute, summed over
// the range asked for, whichever node reads it; this node's counts not yet
// flushed included when the range reaches the present.
func TestTraffic(t *testing.T) {
	ctx := context.Background()
	if err := migrations.Migrate(ctx, testDB, quiet); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf("erp-%d", time.Now().UnixNano()%1e9)
	clock := t0
	a, b := newNode(&clock), newNode(&clock)

	a.m.Webhooks.WithLabelValues(src, "accepted", "200").Add(8)
	a.m.Webhooks.WithLabelValues(src, "duplicate", "200").Add(1)
	a.m.Webhooks.WithLabelValues(src, "bad_signature", "401").Add(3)
	a.m.Webhooks.WithLabelValues("unknown", "unknown_source", "404").Add(5)
	for range 10 {
		a.m.WebhookSeconds.WithLabelValues(src).Observe(0.003)
	}
	a.m.HandlerMessages.WithLabelValues(src + "-h").Add(40)
	a.m.HandlerFailures.WithLabelValues(src + "-h").Add(2)
	a.m.HandlerLag.WithLabelValues(src + "-h").Observe(0.02)
	flush(t, a)
	flush(t, a) // nothing new: adds nothing

	clock = t0.Add(3*time.Minute + 20*time.Second)
	b.m.Webhooks.WithLabelValues(src, "accepted", "200").Add(4)
	for range 4 {
		b.m.WebhookSeconds.WithLabelValues(src).Observe(0.5)
	}
	// A flush that fails keeps its counts for the next one.
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.t.Flush(cancelled); err == nil {
		t.Fatal("a flush on a cancelled context succeeded")
	}
	flush(t, b)

	clock = t0.Add(9 * time.Minute)
	a.m.Webhooks.WithLabelValues(src, "bad_signature", "401").Add(2) // not flushed

	read := func(n node, from, to time.Time, sources []string) figures.TrafficFigures {
		t.Helper()
		tf, err := n.t.Read(ctx, figures.TrafficQuery{From: from, To: to, Sources: sources})
		if err != nil {
			t.Fatal(err)
		}
		return tf
	}
	tests := []struct {
		name                 string
		by                   node
		from, to             time.Time
		sources              []string
		requests, ok, sigs   int64
		p50min, p50max       float64
		messages, trendTotal int64
	}{
		{"both nodes, a's pending counts", a, t0, time.Time{}, nil, 18, 13, 5, 0.002, 0.004, 40, 18},
		{"both nodes, read by b", b, t0, time.Time{}, nil, 16, 13, 3, 0.002, 0.004, 40, 16},
		{"a closed range leaves pending counts out", a, t0, t0.Add(5 * time.Minute), nil, 16, 13, 3, 0.002, 0.004, 40, 16},
		{"from minute 2: b's only", a, t0.Add(2 * time.Minute), t0.Add(5 * time.Minute), nil, 4, 4, 0, 0.25, 0.5, 0, 4},
		{"another source", a, t0, time.Time{}, []string{"other"}, 0, 0, 0, 0, 0, 40, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tf := read(tc.by, tc.from, tc.to, tc.sources)
			c := connector(t, tf, src)
			if c.Requests != tc.requests || c.OK != tc.ok || c.SignatureFailures != tc.sigs {
				t.Errorf("requests %d ok %d signature failures %d, want %d %d %d", c.Requests, c.OK, c.SignatureFailures, tc.requests, tc.ok, tc.sigs)
			}
			if tc.requests > 0 && (!c.LatencyKnown || c.LatencyP50 < tc.p50min || c.LatencyP50 > tc.p50max) {
				t.Errorf("latency p50 %v (known %v), want in [%v, %v]", c.LatencyP50, c.LatencyKnown, tc.p50min, tc.p50max)
			}
			var messages int64
			for _, h := range tf.Handlers {
				if h.Handler == src+"-h" {
					messages = h.Messages
				}
			}
			if messages != tc.messages {
				t.Errorf("handler messages %d, want %d", messages, tc.messages)
			}
			var trend int64
			for _, p := range tf.Trends[src] {
				trend += p.Requests
			}
			if trend != tc.trendTotal {
				t.Errorf("trend adds up to %d requests, want %d (%+v)", trend, tc.trendTotal, tf.Trends[src])
			}
		})
	}

	// A ten-minute range: a point per minute, b's in minute 3.
	tf := read(a, t0, t0.Add(10*time.Minute), nil)
	if tf.Step != time.Minute {
		t.Errorf("step %v over ten minutes", tf.Step)
	}
	var at3 int64
	for _, p := range tf.Trends[src] {
		if p.At.Equal(t0.Add(3 * time.Minute)) {
			at3 = p.Requests
		}
	}
	if at3 != 4 {
		t.Errorf("minute 3 holds %d requests, want 4: %+v", at3, tf.Trends[src])
	}
	// Two days: the hourly rows, steps of at least an hour.
	clock = t0.Add(48 * time.Hour)
	tf = read(a, t0.Add(-time.Minute), time.Time{}, nil)
	if c := connector(t, tf, src); c.Requests != 18 || tf.Step < time.Hour {
		t.Errorf("over two days: %d requests, step %v; want 18, ≥ 1h", c.Requests, tf.Step)
	}
}

// ReadSystem adds the bus backlog: per topic and group the unread messages
// and the topic's parked ones.
func TestReadSystemTopics(t *testing.T) {
	clock := t0
	n := newNode(&clock)
	n.m.PoisonParked.WithLabelValues("order_events_v1").Set(1)
	sys, err := figures.ReadSystem(context.Background(), figures.SystemOptions{
		Traffic: n.t, Gatherer: n.m.Registry,
		Groups: map[string][]string{"order_events_v1": {"twin-projection"}},
		Unread: func(context.Context, string, string) (int64, error) { return 7, nil },
	}, figures.TrafficQuery{From: t0.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(sys.Topics) != 1 || sys.Topics[0] != (figures.Topic{Topic: "order_events_v1", Group: "twin-projection", Unread: 7, Parked: 1}) {
		t.Errorf("topics %+v", sys.Topics)
	}
}
