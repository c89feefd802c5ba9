package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/detection"
)

// TestFailingRuleIsSwitchedOff: a saved rule that fails on every event is
// switched off by Tower with its error shown, and the node keeps serving
// and projecting.
func TestFailingRuleIsSwitchedOff(t *testing.T) {
	s := startServer(t)
	name := "fails_" + uniq("")
	_, errs := s.gql(t, `mutation($name: String!) { saveRule(input:{name:$name, description:"订单号当作数字",
		expression:"int(order.orderNo) > 0", severity:"info", tags:["x"]}){ name enabled } }`, map[string]any{"name": name})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ch := uniq("RF")
	const perDelivery = 50
	for d := range (detection.FailingLimit + perDelivery - 1) / perDelivery {
		var evs []map[string]any
		for i := range perDelivery {
			no := fmt.Sprintf("%s-%d-%d", ch, d, i)
			evs = append(evs, ev("rf-"+no, "order.paid", ch, no, time.Now(), nil))
		}
		if code, body := s.send(t, fmt.Sprintf("rf-%s-%d", ch, d), evs...); code != 200 {
			t.Fatalf("delivery %d: %d %v", d, code, body)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		data, errs := s.gql(t, `query($name: String!) { rule(name: $name) { enabled disabledReason updatedBy } }`, map[string]any{"name": name})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		r := data["rule"].(map[string]any)
		if r["enabled"] == false {
			reason, _ := r["disabledReason"].(string)
			if !strings.Contains(reason, "errors within the hour") || !strings.Contains(reason, "int") {
				t.Errorf("disabled with reason %q", reason)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a rule failing on %d events is still on: %v", detection.FailingLimit, r)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Still serving: new orders are projected.
	no := ch + "-after"
	s.send(t, "rf-"+no, ev("rf-"+no, "order.paid", ch, no, time.Now(), nil))
	waitStage(t, s, ch, no, "PAID")
	// Saving it again (fixed) clears the reason.
	data, errs := s.gql(t, `mutation($name: String!) { saveRule(input:{name:$name, description:"x", expression:"len(order.orderNo) > 0",
		severity:"info", tags:["x"]}){ enabled disabledReason } }`, map[string]any{"name": name})
	if len(errs) > 0 || data["saveRule"].(map[string]any)["disabledReason"] != nil {
		t.Errorf("saved again: %v %v", data, errs)
	}
}

// TestRunawayRuleAndBacktest: an expression that would build a gigabyte
// of text (repeat, then replace) neither takes the node down as a
// backtest nor as a saved rule: both end in counted errors, and the node
// keeps answering.
func TestRunawayRuleAndBacktest(t *testing.T) {
	s := startServer(t)
	const runaway = `len(replace(repeat("x", 500000), "x", repeat("y", 2000))) > 0`
	ch := uniq("RW")
	base := time.Now().Add(-10 * time.Minute)
	for i := range 5 {
		no := fmt.Sprintf("%s-%d", ch, i)
		s.send(t, "rw-"+no, ev("rw-"+no, "order.paid", ch, no, base.Add(time.Duration(i)*time.Second), nil))
	}
	waitStage(t, s, ch, ch+"-4", "PAID")

	start := time.Now()
	data, errs := s.gql(t, `query($from: Time!, $to: Time!, $expr: String!) {
		backtestRule(input: {name: "runaway", description: "x", expression: $expr, severity: "info", tags: ["x"]}, from: $from, to: $to) {
			eventsScanned errors hits truncated } }`,
		map[string]any{"from": base.Add(-time.Minute).Format(time.RFC3339), "to": time.Now().Format(time.RFC3339), "expr": runaway})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	bt := data["backtestRule"].(map[string]any)
	if bt["errors"].(float64) < 5 || bt["hits"].(float64) != 0 {
		t.Errorf("runaway backtest: %v", bt)
	}
	t.Logf("runaway backtest answered in %s: %v", time.Since(start).Round(time.Millisecond), bt)

	name := "runaway_" + uniq("")
	if _, errs := s.gql(t, `mutation($name: String!, $expr: String!) { saveRule(input:{name:$name, description:"x", expression:$expr, severity:"info", tags:["x"]}){ name } }`,
		map[string]any{"name": name, "expr": runaway}); len(errs) > 0 {
		t.Fatal(errs)
	}
	no := ch + "-after"
	s.send(t, "rw-"+no, ev("rw-"+no, "order.paid", ch, no, time.Now(), nil))
	waitStage(t, s, ch, no, "PAID")
	data, errs = s.gql(t, `query($name: String!) { rule(name: $name) { errors24h } }`, map[string]any{"name": name})
	if len(errs) > 0 || data["rule"].(map[string]any)["errors24h"].(float64) < 1 {
		t.Errorf("saved runaway rule: %v %v", data, errs)
	}
}
