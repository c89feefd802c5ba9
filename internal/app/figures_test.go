package app

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const lookupQuery = `query($t: String!, $c: String) { orderLookup(text: $t, channel: $c) { channel orderNo stage trackingNo receiver { phone } } }`

func lookup(t *testing.T, s *testServer, text, channel string) []map[string]any {
	t.Helper()
	vars := map[string]any{"t": text}
	if channel != "" {
		vars["c"] = channel
	}
	data, errs := s.gql(t, lookupQuery, vars)
	if len(errs) > 0 {
		t.Fatalf("orderLookup(%q, %q): %v", text, channel, errs)
	}
	var out []map[string]any
	for _, o := range data["orderLookup"].([]any) {
		out = append(out, o.(map[string]any))
	}
	return out
}

func orderNos(os []map[string]any) []string {
	var out []string
	for _, o := range os {
		out = append(out, o["orderNo"].(string))
	}
	return out
}

// TestOrderLookup: customer service finds an order, pushed in by signed
// webhooks, by its order number, by a tracking number, and by the last 4
// digits of the receiver's phone (with the channel when the digits are
// shared); each lookup that finds one order counts toward repeated
// lookups.
func TestOrderLookup(t *testing.T) {
	s := startServer(t)
	ch := uniq("lk") // a channel of this test's own: phone tails repeat across orders
	a, b := uniq("A"), uniq("B")
	tail := fmt.Sprintf("%04d", rand.IntN(10000))
	track := "SF" + a
	paid := time.Now().Add(-time.Hour)
	receiver := func(phone string) map[string]any {
		return map[string]any{"name": "张三", "phone": phone, "address": "文三路 100 号"}
	}
	if st, body := s.send(t, "lk1-"+a,
		ev("p-"+a, "order.paid", ch, a, paid, map[string]any{"receiver": receiver("138 0000 " + tail)}),
		ev("o-"+a, "wms.outbound", ch, a, paid.Add(30*time.Minute), map[string]any{"warehouse": "HZ-01", "courier": "SF", "trackingNo": track}),
	); st != 200 {
		t.Fatalf("webhook: %d %v", st, body)
	}
	if st, body := s.send(t, "lk2-"+b, ev("p-"+b, "order.paid", ch, b, paid.Add(time.Minute), map[string]any{"receiver": receiver("139****" + tail)})); st != 200 {
		t.Fatalf("webhook: %d %v", st, body)
	}
	waitStage(t, s, ch, a, "OUTBOUND")
	waitStage(t, s, ch, b, "PAID")

	if got := lookup(t, s, a, ""); len(got) != 1 || got[0]["orderNo"] != a || got[0]["trackingNo"] != track {
		t.Errorf("by order number: %v", got)
	}
	if got := lookup(t, s, " "+track+" ", ""); len(got) != 1 || got[0]["orderNo"] != a {
		t.Errorf("by tracking number: %v", got)
	}
	// Both receivers' phones end in the same digits: both, the most
	// recently updated (a, out of the warehouse) first; the phone stays
	// masked for an anonymous caller.
	got := lookup(t, s, tail, ch)
	if nos := orderNos(got); len(nos) != 2 || nos[0] != a || nos[1] != b {
		t.Errorf("by phone tail in %s: %v, want %s then %s", ch, nos, a, b)
	} else if p := got[1]["receiver"].(map[string]any)["phone"]; p != "139****"+tail {
		t.Errorf("phone %v", p)
	}
	if got := lookup(t, s, tail, "elsewhere"); len(got) != 0 {
		t.Errorf("by phone tail in another channel: %v", got)
	}
	if got := lookup(t, s, "no-such-order", ""); len(got) != 0 {
		t.Errorf("nothing: %v", got)
	}
	if _, errs := s.gql(t, lookupQuery, map[string]any{"t": "  "}); len(errs) == 0 || errs[0]["extensions"].(map[string]any)["code"] != "BAD_USER_INPUT" {
		t.Errorf("empty text: %v", errs)
	}

	// a was asked about twice (by number and by tracking number), b not
	// alone: one order looked up, one repeated.
	data, errs := s.gql(t, `query($f: Time!, $t: Time!, $c: String) { figures(from: $f, to: $t, channel: $c) { repeatedLookups { count of } } }`,
		map[string]any{"f": time.Now().Add(-time.Hour).Format(time.RFC3339), "t": time.Now().Add(time.Minute).Format(time.RFC3339), "c": ch})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	rl := data["figures"].(map[string]any)["repeatedLookups"].(map[string]any)
	if rl["count"] != 1.0 || rl["of"] != 1.0 {
		t.Errorf("repeated lookups %v, want 1 of 1", rl)
	}
}

const healthSub = `subscription($c: String) { fulfillmentHealthChanged(channel: $c) { index at components { name value weight target score measured } } }`

type healthPush struct {
	FulfillmentHealthChanged struct {
		Index      float64
		Components []struct {
			Name     string
			Value    float64
			Weight   float64
			Score    float64
			Measured bool
		}
	}
}

// TestHealthPushedAfterWebhooks: a subscriber of one channel's health
// index gets it at once (nothing measured: 100), then, after signed
// webhooks bring an order that missed its ship-by deadline, a push with
// on-time ship measured and the index down.
func TestHealthPushedAfterWebhooks(t *testing.T) {
	s := startServer(t, func(c *cfgT) { c.Figures.PushInterval = 100 * time.Millisecond })
	ch := uniq("hx")
	c := dialGraphQL(t, s.URL, "graphql-transport-ws", nil)
	pushes, errs := c.subscribe("1", healthSub, map[string]any{"c": ch})
	var p healthPush
	select {
	case e := <-errs:
		t.Fatalf("subscribe: %s", e)
	default:
	}
	next(t, pushes, 10*time.Second, &p)
	if p.FulfillmentHealthChanged.Index != 100 || len(p.FulfillmentHealthChanged.Components) != 5 {
		t.Fatalf("first push %+v", p)
	}

	no := uniq("H")
	paid, shipBy := time.Now().Add(-3*time.Hour), time.Now().Add(-time.Hour)
	if st, body := s.send(t, "hx-"+no, ev("p-"+no, "order.paid", ch, no, paid, map[string]any{
		"shipBy": shipBy.Format(time.RFC3339), "warehouse": "HZ-01",
	})); st != 200 {
		t.Fatalf("webhook: %d %v", st, body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		next(t, pushes, time.Until(deadline), &p)
		h := p.FulfillmentHealthChanged
		var ship *struct {
			Name     string
			Value    float64
			Weight   float64
			Score    float64
			Measured bool
		}
		for i := range h.Components {
			if h.Components[i].Name == "on_time_ship" {
				ship = &h.Components[i]
			}
		}
		if ship != nil && ship.Measured {
			if ship.Value != 0 || ship.Score != 0 || h.Index >= 100 {
				t.Errorf("after a late order: index %v, on-time ship %+v", h.Index, *ship)
			}
			t.Logf("health after a late order: %v (%+v)", h.Index, h.Components)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no push measured the late order: %+v", h)
		}
	}
}

// TestFiguresThroughGraphQL: a window's figures and hourly series for one
// channel, and the connector figures of a time range and a channel.
func TestFiguresThroughGraphQL(t *testing.T) {
	s := startServer(t)
	ch := uniq("fg")
	no := uniq("F")
	paid := time.Now().Add(-90 * time.Minute)
	if st, body := s.send(t, "fg-"+no,
		ev("p-"+no, "order.paid", ch, no, paid, map[string]any{"shop": "flagship", "shipBy": time.Now().Add(time.Hour).Format(time.RFC3339)}),
		ev("r-"+no, "wms.received", ch, no, paid.Add(47*time.Second), map[string]any{"warehouse": "HZ-01"}),
		ev("k-"+no, "wms.packed", ch, no, paid.Add(20*time.Minute), map[string]any{"warehouse": "HZ-01", "station": "S1", "packer": "P7"}),
		ev("o-"+no, "wms.outbound", ch, no, paid.Add(30*time.Minute), map[string]any{"warehouse": "HZ-01", "courier": "SF", "trackingNo": "SF" + no}),
	); st != 200 {
		t.Fatalf("webhook: %d %v", st, body)
	}
	waitStage(t, s, ch, no, "OUTBOUND")
	from, to := time.Now().Add(-3*time.Hour).Truncate(time.Hour), time.Now().Add(time.Hour)
	data, errs := s.gql(t, `query($f: Time!, $t: Time!, $c: String) {
		figures(from: $f, to: $t, channel: $c, warehouse: "HZ-01") {
			timeZone inflow outbound packed onTimeShip { count of value } sameDayShipping { of }
			paidToWms { count p50 } backlog { stage count } throughput { by id packed }
			hours { at inflow outbound backlog { stage count } }
		}
		systemFigures { stepSeconds connectors { source type requests succeeded successRate latencyP50 ratePerMinute trend { at requests } } handlers { handler messages } topics { topic group unread } }
	}`, map[string]any{"f": from.Format(time.RFC3339), "t": to.Format(time.RFC3339), "c": ch})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	f := data["figures"].(map[string]any)
	if f["timeZone"] != "Asia/Shanghai" || f["inflow"] != 1.0 || f["outbound"] != 1.0 || f["packed"] != 1.0 {
		t.Errorf("figures %v", f)
	}
	if r := f["onTimeShip"].(map[string]any); r["count"] != 1.0 || r["of"] != 1.0 {
		t.Errorf("on-time ship %v", r)
	}
	if d := f["paidToWms"].(map[string]any); d["count"] != 1.0 || d["p50"].(float64) < 45 || d["p50"].(float64) > 60 {
		t.Errorf("paid to WMS %v, want 47 s's bin", d)
	}
	if b := f["backlog"].([]any); len(b) != 1 || b[0].(map[string]any)["stage"] != "OUTBOUND" {
		t.Errorf("backlog %v", b)
	}
	if tp := f["throughput"].([]any); len(tp) != 2 {
		t.Errorf("throughput %v, want station S1 and packer P7", tp)
	}
	if hs := f["hours"].([]any); len(hs) < 4 {
		t.Errorf("%d hours", len(hs))
	} else if last := hs[len(hs)-1].(map[string]any); len(last["backlog"].([]any)) != 1 {
		t.Errorf("last hour %v", last)
	}
	sys := data["systemFigures"].(map[string]any)
	var erp map[string]any
	for _, c := range sys["connectors"].([]any) {
		if c.(map[string]any)["source"] == "erp" {
			erp = c.(map[string]any)
		}
	}
	// Other tests of the package send to erp too, some badly signed.
	if erp == nil || erp["requests"].(float64) < 1 || erp["successRate"] == nil || erp["latencyP50"] == nil || erp["type"] != "standard" {
		t.Fatalf("erp connector %v", erp)
	}
	var trend float64
	for _, p := range erp["trend"].([]any) {
		trend += p.(map[string]any)["requests"].(float64)
	}
	if trend != erp["requests"] || sys["stepSeconds"] != 60.0 || erp["ratePerMinute"].(float64) <= 0 {
		t.Errorf("erp's trend adds up to %v of %v requests, step %v s", trend, erp["requests"], sys["stepSeconds"])
	}
	if len(sys["topics"].([]any)) == 0 || len(sys["handlers"].([]any)) == 0 {
		t.Errorf("system %v", sys)
	}
	// Another time range, a channel: nothing yet two hours ago; the ERP,
	// which serves every channel, under any channel (trafficQuery's test
	// has the others).
	sources := func(vars map[string]any) []string {
		t.Helper()
		data, errs := s.gql(t, `query($f: Time, $t: Time, $c: String) { systemFigures(from: $f, to: $t, channel: $c) { connectors { source } } }`, vars)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		var out []string
		for _, c := range data["systemFigures"].(map[string]any)["connectors"].([]any) {
			out = append(out, c.(map[string]any)["source"].(string))
		}
		return out
	}
	if got := sources(map[string]any{"f": time.Now().Add(-3 * time.Hour).Format(time.RFC3339), "t": time.Now().Add(-2 * time.Hour).Format(time.RFC3339)}); len(got) != 0 {
		t.Errorf("traffic two hours before the test: %v", got)
	}
	if got := sources(map[string]any{"c": "douyin"}); !slices.Contains(got, "erp") {
		t.Errorf("connectors under douyin: %v", got)
	}
	_, errs = s.gql(t, `{ systemFigures(from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z") { at } }`, nil)
	if len(errs) == 0 || errs[0]["extensions"].(map[string]any)["code"] != "BAD_USER_INPUT" {
		t.Errorf("a range ending before it starts: %v", errs)
	}

	// A window over 7 days is refused.
	_, errs = s.gql(t, `query($f: Time!, $t: Time!) { figures(from: $f, to: $t) { inflow } }`,
		map[string]any{"f": time.Now().Add(-8 * 24 * time.Hour).Format(time.RFC3339), "t": time.Now().Format(time.RFC3339)})
	if len(errs) == 0 || errs[0]["extensions"].(map[string]any)["code"] != "BAD_USER_INPUT" {
		t.Errorf("8-day window: %v", errs)
	}
}
