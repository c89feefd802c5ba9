package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/platforms/standard"
)

type backlogPush struct {
	BacklogChanged struct {
		Total  int
		Stages []struct {
			Stage string
			Count int
		}
	}
}

func (b backlogPush) count(stage string) int {
	for _, s := range b.BacklogChanged.Stages {
		if s.Stage == stage {
			return s.Count
		}
	}
	return -1
}

type orderPush struct {
	OrderUpdated struct {
		Stage    string
		Systems  []struct{ System, Status string }
		Timeline []struct{ Type string }
		Receiver struct{ Name, Phone string }
	}
}

const backlogSub = `subscription { backlogChanged { total stages { stage count } } }`
const orderSub = `subscription($c:String!,$n:String!){ orderUpdated(channel:$c, orderNo:$n){ stage systems{system status} timeline{type} receiver{name phone} } }`

// The spine, end to end: signed webhooks over HTTP become pushes on a real
// websocket GraphQL client.
func TestWebhookToSubscriptionPush(t *testing.T) {
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(proto, func(t *testing.T) {
			s := startServer(t)
			// An operations manager: pushes carry personal data masked.
			c := dialGraphQL(t, s.URL, proto, map[string]any{"Authorization": "Bearer " + s.tokenFor(t, access.Ops)})
			no := uniq("E")
			orders, _ := c.subscribe("1", orderSub, map[string]any{"c": "douyin", "n": no})
			backlog, _ := c.subscribe("2", backlogSub, nil)
			time.Sleep(100 * time.Millisecond) // let both subscriptions register before the event

			before := currentBacklog(t, s)
			start := time.Now()
			paid := time.Now().Add(-time.Minute)
			if st, body := s.send(t, "m-"+no, ev("p-"+no, "order.paid", "douyin", no, paid, map[string]any{
				"amount": "129.90", "warehouse": "HZ-01",
				"receiver": map[string]any{"name": "张三", "phone": "13800001234", "address": "文三路 100 号"},
			})); st != 200 {
				t.Fatalf("webhook: %d %v", st, body)
			}
			var op orderPush
			next(t, orders, 10*time.Second, &op)
			latency := time.Since(start)
			if op.OrderUpdated.Stage != "PAID" || len(op.OrderUpdated.Timeline) != 1 || op.OrderUpdated.Timeline[0].Type != "order.paid" {
				t.Fatalf("push: %+v", op.OrderUpdated)
			}
			// Roles without personal-data rights get it masked.
			if op.OrderUpdated.Receiver.Name != "张*" || op.OrderUpdated.Receiver.Phone != "138****1234" {
				t.Errorf("receiver not masked: %+v", op.OrderUpdated.Receiver)
			}
			waitBacklog(t, backlog, func(b backlogPush) bool { return b.count("PAID") >= before["PAID"]+1 })
			t.Logf("%s: webhook sent -> orderUpdated push in %s", proto, latency)

			// Out of order: the courier collects before the WMS says outbound.
			s.send(t, "m2-"+no,
				ev("c-"+no, "courier.collected", "douyin", no, paid.Add(20*time.Second), map[string]any{"courier": "SF", "trackingNo": "SF1"}),
				ev("o-"+no, "wms.outbound", "douyin", no, paid.Add(10*time.Second), nil))
			for {
				next(t, orders, 10*time.Second, &op)
				if op.OrderUpdated.Stage == "COLLECTED" {
					break
				}
			}
			if got := len(op.OrderUpdated.Systems); got != 3 {
				t.Errorf("systems %+v, want channel, wms, courier", op.OrderUpdated.Systems)
			}
		})
	}
}

func currentBacklog(t testing.TB, s *testServer) map[string]int {
	data, errs := s.gql(t, `{ backlog { total stages { stage count } } }`, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	out := map[string]int{}
	for _, st := range data["backlog"].(map[string]any)["stages"].([]any) {
		m := st.(map[string]any)
		out[m["stage"].(string)] = int(m["count"].(float64))
	}
	return out
}

func waitBacklog(t testing.TB, ch <-chan jsonRaw, ok func(backlogPush) bool) backlogPush {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var b backlogPush
		next(t, ch, time.Until(deadline), &b)
		if ok(b) {
			return b
		}
	}
	t.Fatal("backlog never reached the expected counts")
	return backlogPush{}
}

// Under a burst, backlogChanged is coalesced (a few pushes a second) and the
// last push carries the final counts.
func TestBacklogPushesAreCoalesced(t *testing.T) {
	s := startServer(t, func(c *cfgT) { c.GraphQL.BacklogPushInterval = 250 * time.Millisecond })
	c := dialGraphQL(t, s.URL, "graphql-transport-ws", nil)
	backlog, _ := c.subscribe("1", backlogSub, nil)
	time.Sleep(100 * time.Millisecond)
	before := currentBacklog(t, s)

	const n = 200
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Go(func() {
			no := uniq("B")
			if st, _ := s.send(t, fmt.Sprintf("b%d-%s", i, no), ev("e-"+no, "order.created", "tmall", no, time.Now(), nil)); st != 200 {
				t.Errorf("webhook %d: %d", i, st)
			}
		})
	}
	wg.Wait()
	pushes := 0
	var last backlogPush
	for last.count("CREATED") < before["CREATED"]+n {
		next(t, backlog, 10*time.Second, &last)
		pushes++
	}
	elapsed := time.Since(start)
	if max := int(elapsed/(250*time.Millisecond)) + 2; pushes > max {
		t.Errorf("%d pushes in %s: not coalesced (want <= %d)", pushes, elapsed, max)
	}
	if got, want := last.count("CREATED"), before["CREATED"]+n; got != want {
		t.Errorf("final CREATED count %d, want %d", got, want)
	}
	t.Logf("%d orders -> %d backlog pushes in %s", n, pushes, elapsed)
}

// A client that never reads must not stall the bus for everyone else.
func TestSlowSubscriberDoesNotStallOthers(t *testing.T) {
	s := startServer(t)
	slow := dialGraphQL(t, s.URL, "graphql-transport-ws", nil)
	no := uniq("S")
	for i := range 20 {
		slow.subscribe(fmt.Sprint("s", i), orderSub, map[string]any{"c": "tmall", "n": no})
	}
	slow.conn.UnderlyingConn().(interface{ SetReadBuffer(int) error }).SetReadBuffer(1)
	// Stop reading on the slow client: its pushes pile up in the kernel
	// buffers, then in the server's per-subscription mailbox.
	_ = slow.conn.UnderlyingConn().(interface{ CloseRead() error }).CloseRead()

	fast := dialGraphQL(t, s.URL, "graphql-transport-ws", nil)
	other := uniq("F")
	fastCh, _ := fast.subscribe("f", orderSub, map[string]any{"c": "tmall", "n": other})
	time.Sleep(100 * time.Millisecond)
	for i := range 50 {
		s.send(t, fmt.Sprintf("s%d-%s", i, no), ev(fmt.Sprintf("s%d-%s", i, no), "order.address_changed", "tmall", no, time.Now().Add(time.Duration(i)*time.Second),
			map[string]any{"buyerMessage": strings.Repeat("x", 2000)}))
	}
	s.send(t, "f-"+other, ev("f-"+other, "order.paid", "tmall", other, time.Now(), nil))
	var op orderPush
	next(t, fastCh, 10*time.Second, &op)
	if op.OrderUpdated.Stage != "PAID" {
		t.Fatalf("fast client got %+v", op.OrderUpdated)
	}
}

func TestSubscriptionKeepAlive(t *testing.T) {
	s := startServer(t)
	for proto, kind := range map[string]string{"graphql-transport-ws": "ping", "graphql-ws": "ka"} {
		c := dialGraphQL(t, s.URL, proto, nil)
		c.subscribe("1", backlogSub, nil)
		deadline := time.After(5 * time.Second)
	wait:
		for {
			select {
			case k := <-c.kinds:
				if k == kind {
					break wait
				}
			case <-deadline:
				t.Fatalf("%s: no %q keep-alive within 5s", proto, kind)
			}
		}
	}
}

func TestQueriesAndErrors(t *testing.T) {
	s := startServer(t)
	ch := uniq("Q")
	base := time.Now().Add(-time.Hour)
	var nos []string
	for i := range 5 {
		no := fmt.Sprintf("%s-%d", ch, i)
		nos = append(nos, no)
		s.send(t, "q-"+no, ev("q-"+no, "order.paid", ch, no, base.Add(time.Duration(i)*time.Minute), nil))
	}
	waitStage(t, s, ch, nos[4], "PAID")

	// Cursor pagination over a channel, newest first.
	var seen []string
	after := any(nil)
	for page := 0; page < 5; page++ {
		data, errs := s.gql(t, `query($ch:String,$after:String){ orders(filter:{channel:$ch, stage:PAID}, first:2, after:$after){ edges{ cursor node{ orderNo } } pageInfo{ hasNextPage endCursor } } }`,
			map[string]any{"ch": ch, "after": after})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		conn := data["orders"].(map[string]any)
		for _, e := range conn["edges"].([]any) {
			seen = append(seen, e.(map[string]any)["node"].(map[string]any)["orderNo"].(string))
		}
		pi := conn["pageInfo"].(map[string]any)
		if !pi["hasNextPage"].(bool) {
			break
		}
		after = pi["endCursor"]
	}
	if strings.Join(seen, ",") != strings.Join([]string{nos[4], nos[3], nos[2], nos[1], nos[0]}, ",") {
		t.Errorf("pages gave %v", seen)
	}

	// orderById finds the same twin.
	o := waitStage(t, s, ch, nos[0], "PAID")
	data, _ := s.gql(t, `query($id:ID!){ orderById(id:$id){ orderNo } }`, map[string]any{"id": o["id"]})
	if data["orderById"].(map[string]any)["orderNo"] != nos[0] {
		t.Errorf("orderById: %v", data)
	}

	tests := []struct {
		name, query string
		vars        map[string]any
		code        string
	}{
		{"bad cursor", `{ orders(after:"zzz"){ edges{ cursor } } }`, nil, "BAD_USER_INPUT"},
		{"page too big", `{ orders(first:100000){ edges{ cursor } } }`, nil, "BAD_USER_INPUT"},
		{"empty order number", `{ order(channel:"tmall", orderNo:""){ id } }`, nil, "BAD_USER_INPUT"},
		{"unknown field", `{ nope }`, nil, "GRAPHQL_VALIDATION_FAILED"},
		{"syntax", `{ order(`, nil, "GRAPHQL_PARSE_FAILED"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errs := s.gql(t, tc.query, tc.vars)
			if len(errs) == 0 {
				t.Fatal("no error")
			}
			ext, _ := errs[0]["extensions"].(map[string]any)
			if ext["code"] != tc.code {
				t.Errorf("code %v, want %s (%v)", ext["code"], tc.code, errs[0])
			}
		})
	}
	data, errs := s.gql(t, `{ order(channel:"tmall", orderNo:"does-not-exist"){ id } }`, nil)
	if len(errs) > 0 || data["order"] != nil {
		t.Errorf("missing order: %v %v", data, errs)
	}
}

func TestProbesAndMetrics(t *testing.T) {
	s := startServer(t)
	no := uniq("M")
	s.send(t, "m-"+no, ev("m-"+no, "order.paid", "tmall", no, time.Now(), nil))
	s.post(t, "erp", "bad-"+no, time.Now(), []byte(`{}`), newSecret(t))
	waitStage(t, s, "tmall", no, "PAID")

	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		if body := get(t, s.URL+path, 200); !strings.Contains(body, want) {
			t.Errorf("%s: %q", path, body)
		}
	}
	metrics := get(t, s.URL+"/metrics", 200)
	for _, want := range []string{
		`tower_webhooks_total{outcome="accepted",source="erp",status="200"} 1`,
		`tower_webhooks_total{outcome="bad_signature",source="erp",status="401"} 1`,
		`tower_ingest_batch_events_count`, `tower_ingest_commit_seconds_bucket`,
		`tower_events_published_total{topic="order_events_v1"}`,
		`tower_handler_lag_seconds_count{handler="twin_projection"}`,
		`tower_graphql_subscriptions_open`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if body := get(t, s.URL+"/", 200); !strings.Contains(body, "<div id=\"app\"") && !strings.Contains(body, "not built") {
		t.Errorf("/ does not serve the SPA: %.200s", body)
	}
}

func get(t testing.TB, url string, want int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	return string(b)
}

// Shutdown answers what it accepted: every webhook that got a 2xx is stored,
// and nothing is left half-applied.
func TestShutdownKeepsAcknowledgedWebhooks(t *testing.T) {
	s := startServer(t)
	prefix := uniq("G")
	var acked sync.Map
	var sent atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				no := fmt.Sprintf("%s-%d-%d", prefix, w, i)
				body := mustJSON(ev("g-"+no, "order.paid", "tmall", no, time.Now(), nil))
				req, _ := http.NewRequest(http.MethodPost, s.URL+"/webhooks/erp", strings.NewReader(string(body)))
				id := "g-" + no
				ts := time.Now()
				sig, _ := signFor(s.Secret, id, ts, body)
				req.Header.Set("webhook-id", id)
				req.Header.Set("webhook-timestamp", fmt.Sprint(ts.Unix()))
				req.Header.Set("webhook-signature", sig)
				sent.Add(1)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // server gone
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					acked.Store(no, true)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.App.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	n := 0
	acked.Range(func(k, _ any) bool {
		n++
		if c := countRows(t, "order_events", "order_no = ?", k); c != 1 {
			t.Errorf("acknowledged webhook for %s: %d events stored", k, c)
		}
		return true
	})
	if n == 0 {
		t.Fatal("no webhook acknowledged before shutdown")
	}
	t.Logf("%d sent, %d acknowledged before shutdown, all stored", sent.Load(), n)
	// A restarted node finishes projecting what was stored.
	s2 := startServer(t)
	acked.Range(func(k, _ any) bool {
		waitStage(t, s2, "tmall", k.(string), "PAID")
		return false
	})
}

// TestStartFailureShutsDown: a node that cannot listen (the port is taken)
// says so and shuts down at once instead of hanging.
func TestStartFailureShutsDown(t *testing.T) {
	first := startServer(t)
	cfg := config.Default()
	cfg.HTTPAddr = strings.TrimPrefix(first.URL, "http://")
	cfg.DatabaseURL = testDSN
	cfg.Sources = []config.Source{{Name: "erp", Type: "standard", Settings: standard.Settings{Secrets: []string{newSecret(t)}}}}
	noDemo := false
	cfg.Auth.DemoAccounts = &noDemo
	node, err := New(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := node.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("start on a taken port: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- node.Shutdown(context.Background()) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown after a failed start hangs")
	}
}
