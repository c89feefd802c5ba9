package app

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAPICostModel: what a query costs follows the work it causes, so a
// query repeating an expensive field under aliases, or asking for huge
// pages of nested lists, is refused before any of it runs, while the
// SPA's own queries pass.
func TestAPICostModel(t *testing.T) {
	s := startServer(t)
	from, to := time.Now().Add(-time.Hour).Format(time.RFC3339), time.Now().Format(time.RFC3339)
	backtest := func(alias string) string {
		return alias + `: backtestRule(input: {name: "x", description: "x", expression: "true", severity: "info"}, from: "` +
			from + `", to: "` + to + `") { ordersHit }`
	}
	var many []string
	for i := range 200 {
		many = append(many, backtest(fmt.Sprintf("b%d", i)))
	}
	tests := []struct {
		name, query string
		refused     bool
	}{
		{"one backtest", "query {" + backtest("b") + "}", false},
		{"two aliased backtests", "query {" + backtest("a") + backtest("b") + "}", true},
		{"200 aliased backtests", "query {" + strings.Join(many, " ") + "}", true},
		{"big page of orders with timelines", `query { orders(first: 500) { edges { node { orderNo timeline { at system type source } } } } }`, true},
		{"the backlog page's orders", `query { orders(first: 20) { edges { cursor node { id channel orderNo stage amount currency warehouse courier updatedAt } } pageInfo { hasNextPage endCursor } } }`, false},
		{"the rules page (as the SPA sends it)", `query Rules { rules { name description expression on after dueExpr until tags severity queue alert kind enabled version updatedAt updatedBy hitsByHour { hour count __typename } errors24h disabledReason __typename } }`, false},
		{"the alert counts", `query { firing: alerts(first: 100, state: FIRING) { edges { node { id } } } acknowledged: alerts(first: 100, state: ACKNOWLEDGED) { edges { node { id } } } resolved: alerts(first: 100, state: RESOLVED) { edges { node { id } } } }`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errs := s.gql(t, tt.query, nil)
			refused := len(errs) > 0 && errs[0]["extensions"].(map[string]any)["code"] == "COMPLEXITY_LIMIT_EXCEEDED"
			if refused != tt.refused {
				t.Errorf("refused %v, want %v (errors %v)", refused, tt.refused, errs)
			}
		})
	}
}

// TestGraphQLBodyLimit: a POST body over the limit is refused with 413 and
// never read whole into memory.
func TestGraphQLBodyLimit(t *testing.T) {
	s := startServer(t)
	big := `{"query":"query { rules { name } }","variables":{"pad":"` + strings.Repeat("x", 2<<20) + `"}}`
	req, _ := http.NewRequest("POST", s.URL+"/graphql", strings.NewReader(big))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body: status %d, want 413", resp.StatusCode)
	}
	// Without a length up front (chunked), the reader stops at the limit.
	req, _ = http.NewRequest("POST", s.URL+"/graphql", struct{ *bytes.Reader }{bytes.NewReader([]byte(big))})
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+s.Token)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Errors []map[string]any }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("chunked 2 MiB body: status %d, errors %v", resp.StatusCode, out.Errors)
	}
}

// TestSubscriptionCap: one websocket holds at most 50 live subscriptions;
// one more is refused with a code, and a place freed is usable again.
func TestSubscriptionCap(t *testing.T) {
	s := startServer(t)
	c := dialGraphQL(t, s.URL, "graphql-transport-ws", nil)
	type sub struct{ data, errs <-chan json.RawMessage }
	subs := map[string]sub{}
	for i := range 51 {
		id := fmt.Sprint(i)
		d, e := c.subscribe(id, backlogSub, nil)
		subs[id] = sub{d, e}
	}
	// Operations start concurrently: any one of the 51 may be the one over.
	refused := ""
	deadline := time.After(5 * time.Second)
	for refused == "" {
		for id, sb := range subs {
			select {
			case raw := <-sb.data:
				if strings.Contains(string(raw), "TOO_MANY_SUBSCRIPTIONS") {
					refused = id
				}
			case raw := <-sb.errs:
				if strings.Contains(string(raw), "TOO_MANY_SUBSCRIPTIONS") {
					refused = id
				}
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatal("51 subscriptions on one connection: none refused")
		case <-time.After(20 * time.Millisecond):
		}
	}
	// Free a place and take it: the new one is served (a change pushes).
	for id := range subs {
		if id != refused {
			c.write(map[string]any{"id": id, "type": "complete"})
			break
		}
	}
	time.Sleep(200 * time.Millisecond)
	again, errs := c.subscribe("again", backlogSub, nil)
	ch := uniq("cap")
	s.send(t, "cap-"+ch, ev("cap-"+ch, "order.paid", ch, ch, time.Now(), nil))
	select {
	case raw := <-errs:
		t.Fatalf("subscription in a freed place: %s", raw)
	case raw := <-again:
		if strings.Contains(string(raw), "errors") {
			t.Fatalf("subscription in a freed place: %s", raw)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscription in a freed place: no push after a change")
	}
}
