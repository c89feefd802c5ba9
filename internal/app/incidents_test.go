package app

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/pgtest"
)

// Signed webhooks putting several orders out of one warehouse with one
// courier that collects nothing raise one alert each; GraphQL shows one
// incident of them, with its blast radius and its member alerts.
func TestIncidentFromWebhooks(t *testing.T) {
	s := startServer(t)
	courier := strings.ToUpper(uniq("C"))
	rule := "incident_" + strings.ToLower(courier)
	// Raised at once on outbound (the default rule waits ten minutes).
	if _, errs := s.gql(t, `mutation($i: RuleInput!){ saveRule(input: $i){ name } }`, map[string]any{"i": map[string]any{
		"name": rule, "description": "courier not collecting", "expression": fmt.Sprintf(`order.courier == %q`, courier), "on": []string{"wms.outbound"},
		"alert": true, "kind": "not_collected", "severity": "critical", "enabled": true,
	}}); len(errs) > 0 {
		t.Fatal(errs)
	}
	ws := dialGraphQL(t, s.URL, "graphql-transport-ws", map[string]any{"Authorization": "Bearer " + s.Token})
	pushes, _ := ws.subscribe("i", `subscription { incidentChanged { key state memberCount blastRadius { orders } } }`, nil)
	time.Sleep(300 * time.Millisecond) // the subscribe message lands after the ack
	const orders = 6
	for i := range orders {
		no := uniq("INC")
		ch := []string{"tmall", "douyin"}[i%2]
		s.send(t, "p-"+no, ev("p-"+no, "order.paid", ch, no, time.Now(), map[string]any{"amount": "100.00", "shop": "店" + ch}))
		out := ev("o-"+no, "wms.outbound", ch, no, time.Now(), map[string]any{"warehouse": "HZ-01", "courier": courier, "trackingNo": "T" + no})
		out["system"] = "wms"
		s.send(t, "o-"+no, out)
	}
	// Pushed as it grows, until all its alerts are in.
	deadline := time.Now().Add(30 * time.Second)
	for {
		var p struct {
			IncidentChanged struct {
				Key         string
				MemberCount int
			}
		}
		next(t, pushes, time.Until(deadline), &p)
		if p.IncidentChanged.Key == "HZ-01/"+courier && p.IncidentChanged.MemberCount == orders {
			break
		}
	}
	const q = `query($s: IncidentState){ incidents(state: $s, first: 50){ edges{ node{ id cause key state memberCount
		blastRadius{ orders money shops channels } alerts(first: 3){ edges{ node{ kind order{ orderNo } } } pageInfo{ hasNextPage } } } } } }`
	var found map[string]any
	pgtest.WaitFor(t, 30*time.Second, func() bool {
		data, errs := s.gql(t, q, map[string]any{"s": "OPEN"})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		for _, e := range data["incidents"].(map[string]any)["edges"].([]any) {
			n := e.(map[string]any)["node"].(map[string]any)
			if n["key"] == "HZ-01/"+courier && n["memberCount"].(float64) == orders {
				found = n
				return true
			}
		}
		return false
	})
	r := found["blastRadius"].(map[string]any)
	if found["cause"] != "COURIER_STOPPED" || r["orders"].(float64) != orders || r["money"] != "600.00" || len(r["shops"].([]any)) != 2 {
		t.Errorf("incident %v", found)
	}
	if a := found["alerts"].(map[string]any); len(a["edges"].([]any)) != 3 || a["pageInfo"].(map[string]any)["hasNextPage"] != true {
		t.Errorf("member alerts %v", a)
	}
	data, errs := s.gql(t, `mutation($id: ID!){ acknowledgeIncident(id: $id){ state acknowledgedBy } }`, map[string]any{"id": found["id"]})
	if len(errs) > 0 || data["acknowledgeIncident"].(map[string]any)["state"] != "ACKNOWLEDGED" {
		t.Errorf("acknowledge: %v %v", data, errs)
	}
	// Its member alerts with it, by the same person.
	data, errs = s.gql(t, `query($id: ID!){ incident(id: $id){ alerts(first: 10){ edges{ node{ state acknowledgedBy } } } } }`, map[string]any{"id": found["id"]})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	members := data["incident"].(map[string]any)["alerts"].(map[string]any)["edges"].([]any)
	if len(members) != orders {
		t.Fatalf("%d member alerts", len(members))
	}
	for _, e := range members {
		if a := e.(map[string]any)["node"].(map[string]any); a["state"] != "ACKNOWLEDGED" || a["acknowledgedBy"] == nil {
			t.Errorf("member alert %v after the incident's acknowledgement", a)
		}
	}
	if _, errs := s.gql(t, `mutation($n: String!){ deleteRule(name: $n) }`, map[string]any{"n": rule}); len(errs) > 0 {
		t.Fatal(errs)
	}
}
