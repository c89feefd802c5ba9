package figures_test

import (
	"context"
	"testing"

	"github.com/towerhq/tower/internal/figures"
	"github.com/towerhq/tower/internal/metrics"
)

// The IT figures read this node's registry: per source requests, successes,
// signature failures and latency; per handler work and lag; per topic and
// group the unread and parked messages.
func TestReadSystem(t *testing.T) {
	m := metrics.New()
	m.Webhooks.WithLabelValues("erp", "accepted", "200").Add(8)
	m.Webhooks.WithLabelValues("erp", "duplicate", "200").Add(1)
	m.Webhooks.WithLabelValues("erp", "bad_signature", "401").Add(3)
	m.Webhooks.WithLabelValues("unknown", "unknown_source", "404").Add(5)
	for range 10 {
		m.WebhookSeconds.WithLabelValues("erp").Observe(0.003)
	}
	m.HandlerMessages.WithLabelValues("twin_projection").Add(40)
	m.HandlerFailures.WithLabelValues("twin_projection").Add(2)
	m.HandlerLag.WithLabelValues("twin_projection").Observe(0.02)
	m.PoisonParked.WithLabelValues("order_events_v1").Set(1)
	sys, err := figures.ReadSystem(context.Background(), figures.SystemOptions{
		Gatherer: m.Registry,
		Groups:   map[string][]string{"order_events_v1": {"twin-projection"}},
		Unread:   func(context.Context, string, string) (int64, error) { return 7, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(sys.Connectors) != 1 {
		t.Fatalf("connectors %+v", sys.Connectors)
	}
	c := sys.Connectors[0]
	if c.Source != "erp" || c.Requests != 12 || c.OK != 9 || c.SignatureFailures != 3 || !c.LatencyKnown || c.LatencyP50 < 0.002 || c.LatencyP50 > 0.004 {
		t.Errorf("connector %+v", c)
	}
	if len(sys.Handlers) != 1 || sys.Handlers[0].Messages != 40 || sys.Handlers[0].Failures != 2 || !sys.Handlers[0].LagKnown {
		t.Errorf("handlers %+v", sys.Handlers)
	}
	if len(sys.Topics) != 1 || sys.Topics[0] != (figures.Topic{Topic: "order_events_v1", Group: "twin-projection", Unread: 7, Parked: 1}) {
		t.Errorf("topics %+v", sys.Topics)
	}
}
