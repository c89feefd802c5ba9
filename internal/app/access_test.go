package app

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/graph/generated"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/migrations"
)

// sendOrder pays for an order of channel shipped from warehouse, to a
// receiver whose vague address raises vague_address (an alert and a
// customer-service item), then has the WMS receive it and the buyer change
// the address (address_change_after_wms: an alert and a warehouse-hold item).
//
// Each order has a phone and address of its own: the burst rules count
// orders per phone and per address across the package's tests.
func sendOrder(t *testing.T, s *testServer, channel, warehouse, no string) (phone, address string) {
	t.Helper()
	at := time.Now().Add(-time.Minute)
	var n [4]byte
	_, _ = rand.Read(n[:])
	phone = fmt.Sprintf("137%08d", binary.BigEndian.Uint32(n[:])%100_000_000)
	address = "文三路" + no + "学校附近"
	rcv := map[string]any{"name": "张三", "phone": phone, "province": "浙江省", "city": "杭州市", "district": "西湖区", "address": address}
	evs := []map[string]any{
		ev("p-"+no, "order.paid", channel, no, at, map[string]any{"amount": "99.00", "warehouse": warehouse, "buyerIp": "101.1.2.3", "buyerId": "tb-buyer-42", "receiver": rcv}),
		ev("r-"+no, "wms.received", channel, no, at.Add(time.Second), map[string]any{"warehouse": warehouse}),
		ev("a-"+no, "order.address_changed", channel, no, at.Add(2*time.Second), map[string]any{"receiver": rcv}),
	}
	evs[1]["system"] = "wms"
	if st, body := s.send(t, "m-"+no, evs...); st != 200 {
		t.Fatalf("webhook: %d %v", st, body)
	}
	return phone, address
}

type scopedOrder struct{ channel, warehouse, no string }

// TestScopes: a warehouse-scoped token and a channel-scoped one see,
// count and are pushed nothing of the orders outside their scope: order
// lookups, lists, backlog counts, alerts, work items, and the pushes of
// every subscription.
func TestScopes(t *testing.T) {
	s := startServer(t)
	// Warehouses and channels of this test only, so counts are exact.
	whA, whB := uniq("WA"), uniq("WB")
	chA, chB := uniq("ca"), uniq("cb")
	orders := []scopedOrder{{chA, whA, uniq("S1")}, {chA, whB, uniq("S2")}, {chB, whA, uniq("S3")}}
	scoped := []struct {
		name  string
		token string
		sees  func(scopedOrder) bool
		queue string
	}{
		{"warehouse=" + whA, s.tokenFor(t, access.Warehouse, "warehouse="+whA), func(o scopedOrder) bool { return o.warehouse == whA }, "warehouse_hold"},
		{"channel=" + chA, s.tokenFor(t, access.CEO, "channel="+chA), func(o scopedOrder) bool { return o.channel == chA }, "customer_service"},
	}
	type subs struct {
		ws                              *wsClient
		backlog, alerts, items, inOrder <-chan jsonRaw
		outOrder                        <-chan jsonRaw
		inScope, outScope               scopedOrder
	}
	live := make([]subs, len(scoped))
	for i, sc := range scoped {
		var in, out scopedOrder
		for _, o := range orders {
			if sc.sees(o) {
				in = o
			} else {
				out = o
			}
		}
		ws := dialGraphQL(t, s.URL, "graphql-transport-ws", map[string]any{"Authorization": "Bearer " + sc.token})
		b, _ := ws.subscribe("b", `subscription { backlogChanged { total } }`, nil)
		a, _ := ws.subscribe("a", `subscription { alertRaised { rule order { channel orderNo warehouse } } }`, nil)
		w, _ := ws.subscribe("w", `subscription { workItemChanged { queue order { channel orderNo warehouse } } }`, nil)
		oi, _ := ws.subscribe("oi", orderSub, map[string]any{"c": in.channel, "n": in.no})
		oo, _ := ws.subscribe("oo", orderSub, map[string]any{"c": out.channel, "n": out.no})
		live[i] = subs{ws: ws, backlog: b, alerts: a, items: w, inOrder: oi, outOrder: oo, inScope: in, outScope: out}
	}
	time.Sleep(200 * time.Millisecond) // subscriptions registered
	for _, o := range orders {
		sendOrder(t, s, o.channel, o.warehouse, o.no)
	}
	for _, o := range orders {
		waitStage(t, s, o.channel, o.no, "IN_WAREHOUSE")
	}
	mine := map[string]scopedOrder{}
	for _, o := range orders {
		mine[o.channel+"/"+o.no] = o
	}

	for i, sc := range scoped {
		t.Run(sc.name, func(t *testing.T) {
			l := live[i]
			want := 0
			for _, o := range orders {
				if sc.sees(o) {
					want++
				}
			}
			// Lookups: outside the scope an order does not exist.
			for _, o := range orders {
				data, errs := s.gqlAs(t, sc.token, `query($c:String!,$n:String!){ order(channel:$c, orderNo:$n){ orderNo } }`, map[string]any{"c": o.channel, "n": o.no})
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				if got := data["order"] != nil; got != sc.sees(o) {
					t.Errorf("order %s/%s (%s): found %v", o.channel, o.no, o.warehouse, got)
				}
			}
			// Lists hold nothing outside the scope, and all of it inside.
			data, errs := s.gqlAs(t, sc.token, `{ orders(first: 500) { edges { node { channel orderNo warehouse } } } }`, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			seen := 0
			for _, e := range data["orders"].(map[string]any)["edges"].([]any) {
				n := e.(map[string]any)["node"].(map[string]any)
				o := scopedOrder{fmt.Sprint(n["channel"]), fmt.Sprint(n["warehouse"]), fmt.Sprint(n["orderNo"])}
				if !sc.sees(o) {
					t.Errorf("orders lists %v", n)
				}
				if _, ok := mine[o.channel+"/"+o.no]; ok {
					seen++
				}
			}
			if seen != want {
				t.Errorf("orders lists %d of this test's orders, want %d", seen, want)
			}
			// Lookups by number find nothing outside the scope either.
			for _, o := range orders {
				data, errs := s.gqlAs(t, sc.token, `query($n:String!){ orderLookup(text:$n){ orderNo } }`, map[string]any{"n": o.no})
				if len(errs) > 0 {
					t.Fatal(errs)
				}
				if got := len(data["orderLookup"].([]any)) == 1; got != sc.sees(o) {
					t.Errorf("orderLookup %s (%s, %s): found %v", o.no, o.channel, o.warehouse, got)
				}
			}
			// Figures count the scope alone, and refuse a wider one.
			from, to := time.Now().Add(-time.Hour).Format(time.RFC3339), time.Now().Add(time.Hour).Format(time.RFC3339)
			pgtest.WaitFor(t, 10*time.Second, func() bool {
				data, errs := s.gqlAs(t, sc.token, `query($f:Time!,$t:Time!){ figures(from:$f, to:$t){ inflow } }`, map[string]any{"f": from, "t": to})
				return len(errs) == 0 && int(data["figures"].(map[string]any)["inflow"].(float64)) == want
			})
			_, errs = s.gqlAs(t, sc.token, `query($w:String!){ fulfillmentHealth(warehouse:$w){ index } }`, map[string]any{"w": whB})
			if sc.sees(orders[1]) != (len(errs) == 0) {
				t.Errorf("fulfillmentHealth of %s: %v", whB, errs)
			}
			// Counts are of the scope alone.
			data, errs = s.gqlAs(t, sc.token, `{ backlog { total } }`, nil)
			if len(errs) > 0 || int(data["backlog"].(map[string]any)["total"].(float64)) != want {
				t.Errorf("backlog %v %v, want total %d", data, errs, want)
			}
			// Alerts and work items.
			data, errs = s.gqlAs(t, sc.token, `{ alerts(first: 500) { edges { node { id rule order { channel orderNo warehouse } } } } }`, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			var foreignAlert string
			alertsSeen := 0
			for _, e := range data["alerts"].(map[string]any)["edges"].([]any) {
				n := e.(map[string]any)["node"].(map[string]any)
				ord := n["order"].(map[string]any)
				if !sc.sees(scopedOrder{fmt.Sprint(ord["channel"]), fmt.Sprint(ord["warehouse"]), ""}) {
					t.Errorf("alerts lists %v", n)
				}
				if _, ok := mine[fmt.Sprint(ord["channel"])+"/"+fmt.Sprint(ord["orderNo"])]; ok {
					alertsSeen++
				}
			}
			if alertsSeen != 2*want {
				t.Errorf("alerts: %d of this test's, want %d", alertsSeen, 2*want)
			}
			adata, _ := s.gql(t, `{ alerts(first: 500) { edges { node { id order { channel orderNo } } } } }`, nil)
			for _, e := range adata["alerts"].(map[string]any)["edges"].([]any) {
				n := e.(map[string]any)["node"].(map[string]any)
				ord := n["order"].(map[string]any)
				if o, ok := mine[fmt.Sprint(ord["channel"])+"/"+fmt.Sprint(ord["orderNo"])]; ok && !sc.sees(o) {
					foreignAlert = fmt.Sprint(n["id"])
				}
			}
			data, errs = s.gqlAs(t, sc.token, `query($q:String!){ workItems(queue: $q, first: 500) { id order { channel orderNo warehouse } } }`, map[string]any{"q": sc.queue})
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			itemsSeen := 0
			for _, w := range data["workItems"].([]any) {
				ord := w.(map[string]any)["order"].(map[string]any)
				if !sc.sees(scopedOrder{fmt.Sprint(ord["channel"]), fmt.Sprint(ord["warehouse"]), ""}) {
					t.Errorf("work items list %v", w)
				}
				if _, ok := mine[fmt.Sprint(ord["channel"])+"/"+fmt.Sprint(ord["orderNo"])]; ok {
					itemsSeen++
				}
			}
			if itemsSeen != want {
				t.Errorf("work items of %s: %d of this test's, want %d", sc.queue, itemsSeen, want)
			}
			// Filtering to a warehouse nobody ships from leaves nothing.
			data, errs = s.gqlAs(t, sc.token, `query($q:String!){ workItems(queue: $q, warehouse: "NONE-99") { id } }`, map[string]any{"q": sc.queue})
			if len(errs) > 0 || len(data["workItems"].([]any)) != 0 {
				t.Errorf("work items of warehouse NONE-99: %v %v", data["workItems"], errs)
			}
			// An alert outside the scope cannot be acted on either.
			if sc.queue == "warehouse_hold" {
				_, errs = s.gqlAs(t, sc.token, `mutation($id:ID!){ acknowledgeAlert(id:$id){ id } }`, map[string]any{"id": foreignAlert})
				if len(errs) == 0 || errs[0]["extensions"].(map[string]any)["code"] != "NOT_FOUND" {
					t.Errorf("acknowledging an alert outside the scope: %v", errs)
				}
			}

			// Pushes: the order inside was pushed, the one outside never.
			var op orderPush
			next(t, l.inOrder, 10*time.Second, &op)
			select {
			case raw := <-l.outOrder:
				t.Errorf("pushed an order outside the scope: %s", raw)
			case <-time.After(500 * time.Millisecond):
			}
			drain := func(ch <-chan jsonRaw, check func(raw jsonRaw)) {
				for {
					select {
					case raw := <-ch:
						check(raw)
					case <-time.After(700 * time.Millisecond):
						return
					}
				}
			}
			pushedMine := 0
			inScope := func(field string) func(raw jsonRaw) {
				return func(raw jsonRaw) {
					var p struct {
						Data map[string]struct {
							Order struct{ Channel, OrderNo, Warehouse string }
						}
						Errors []any
					}
					_ = json.Unmarshal(raw, &p)
					o := p.Data[field].Order
					if len(p.Errors) > 0 || !sc.sees(scopedOrder{o.Channel, o.Warehouse, ""}) {
						t.Errorf("%s pushed %s", field, raw)
					}
					if _, ok := mine[o.Channel+"/"+o.OrderNo]; ok {
						pushedMine++
					}
				}
			}
			drain(l.alerts, inScope("alertRaised"))
			if pushedMine != 2*want {
				t.Errorf("alertRaised pushed %d of this test's alerts, want %d", pushedMine, 2*want)
			}
			pushedMine = 0
			drain(l.items, inScope("workItemChanged"))
			if pushedMine == 0 {
				t.Error("workItemChanged pushed none of the scope's items")
			}
			last := -1
			drain(l.backlog, func(raw jsonRaw) {
				var p struct{ Data backlogPush }
				_ = json.Unmarshal(raw, &p)
				last = p.Data.BacklogChanged.Total
			})
			if last != want {
				t.Errorf("backlogChanged: last total %d, want %d", last, want)
			}
		})
	}
}

// TestPersonalData: receiver name, phone, street address, buyer IP and
// buyer id are masked for every role but admin, and for cs everywhere but
// order(channel, orderNo), whose views are audited; values a platform
// masked are shown as they came; and a rule author without personal-data
// rights cannot probe them through backtests or saved rules.
func TestPersonalData(t *testing.T) {
	s := startServer(t)
	no := uniq("PD")
	phone, address := sendOrder(t, s, "douyin", "HZ-01", no)
	waitStage(t, s, "douyin", no, "IN_WAREHOUSE")
	vars := map[string]any{"c": "douyin", "n": no}
	const fields = `receiver { name phone province city district address } buyerIp buyerId`
	masked := map[string]any{"name": "张*", "phone": phone[:3] + "****" + phone[7:], "province": "浙江省", "city": "杭州市", "district": "西湖区", "address": "****"}
	clear := map[string]any{"name": "张三", "phone": phone, "province": "浙江省", "city": "杭州市", "district": "西湖区", "address": address}
	check := func(t *testing.T, what string, o map[string]any, unmasked bool) {
		t.Helper()
		want, ip, id := masked, "101.1.*.*", "t***"
		if unmasked {
			want, ip, id = clear, "101.1.2.3", "tb-buyer-42"
		}
		if fmt.Sprint(o["receiver"]) != fmt.Sprint(want) || o["buyerIp"] != ip || o["buyerId"] != id {
			t.Errorf("%s: %v, want receiver %v, buyerIp %s, buyerId %s", what, o, want, ip, id)
		}
	}
	tokens := map[access.Role]string{}
	for _, r := range []access.Role{access.CEO, access.Ops, access.Warehouse, access.CS, access.Admin} {
		tokens[r] = s.tokenFor(t, r)
	}
	views := func() int {
		var n int
		if err := testDB.NewRaw(`SELECT count(*) FROM audit_log WHERE action = 'personal_data.viewed' AND subject = ?`, "order douyin/"+no).Scan(context.Background(), &n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("one order", func(t *testing.T) {
		for r, tok := range tokens {
			data, errs := s.gqlAs(t, tok, `query($c:String!,$n:String!){ order(channel:$c, orderNo:$n){ `+fields+` } }`, vars)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			check(t, r.String()+" order()", data["order"].(map[string]any), r == access.CS || r == access.Admin)
		}
		if n := views(); n != 1 {
			t.Errorf("%d audited views, want 1 (cs's; admin sees everything unaudited)", n)
		}
		// One order at a time: a second one under an alias comes masked.
		other := uniq("PD2")
		sendOrder(t, s, "douyin", "HZ-01", other)
		waitStage(t, s, "douyin", other, "IN_WAREHOUSE")
		data, errs := s.gqlAs(t, tokens[access.CS], `query($c:String!,$n:String!,$m:String!){ a: order(channel:$c, orderNo:$n){ `+fields+` } b: order(channel:$c, orderNo:$m){ `+fields+` } }`,
			map[string]any{"c": "douyin", "n": no, "m": other})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		check(t, "cs, the first of two orders", data["a"].(map[string]any), true)
		if b := data["b"].(map[string]any)["receiver"].(map[string]any); b["name"] != "张*" || !strings.Contains(fmt.Sprint(b["phone"]), "****") || b["address"] != "****" {
			t.Errorf("cs, the second of two orders: %v, want it masked", b)
		}
		if n := views(); n != 2 {
			t.Errorf("%d audited views after the two-order query, want 2", n)
		}
		// Opening the order without its personal fields is no view of them.
		s.gqlAs(t, tokens[access.CS], `query($c:String!,$n:String!){ order(channel:$c, orderNo:$n){ stage } }`, vars)
		if n := views(); n != 2 {
			t.Errorf("%d audited views after a look without personal data, want 1", n)
		}
	})
	t.Run("every other path masks for cs", func(t *testing.T) {
		cs := tokens[access.CS]
		paths := map[string]struct {
			q   string
			get func(map[string]any) map[string]any
		}{
			"orders": {`{ orders(first: 200) { edges { node { orderNo ` + fields + ` } } } }`, func(d map[string]any) map[string]any {
				for _, e := range d["orders"].(map[string]any)["edges"].([]any) {
					if n := e.(map[string]any)["node"].(map[string]any); n["orderNo"] == no {
						return n
					}
				}
				return nil
			}},
			"alerts": {`{ alerts(first: 100) { edges { node { order { orderNo ` + fields + ` } } } } }`, func(d map[string]any) map[string]any {
				for _, e := range d["alerts"].(map[string]any)["edges"].([]any) {
					if n := e.(map[string]any)["node"].(map[string]any)["order"].(map[string]any); n["orderNo"] == no {
						return n
					}
				}
				return nil
			}},
			"workItems": {`{ workItems(queue: "customer_service", first: 100) { order { orderNo ` + fields + ` } } }`, func(d map[string]any) map[string]any {
				for _, w := range d["workItems"].([]any) {
					if n := w.(map[string]any)["order"].(map[string]any); n["orderNo"] == no {
						return n
					}
				}
				return nil
			}},
		}
		for name, p := range paths {
			data, errs := s.gqlAs(t, cs, p.q, nil)
			if len(errs) > 0 {
				t.Fatalf("%s: %v", name, errs)
			}
			o := p.get(data)
			if o == nil {
				t.Fatalf("%s: the order is not there", name)
			}
			check(t, "cs "+name, o, false)
		}
		data, _ := s.gqlAs(t, cs, `query($c:String!,$n:String!){ order(channel:$c, orderNo:$n){ id } }`, vars)
		id := data["order"].(map[string]any)["id"]
		data, _ = s.gqlAs(t, cs, `query($id:ID!){ orderById(id:$id){ `+fields+` } }`, map[string]any{"id": id})
		check(t, "cs orderById", data["orderById"].(map[string]any), false)

		ws := dialGraphQL(t, s.URL, "graphql-transport-ws", map[string]any{"Authorization": "Bearer " + cs})
		pushes, _ := ws.subscribe("o", `subscription($c:String!,$n:String!){ orderUpdated(channel:$c, orderNo:$n){ `+fields+` } }`, vars)
		time.Sleep(100 * time.Millisecond)
		s.send(t, "mo-"+no, ev("o-"+no, "wms.outbound", "douyin", no, time.Now(), nil))
		var push struct{ OrderUpdated map[string]any }
		next(t, pushes, 10*time.Second, &push)
		check(t, "cs orderUpdated", push.OrderUpdated, false)
	})
	t.Run("platform-masked values as they came", func(t *testing.T) {
		pno := uniq("PM")
		s.send(t, "pm-"+pno, ev("pm-"+pno, "order.paid", "tmall", pno, time.Now(), map[string]any{
			"receiver": map[string]any{"name": "李**", "phone": "139****5678", "address": "~AgAAAAAencrypted"}}))
		waitStage(t, s, "tmall", pno, "PAID")
		for _, r := range []access.Role{access.Ops, access.Admin} {
			data, _ := s.gqlAs(t, tokens[r], `query($c:String!,$n:String!){ order(channel:$c, orderNo:$n){ receiver { name phone address } } }`, map[string]any{"c": "tmall", "n": pno})
			got := data["order"].(map[string]any)["receiver"].(map[string]any)
			if got["name"] != "李**" || got["phone"] != "139****5678" || got["address"] != "~AgAAAAAencrypted" {
				t.Errorf("%s: %v", r, got)
			}
		}
	})
	t.Run("robots' staff mobiles for those who edit robots", func(t *testing.T) {
		name := uniq("robot-")
		if _, errs := s.gql(t, `mutation($n:String!){ saveNotificationChannel(input:{name:$n, type:"wecom", webhookUrl:"http://127.0.0.1:9/robot?key=k", mentionMobiles:["13700001111"]}){ name } }`,
			map[string]any{"n": name}); len(errs) > 0 {
			t.Fatal(errs)
		}
		for role, want := range map[access.Role]string{access.Ops: "13700001111", access.IT: "137****1111", access.CEO: "137****1111"} {
			tok := tokens[role]
			if tok == "" {
				tok = s.tokenFor(t, role)
			}
			data, errs := s.gqlAs(t, tok, `{ notificationChannels { name mentionMobiles } }`, nil)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			for _, c := range data["notificationChannels"].([]any) {
				if m := c.(map[string]any); m["name"] == name && fmt.Sprint(m["mentionMobiles"]) != "["+want+"]" {
					t.Errorf("%s sees %v, want %s", role, m["mentionMobiles"], want)
				}
			}
		}
	})
	t.Run("timelines carry no event data", func(t *testing.T) {
		schema := generated.NewExecutableSchema(generated.Config{}).Schema()
		for _, f := range schema.Types["TimelineEntry"].Fields {
			switch f.Name {
			case "at", "system", "type", "source", "eventId", "recovered", "__typename":
			default:
				t.Errorf("TimelineEntry.%s: a new field must be masked like the receiver", f.Name)
			}
		}
	})
	t.Run("no probing through rules", func(t *testing.T) {
		from, to := time.Now().Add(-time.Hour).Format(time.RFC3339), time.Now().Add(time.Minute).Format(time.RFC3339)
		const backtest = `query($e:String!,$f:Time!,$t:Time!){ backtestRule(input:{name:"probe", description:"probe", expression:$e, tags:["p"]}, from:$f, to:$t){ hits samples { orderNo } } }`
		probes := []string{
			`order.receiver.phone startsWith "1380"`,
			`order.receiver.phone[3:4] == "0"`,
			`toJSON(order) contains "13800"`,
			`order.buyerIp == "101.1.2.3"`,
			`let r = order.receiver; r.name == "张三"`,
		}
		for _, e := range probes {
			_, errs := s.gqlAs(t, tokens[access.Ops], backtest, map[string]any{"e": e, "f": from, "t": to})
			if len(errs) == 0 || errs[0]["extensions"].(map[string]any)["code"] != "FORBIDDEN" {
				t.Errorf("ops backtests %s: %v", e, errs)
			}
			_, errs = s.gqlAs(t, tokens[access.Ops], `mutation($e:String!){ saveRule(input:{name:"probe_rule", description:"probe", expression:$e, tags:["p"]}){ name } }`, map[string]any{"e": e})
			if len(errs) == 0 || errs[0]["extensions"].(map[string]any)["code"] != "FORBIDDEN" {
				t.Errorf("ops saves %s: %v", e, errs)
			}
		}
		// Rules over what ops may see are fine; admin may probe anything.
		if _, errs := s.gqlAs(t, tokens[access.Ops], backtest, map[string]any{"e": `order.receiver.province == "浙江省"`, "f": from, "t": to}); len(errs) > 0 {
			t.Errorf("ops backtests a rule over provinces: %v", errs)
		}
		if _, errs := s.gqlAs(t, tokens[access.Admin], backtest, map[string]any{"e": probes[0], "f": from, "t": to}); len(errs) > 0 {
			t.Errorf("admin backtests a phone rule: %v", errs)
		}
		// Ops may still retune a default rule reading personal data, its
		// expression unchanged.
		data, _ := s.gqlAs(t, tokens[access.Ops], `{ rule(name: "vague_address") { expression description on } }`, nil)
		rule := data["rule"].(map[string]any)
		expr := rule["expression"]
		if _, errs := s.gqlAs(t, tokens[access.Ops], `mutation($e:String!,$d:String!,$on:[String!]){ saveRule(input:{name:"vague_address", description:$d, on:$on, expression:$e, severity:"warning", queue:"customer_service", alert:true, kind:"suspicious_address", tags:["地址模糊"]}){ version } }`,
			map[string]any{"e": expr, "d": rule["description"], "on": rule["on"]}); len(errs) > 0 {
			t.Errorf("ops retunes vague_address: %v", errs)
		}
		_, errs := s.gqlAs(t, tokens[access.Ops], `mutation($e:String!){ saveRule(input:{name:"vague_address", description:"x", expression:$e, tags:["x"]}){ version } }`,
			map[string]any{"e": fmt.Sprint(expr) + ` && order.receiver.phone startsWith "138"`})
		if len(errs) == 0 || errs[0]["extensions"].(map[string]any)["code"] != "FORBIDDEN" {
			t.Errorf("ops extends vague_address with a phone test: %v", errs)
		}
	})
}

// TestTokens: an admin makes a token over GraphQL; it is shown once,
// kept as a hash, used until it expires, and its revocation closes its
// open subscriptions at once, on this node and on another.
func TestTokens(t *testing.T) {
	s := startServer(t)
	other := startServer(t) // a second node on the same database
	name := uniq("etl-")
	data, errs := s.gql(t, `mutation($n:String!){ createApiToken(input:{name:$n, role: ops, scopes:["channel=douyin"], expiresIn:"3s"}){ token apiToken { name prefix role scopes expiresAt lastUsedAt } } }`, map[string]any{"n": name})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	created := data["createApiToken"].(map[string]any)
	secret := created["token"].(string)
	if !strings.HasPrefix(secret, "tower_pat_") || created["apiToken"].(map[string]any)["prefix"] != secret[:14] {
		t.Fatalf("created %v", created)
	}
	// Never shown again: not in lists, not in the database.
	data, _ = s.gql(t, `{ apiTokens { name prefix lastUsedAt } }`, nil)
	if raw, _ := json.Marshal(data); strings.Contains(string(raw), secret[14:]) {
		t.Fatal("the token's secret is listed")
	}
	var rowText string
	if err := testDB.NewRaw(`SELECT row_to_json(t)::text FROM api_tokens t WHERE name = ?`, name).Scan(context.Background(), &rowText); err != nil || strings.Contains(rowText, secret[14:]) {
		t.Fatalf("stored %s (%v)", rowText, err)
	}
	if d, errs := s.gqlAs(t, secret, `{ me { name role scopes via } }`, nil); len(errs) > 0 || fmt.Sprint(d["me"]) != fmt.Sprint(map[string]any{"name": name, "role": "ops", "scopes": []any{"channel=douyin"}, "via": "token"}) {
		t.Fatalf("me: %v %v", d, errs)
	}
	data, _ = s.gql(t, `{ apiTokens { name lastUsedAt } }`, nil)
	for _, tk := range data["apiTokens"].([]any) {
		if m := tk.(map[string]any); m["name"] == name && m["lastUsedAt"] == nil {
			t.Error("last use not recorded")
		}
	}
	pgtest.WaitFor(t, 10*time.Second, func() bool {
		st, _, _ := post(t, s.URL, secret, `{ me { name } }`, nil)
		return st == http.StatusUnauthorized
	})

	t.Run("revoked closes its websockets", func(t *testing.T) {
		name := uniq("dash-")
		data, errs := s.gql(t, `mutation($n:String!){ createApiToken(input:{name:$n, role: ceo}){ token } }`, map[string]any{"n": name})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		tok := data["createApiToken"].(map[string]any)["token"].(string)
		here := dialGraphQL(t, s.URL, "graphql-transport-ws", map[string]any{"Authorization": "Bearer " + tok})
		there := dialGraphQL(t, other.URL, "graphql-ws", map[string]any{"Authorization": tok}) // "Bearer " is optional
		here.subscribe("1", backlogSub, nil)
		there.subscribe("1", backlogSub, nil)
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		if _, errs := s.gql(t, `mutation($n:String!){ revokeApiToken(name:$n) }`, map[string]any{"n": name}); len(errs) > 0 {
			t.Fatal(errs)
		}
		if code := here.closedWith(t, 2*time.Second); code != 4401 {
			t.Errorf("this node closed with %d, want 4401", code)
		}
		t.Logf("revoked -> websocket closed on this node in %s", time.Since(start))
		if code := there.closedWith(t, 5*time.Second); code != 4401 {
			t.Errorf("the other node closed with %d, want 4401", code)
		}
		t.Logf("revoked -> websocket closed on the other node in %s (revalidate_every 200ms)", time.Since(start))
		if st, _, _ := post(t, other.URL, tok, `{ me { name } }`, nil); st != http.StatusUnauthorized {
			t.Errorf("revoked token: HTTP %d", st)
		}
		if code := dialRefused(t, s.URL, "graphql-transport-ws", map[string]any{"Authorization": "Bearer " + tok}, nil); code != 4401 {
			t.Errorf("revoked token at connection_init: close %d, want 4401", code)
		}
	})
}

// browser is an HTTP client with a cookie jar, as the SPA's browser.
type browser struct {
	t    *testing.T
	url  string
	c    *http.Client
	csrf string
}

func newBrowser(t *testing.T, url string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, url: url, c: &http.Client{Jar: jar}}
}

func (b *browser) do(method, path, body string, h map[string]string) (*http.Response, string) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.url+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, string(raw)
}

func (b *browser) login(name, password string) *http.Response {
	b.t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name, "password": password})
	resp, raw := b.do("POST", "/auth/login", string(body), nil)
	var out struct{ CSRFToken string }
	_ = json.Unmarshal([]byte(raw), &out)
	b.csrf = out.CSRFToken
	return resp
}

func (b *browser) gql(query string, csrf bool) (int, string) {
	b.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	h := map[string]string{}
	if csrf {
		h["X-CSRF-Token"] = b.csrf
	}
	resp, raw := b.do("POST", "/graphql", string(body), h)
	return resp.StatusCode, raw
}

// TestSessions: a person logs in; the session is an HttpOnly SameSite
// cookie whose GraphQL requests need the CSRF token; it ends at logout and
// when an admin disables the account (closing its websocket); failed logins
// (five wrong passwords, one try of the disabled account) are refused,
// then throttled, and audited.
func TestSessions(t *testing.T) {
	s := startServer(t)
	name, pw := uniq("lin-"), "a long enough password"
	if _, errs := s.gql(t, `mutation($n:String!,$p:String!){ createUser(input:{name:$n, role: cs, password:$p}){ name } }`, map[string]any{"n": name, "p": pw}); len(errs) > 0 {
		t.Fatal(errs)
	}
	b := newBrowser(t, s.URL)
	resp := b.login(name, pw)
	if resp.StatusCode != 200 || b.csrf == "" {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "tower_session" {
			ck = c
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Expires.IsZero() || !strings.HasPrefix(ck.Value, "tower_ses_") {
		t.Fatalf("session cookie %+v", ck)
	}
	if r, raw := b.do("GET", "/auth/session", "", nil); r.StatusCode != 200 || !strings.Contains(raw, b.csrf) || !strings.Contains(raw, `"role":"cs"`) {
		t.Fatalf("GET /auth/session: %d %s", r.StatusCode, raw)
	}
	t.Run("CSRF", func(t *testing.T) {
		if st, raw := b.gql(`{ me { name } }`, false); st != http.StatusForbidden || !strings.Contains(raw, "FORBIDDEN") {
			t.Errorf("without X-CSRF-Token: %d %s", st, raw)
		}
		if st, raw := b.gql(`mutation { changePassword(currentPassword:"x", newPassword:"y") }`, false); st != http.StatusForbidden {
			t.Errorf("a mutation without X-CSRF-Token: %d %s", st, raw)
		}
		good := b.csrf
		b.csrf = "not-the-token"
		if st, _ := b.gql(`{ me { name } }`, true); st != http.StatusForbidden {
			t.Errorf("a wrong X-CSRF-Token: %d", st)
		}
		b.csrf = good
		if st, raw := b.gql(`{ me { name role via } }`, true); st != 200 || !strings.Contains(raw, `"via":"session"`) {
			t.Errorf("with X-CSRF-Token: %d %s", st, raw)
		}
		// A login posted from another site's page is refused.
		body, _ := json.Marshal(map[string]string{"name": name, "password": pw})
		if r, _ := newBrowser(t, s.URL).do("POST", "/auth/login", string(body), map[string]string{"Origin": "https://evil.example"}); r.StatusCode != 400 {
			t.Errorf("cross-site login: %d", r.StatusCode)
		}
	})
	t.Run("websocket with the cookie, closed when the account is disabled", func(t *testing.T) {
		h := http.Header{}
		h.Set("Cookie", "tower_session="+ck.Value)
		ws := dialGraphQLHeader(t, s.URL, "graphql-transport-ws", h)
		ws.subscribe("1", backlogSub, nil)
		if _, errs := s.gql(t, `mutation($n:String!){ setUserDisabled(name:$n, disabled:true){ disabled } }`, map[string]any{"n": name}); len(errs) > 0 {
			t.Fatal(errs)
		}
		if code := ws.closedWith(t, 2*time.Second); code != 4401 {
			t.Errorf("closed with %d, want 4401", code)
		}
		if st, _ := b.gql(`{ me { name } }`, true); st != http.StatusUnauthorized {
			t.Errorf("a disabled account's session: %d", st)
		}
		if r := newBrowser(t, s.URL).login(name, pw); r.StatusCode != http.StatusUnauthorized {
			t.Errorf("a disabled account logs in: %d", r.StatusCode)
		}
		s.gql(t, `mutation($n:String!){ setUserDisabled(name:$n, disabled:false){ disabled } }`, map[string]any{"n": name})
	})
	t.Run("logout", func(t *testing.T) {
		b := newBrowser(t, s.URL)
		if r := b.login(name, pw); r.StatusCode != 200 {
			t.Fatalf("login: %d", r.StatusCode)
		}
		if r, _ := b.do("POST", "/auth/logout", "", nil); r.StatusCode != http.StatusForbidden {
			t.Errorf("logout without X-CSRF-Token: %d", r.StatusCode)
		}
		if r, _ := b.do("POST", "/auth/logout", "", map[string]string{"X-CSRF-Token": b.csrf}); r.StatusCode != http.StatusNoContent {
			t.Errorf("logout: %d", r.StatusCode)
		}
		if st, _ := b.gql(`{ me { name } }`, true); st != http.StatusUnauthorized {
			t.Errorf("after logout: %d", st)
		}
	})
	t.Run("failed logins", func(t *testing.T) {
		b := newBrowser(t, s.URL)
		for i := range 5 {
			if r := b.login(name, fmt.Sprintf("wrong password %d", i)); r.StatusCode != http.StatusUnauthorized {
				t.Fatalf("attempt %d: %d", i, r.StatusCode)
			}
		}
		r := b.login(name, pw)
		if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
			t.Fatalf("the right password after five failures: %d, Retry-After %q", r.StatusCode, r.Header.Get("Retry-After"))
		}
	})
	t.Run("audited", func(t *testing.T) {
		itTok := s.tokenFor(t, access.IT)
		data, errs := s.gqlAs(t, itTok, `{ auditLog(first: 200) { edges { node { actor action subject } } } }`, nil)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		got := map[string]int{}
		for _, e := range data["auditLog"].(map[string]any)["edges"].([]any) {
			n := e.(map[string]any)["node"].(map[string]any)
			if strings.Contains(fmt.Sprint(n["subject"]), name) {
				got[fmt.Sprint(n["action"])]++
			}
			if strings.Contains(fmt.Sprint(n), "wrong password") || strings.Contains(fmt.Sprint(n), pw) {
				t.Errorf("a password in the audit log: %v", n)
			}
		}
		for action, n := range map[string]int{"user.created": 1, "login": 2, "login.failed": 6, "login.throttled": 1, "logout": 1, "user.disabled_set": 2} {
			if got[action] != n {
				t.Errorf("audit %s: %d entries, want %d (all: %v)", action, got[action], n, got)
			}
		}
	})
}

// dialGraphQLHeader is dialGraphQL authenticated by the upgrade request's
// headers (a browser's cookie) and an empty connection_init.
func dialGraphQLHeader(t testing.TB, baseURL, proto string, h http.Header) *wsClient {
	t.Helper()
	if code := dialRefused(t, baseURL, proto, nil, h.Clone()); code != 0 {
		t.Fatalf("refused with %d", code)
	}
	return dialWith(t, baseURL, proto, map[string]any{}, h)
}

// TestAnonymous: without credentials Tower answers the SPA, the probes,
// the webhooks and the login page, and nothing else.
func TestAnonymous(t *testing.T) {
	s := startServer(t, func(c *config.Config) { c.Auth.TrustedProxies = []string{"127.0.0.1/32"} })
	for _, tt := range []struct {
		method, path string
		h            map[string]string
		status       int
	}{
		{"POST", "/graphql", nil, 401},
		{"GET", "/graphql?query={backlog{total}}", nil, 401},
		{"POST", "/graphql", map[string]string{"Authorization": "Bearer tower_pat_nope"}, 401},
		{"POST", "/graphql", map[string]string{"Cookie": "tower_session=tower_ses_nope"}, 401},
		{"GET", "/auth/session", nil, 204},
		{"GET", "/healthz", nil, 200},
		{"GET", "/readyz", nil, 200},
		{"GET", "/", nil, 200},
		{"GET", "/orders/douyin/1", nil, 200},
		// /metrics: loopback may; a caller elsewhere (here through a
		// trusted proxy) needs an it or admin token.
		{"GET", "/metrics", nil, 200},
		{"GET", "/metrics", map[string]string{"X-Forwarded-For": "203.0.113.9"}, 401},
		{"GET", "/metrics", map[string]string{"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer " + s.tokenFor(t, access.IT)}, 200},
		{"GET", "/metrics", map[string]string{"X-Forwarded-For": "203.0.113.9", "Authorization": "Bearer " + s.tokenFor(t, access.Ops)}, 401},
	} {
		req, _ := http.NewRequest(tt.method, s.URL+tt.path, strings.NewReader(`{"query":"{ backlog { total } }"}`))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range tt.h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("%s %s %v: %d, want %d", tt.method, tt.path, tt.h, resp.StatusCode, tt.status)
		}
		if tt.path == "/graphql" && !strings.Contains(string(raw), `"code":"UNAUTHENTICATED"`) {
			t.Errorf("%s %s: %s, want the UNAUTHENTICATED code", tt.method, tt.path, raw)
		}
	}
	// Webhooks carry their own signatures.
	no := uniq("AN")
	if st, _ := s.send(t, "an-"+no, ev("an-"+no, "order.paid", "douyin", no, time.Now(), nil)); st != 200 {
		t.Errorf("webhook: %d", st)
	}
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		if code := dialRefused(t, s.URL, proto, nil, nil); code != 4401 {
			t.Errorf("%s without credentials: close %d, want 4401", proto, code)
		}
	}
}

// A production node refuses to start with demo accounts, or without an
// administrator; make run's demo accounts are one per role.
func TestProductionAccounts(t *testing.T) {
	db := pgtest.NewDB(t, "accounts")
	ctx := context.Background()
	if err := migrations.Migrate(ctx, db, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	svc := auth.New(db, auth.Options{})
	if err := checkProductionAccounts(ctx, svc); err == nil || !strings.Contains(err.Error(), "no enabled admin") {
		t.Fatalf("no admin: %v", err)
	}
	if _, err := svc.CreateUser(ctx, auth.NewUser{Name: "root", Role: access.Admin, Password: "an admin password"}, "cli"); err != nil {
		t.Fatal(err)
	}
	if err := checkProductionAccounts(ctx, svc); err != nil {
		t.Fatalf("one admin: %v", err)
	}
	dir := t.TempDir()
	demo, pw, err := seedDemo(ctx, svc, dir)
	if err != nil || len(demo) != len(access.Roles) || len(pw) < auth.MinPasswordLen {
		t.Fatalf("seeded %v, %q, %v", demo, pw, err)
	}
	if _, err := svc.Login(ctx, "demo-warehouse", pw, "127.0.0.1"); err != nil {
		t.Fatalf("demo login: %v", err)
	}
	// A second start reuses the password.
	if _, again, err := seedDemo(ctx, svc, dir); err != nil || again != pw {
		t.Fatalf("second seed: %q, %v", again, err)
	}
	if err := checkProductionAccounts(ctx, svc); err == nil || !strings.Contains(err.Error(), "demo accounts") {
		t.Fatalf("with demo accounts: %v", err)
	}
	for _, d := range demo {
		if _, err := svc.SetDisabled(ctx, d.Name, true); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkProductionAccounts(ctx, svc); err != nil {
		t.Fatalf("demo accounts disabled: %v", err)
	}
}
