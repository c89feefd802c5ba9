package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/platforms/standard"
)

type alertPush struct {
	ID, Rule, Kind, Severity, State string
	Order                           struct{ OrderNo string }
}

const alertFields = `id rule kind severity state order { orderNo }`

func nextAlert(t *testing.T, ch <-chan jsonRaw, field, orderNo string) alertPush {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var p map[string]alertPush
		next(t, ch, time.Until(deadline), &p)
		if a := p[field]; a.Order.OrderNo == orderNo {
			return a
		}
	}
	t.Fatalf("no %s for %s", field, orderNo)
	return alertPush{}
}

// An odd order is caught in seconds: the default vague-address rule tags
// it, routes it to customer service and raises an alert pushed to
// subscribers; editing the rule takes effect on the next event, without a
// restart.
func TestRulesRaiseAlertsAndEditsTakeEffect(t *testing.T) {
	s := startServer(t)
	c := dialGraphQL(t, s.URL, "graphql-transport-ws", nil)
	raised, _ := c.subscribe("r", `subscription { alertRaised { `+alertFields+` } }`, nil)
	time.Sleep(100 * time.Millisecond)

	vague := func(no string) map[string]any {
		return ev("v-"+no, "order.paid", "douyin", no, time.Now(), map[string]any{
			"amount": "99.00", "receiver": map[string]any{"name": "张三", "phone": "13800001234", "province": "浙江省", "city": "杭州市", "address": "万达广场后面"},
		})
	}
	no := uniq("VA")
	if st, _ := s.send(t, "m-"+no, vague(no)); st != 200 {
		t.Fatal(st)
	}
	a := nextAlert(t, raised, "alertRaised", no)
	if a.Rule != "vague_address" || a.Kind != "suspicious_address" || a.State != "FIRING" {
		t.Fatalf("alert %+v", a)
	}
	data, errs := s.gql(t, `query($n:String!){ order(channel:"douyin", orderNo:$n){ tags alerts { rule } } workItems(queue:"customer_service"){ order { orderNo } } }`, map[string]any{"n": no})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b, _ := json.Marshal(data)
	if !json.Valid(b) || !strings.Contains(string(b), "地址模糊") || !strings.Contains(string(b), `"rule":"vague_address"`) || !strings.Contains(string(b), no) {
		t.Fatalf("order not tagged, alerted and queued: %s", b)
	}

	// Acknowledge it.
	var ack struct{ AcknowledgeAlert alertPush }
	d2, errs := s.gql(t, `mutation($id:ID!){ acknowledgeAlert(id:$id){ `+alertFields+` } }`, map[string]any{"id": a.ID})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b, _ = json.Marshal(d2)
	_ = json.Unmarshal(b, &ack)
	if ack.AcknowledgeAlert.State != "ACKNOWLEDGED" {
		t.Fatalf("acknowledge: %s", b)
	}

	// Switch the rule off: the next vague order raises nothing.
	if _, errs := s.gql(t, `mutation { setRuleEnabled(name:"vague_address", enabled:false){ enabled version } }`, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	no2 := uniq("VB")
	s.send(t, "m-"+no2, vague(no2))
	waitStage(t, s, "douyin", no2, "PAID")
	d3, _ := s.gql(t, `query($n:String!){ order(channel:"douyin", orderNo:$n){ alerts { rule } } }`, map[string]any{"n": no2})
	if b, _ := json.Marshal(d3); strings.Contains(string(b), "vague_address") {
		t.Fatalf("disabled rule still fired: %s", b)
	}

	// A rule with a compile error is refused with its line and column.
	_, errs = s.gql(t, `mutation { saveRule(input:{name:"broken", description:"x", expression:"order.amount >\n  (", severity:"info", tags:["x"]}){ name } }`, nil)
	if len(errs) == 0 {
		t.Fatal("broken rule accepted")
	}
	ext, _ := errs[0]["extensions"].(map[string]any)
	if ext["code"] != "BAD_USER_INPUT" || ext["line"] != float64(2) {
		t.Fatalf("compile error: %v", errs[0])
	}
	if _, errs := s.gql(t, `mutation { setRuleEnabled(name:"vague_address", enabled:true){ enabled } }`, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
}

// A deadline survives a restart and fires on the simulated clock; the
// awaited event resolves the alert by itself.
func TestOutboundNotCollectedDeadline(t *testing.T) {
	sim := func(c *cfgT) { c.Mode = "simulation" }
	s := startServer(t, sim)
	no := uniq("DL")
	at := time.Now()
	s.send(t, "o-"+no, ev("p-"+no, "order.paid", "tmall", no, at.Add(-time.Minute), nil),
		ev("o-"+no, "wms.outbound", "tmall", no, at, map[string]any{"warehouse": "GZ-03", "courier": "SF", "trackingNo": "SF" + no}))
	waitStage(t, s, "tmall", no, "OUTBOUND")
	// Restart: a new node on the same database picks the timer up.
	if err := s.App.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, sim, func(c *cfgT) { c.Sources[0].Settings = standard.Settings{Secrets: []string{s.Secret}} })
	s2.Secret = s.Secret
	c := dialGraphQL(t, s2.URL, "graphql-transport-ws", nil)
	raised, _ := c.subscribe("r", `subscription { alertRaised { `+alertFields+` } }`, nil)
	changed, _ := c.subscribe("c", `subscription { alertChanged { `+alertFields+` } }`, nil)
	time.Sleep(100 * time.Millisecond)
	if _, errs := s2.gql(t, `mutation { setClockSpeed(speed: 1200){ speed } }`, nil); len(errs) > 0 {
		t.Fatal(errs)
	}
	a := nextAlert(t, raised, "alertRaised", no)
	if a.Rule != "outbound_not_collected" || a.Kind != "not_collected" || a.Severity != "critical" {
		t.Fatalf("alert %+v", a)
	}
	// The courier finally collects: the alert resolves itself.
	s2.send(t, "c-"+no, ev("c-"+no, "courier.collected", "tmall", no, at.Add(20*time.Minute), map[string]any{"courier": "SF", "trackingNo": "SF" + no}))
	r := nextAlert(t, changed, "alertChanged", no)
	if r.State != "RESOLVED" {
		t.Fatalf("not resolved: %+v", r)
	}
}

// setClockSpeed is refused outside simulation mode.
func TestClockSpeedOnlyInSimulation(t *testing.T) {
	s := startServer(t)
	_, errs := s.gql(t, `mutation { setClockSpeed(speed: 60){ speed } }`, nil)
	if len(errs) == 0 {
		t.Fatal("accepted")
	}
	if ext, _ := errs[0]["extensions"].(map[string]any); ext["code"] != "FORBIDDEN" {
		t.Fatalf("%v", errs[0])
	}
}

// A simulation server started with clock_speed runs its clock that fast
// from the start.
func TestClockSpeedAtStart(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.Mode, c.ClockSpeed = "simulation", 600 })
	real0, sim0 := time.Now(), s.App.Clock.Now()
	time.Sleep(100 * time.Millisecond)
	ratio := float64(s.App.Clock.Now().Sub(sim0)) / float64(time.Since(real0))
	if ratio < 400 || ratio > 700 {
		t.Fatalf("clock ran %.0fx real time, want about 600x", ratio)
	}
}

// A draft rule is tried on the stored events before anyone enables it.
func TestBacktestDraftRule(t *testing.T) {
	s := startServer(t)
	ch := uniq("bt")
	base := time.Now().Add(-30 * time.Minute)
	for i, amount := range []string{"10.00", "2500.00", "3100.00", "15.00"} {
		no := ch + "-" + string(rune('a'+i))
		s.send(t, "bt-"+no, ev("bt-"+no, "order.paid", ch, no, base.Add(time.Duration(i)*time.Minute), map[string]any{"amount": amount}))
	}
	waitStage(t, s, ch, ch+"-d", "PAID")
	data, errs := s.gql(t, `query($from: Time!, $to: Time!, $expr: String!) {
		backtestRule(input: {name: "big_paid", description: "金额超过 2000", expression: $expr, tags: ["大额"], severity: "info"},
			from: $from, to: $to) { eventsScanned ordersHit hits samples { orderNo eventType } } }`,
		map[string]any{"from": base.Add(-time.Minute).Format(time.RFC3339), "to": time.Now().Format(time.RFC3339),
			"expr": `order.channel == "` + ch + `" && order.amount > 2000`})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	bt := data["backtestRule"].(map[string]any)
	if bt["ordersHit"] != float64(2) || len(bt["samples"].([]any)) != 2 || bt["eventsScanned"].(float64) < 4 {
		t.Fatalf("backtest: %v", bt)
	}
}

// A warehouse whose courier collects hourly gets its own deadline.
func TestDeadlinePerWarehouse(t *testing.T) {
	s := startServer(t)
	wh := uniq("WH")
	data, errs := s.gql(t, `mutation($w:String!){ setDeadlineOverride(rule:"outbound_not_collected", scopeKind:"warehouse", scopeValue:$w, after:"1h"){ id after } }`,
		map[string]any{"w": wh})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	id := data["setDeadlineOverride"].(map[string]any)["id"]
	at := time.Now().Truncate(time.Second)
	due := func(no, warehouse string) time.Time {
		t.Helper()
		s.send(t, "o-"+no, ev("p-"+no, "order.paid", "tmall", no, at.Add(-time.Minute), map[string]any{"warehouse": warehouse}),
			ev("o-"+no, "wms.outbound", "tmall", no, at, map[string]any{"warehouse": warehouse}))
		waitStage(t, s, "tmall", no, "OUTBOUND")
		var d time.Time
		if err := testDB.NewRaw(`SELECT due_at FROM timers WHERE key = ?`, "rule:outbound_not_collected:tmall/"+no).Scan(t.Context(), &d); err != nil {
			t.Fatalf("no timer for %s: %v", no, err)
		}
		return d
	}
	if d := due(uniq("DW"), wh); !d.Equal(at.Add(time.Hour)) {
		t.Errorf("overridden warehouse: due %s, want %s", d, at.Add(time.Hour))
	}
	if d := due(uniq("DX"), "OTHER-"+wh); !d.Equal(at.Add(10 * time.Minute)) {
		t.Errorf("other warehouse: due %s, want the rule's 10m (%s)", d, at.Add(10*time.Minute))
	}
	if _, errs := s.gql(t, `mutation($id:ID!){ deleteDeadlineOverride(id:$id) }`, map[string]any{"id": id}); len(errs) > 0 {
		t.Fatal(errs)
	}
}

// Amount statistics are kept incrementally: a buyer's fourth order at ten
// times the first three is an outlier; a redelivery does not count twice.
func TestAmountOutlierFromHistory(t *testing.T) {
	s := startServer(t)
	buyer := uniq("buyer")
	ch := "miniprogram"
	base := time.Now().Add(-time.Hour)
	var last string
	for i, amount := range []string{"100.00", "120.00", "80.00", "1000.00"} {
		no := uniq("AO")
		last = no
		for rep := range 2 { // the same delivery twice
			s.send(t, "ao-"+no+"-"+string(rune('0'+rep)), ev("ao-"+no, "order.paid", ch, no, base.Add(time.Duration(i)*time.Minute),
				map[string]any{"amount": amount, "buyerId": buyer, "shop": "mp"}))
		}
		waitStage(t, s, ch, no, "PAID")
	}
	data, errs := s.gql(t, `query($n:String!){ order(channel:"miniprogram", orderNo:$n){ alerts { kind } } }`, map[string]any{"n": last})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	b, _ := json.Marshal(data)
	if !strings.Contains(string(b), "amount_outlier") {
		t.Fatalf("no amount_outlier on the 1000 yuan order: %s", b)
	}
	var orders, total int64
	if err := testDB.NewRaw(`SELECT orders, total FROM amount_stats WHERE scope = ?`, "buyer:"+buyer).Scan(t.Context(), &orders, &total); err != nil {
		t.Fatal(err)
	}
	if orders != 4 || total != 130000 {
		t.Fatalf("buyer history %d orders, %d fen; want 4, 130000", orders, total)
	}
}

// Ten of a cheap item stays under three times the shop's mean basket, yet
// is ten times what that item usually sells for: the main item's own
// history catches it.
func TestAmountOutlierFromItemHistory(t *testing.T) {
	s := startServer(t)
	ch, shop := "miniprogram", uniq("shop")
	base := time.Now().Add(-time.Hour)
	send := func(i int, sku, amount string) string {
		no := uniq("AI")
		s.send(t, "ai-"+no, ev("ai-"+no, "order.paid", ch, no, base.Add(time.Duration(i)*time.Second),
			map[string]any{"amount": amount, "buyerId": uniq("b"), "shop": shop, "items": []map[string]any{{"sku": sku, "qty": 1, "price": amount}}}))
		return no
	}
	var history []string
	for i := range 20 {
		history = append(history, send(2*i, "CHEAP", "40.00"), send(2*i+1, "DEAR", "300.00"))
	}
	for _, no := range history {
		waitStage(t, s, ch, no, "PAID")
	}
	// Shop mean 170: 400 is under 3x; the item's mean is 40.
	outlier := send(100, "CHEAP", "400.00")
	usual := send(101, "DEAR", "400.00")
	// Judged when created, before payment, and not history until paid.
	unpaid := uniq("AI")
	s.send(t, "ai-"+unpaid, ev("ai-"+unpaid, "order.created", ch, unpaid, base.Add(102*time.Second),
		map[string]any{"amount": "400.00", "buyerId": uniq("b"), "shop": shop, "items": []map[string]any{{"sku": "CHEAP", "qty": 10, "price": "40.00"}}}))
	for _, c := range []struct {
		no    string
		stage string
		want  bool
	}{{outlier, "PAID", true}, {usual, "PAID", false}, {unpaid, "CREATED", true}} {
		waitStage(t, s, ch, c.no, c.stage)
		data, errs := s.gql(t, `query($n:String!){ order(channel:"miniprogram", orderNo:$n){ alerts { kind } } }`, map[string]any{"n": c.no})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		b, _ := json.Marshal(data)
		if got := strings.Contains(string(b), "amount_outlier"); got != c.want {
			t.Errorf("order %s: amount_outlier %v, want %v: %s", c.no, got, c.want, b)
		}
	}
	var orders int
	if err := testDB.NewRaw(`SELECT orders FROM amount_stats WHERE scope = ?`, "sku:"+ch+":"+shop+":CHEAP").Scan(t.Context(), &orders); err != nil {
		t.Fatal(err)
	}
	if orders != 21 {
		t.Fatalf("CHEAP history holds %d orders, want the 21 paid", orders)
	}
}
