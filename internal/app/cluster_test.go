package app

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/natstest"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/platforms/standard"
)

// busBackends are the buses the several-node tests run on: name and the
// settings that select it (a NATS bus gets a namespace of its own).
func busBackends() []struct {
	name string
	cfg  func(t *testing.T) func(*cfgT)
} {
	return []struct {
		name string
		cfg  func(t *testing.T) func(*cfgT)
	}{
		{"postgres", func(*testing.T) func(*cfgT) { return func(*cfgT) {} }},
		{"nats", func(t *testing.T) func(*cfgT) {
			url, prefix := natstest.URL(t), natstest.Prefix(t)
			return func(c *cfgT) {
				c.Bus, c.NATSURL, c.NATSPrefix = "nats", url, prefix
				// A node that dies hands its deliveries on within a second.
				c.NATSAckWait = time.Second
			}
		}},
	}
}

// startCluster starts two nodes on the package's database and one bus,
// sharing the webhook secret as a load balancer's nodes would.
func startCluster(t *testing.T, bus func(*cfgT), more ...func(*cfgT)) (a, b *testServer) {
	t.Helper()
	a = startServer(t, append([]func(*cfgT){bus, func(c *cfgT) { c.NodeName = "node-a" }}, more...)...)
	b = startServer(t, append([]func(*cfgT){bus, func(c *cfgT) {
		c.NodeName = "node-b"
		c.Sources[0].Settings = standard.Settings{Secrets: []string{a.Secret}}
	}}, more...)...)
	b.Secret = a.Secret
	return a, b
}

// orderView is what the tests compare of a twin: what a user sees.
type orderView struct {
	Stage    string
	Tags     []string
	Systems  []struct{ System, Status string }
	Timeline []struct{ Type, Source string }
}

func viewOf(t *testing.T, s *testServer, channel, no string) orderView {
	t.Helper()
	data, errs := s.gql(t, `query($c:String!,$n:String!){order(channel:$c,orderNo:$n){stage tags systems{system status} timeline{type source}}}`,
		map[string]any{"c": channel, "n": no})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	raw, _ := json.Marshal(data["order"])
	var v orderView
	_ = json.Unmarshal(raw, &v)
	return v
}

// lifecycle is one order's events, in the order they happened.
func lifecycle(prefix, no string, at time.Time) []map[string]any {
	return []map[string]any{
		ev(prefix+"c-"+no, "order.created", "tmall", no, at, map[string]any{"amount": "59.00", "warehouse": "HZ-01"}),
		ev(prefix+"p-"+no, "order.paid", "tmall", no, at.Add(time.Second), nil),
		ev(prefix+"o-"+no, "wms.outbound", "tmall", no, at.Add(2*time.Second), map[string]any{"courier": "SF", "trackingNo": "SF" + prefix + no}),
		ev(prefix+"k-"+no, "courier.collected", "tmall", no, at.Add(3*time.Second), map[string]any{"courier": "SF", "trackingNo": "SF" + prefix + no}),
	}
}

func TestTwoNodes(t *testing.T) {
	for _, backend := range busBackends() {
		t.Run(backend.name, func(t *testing.T) {
			a, b := startCluster(t, backend.cfg(t))

			t.Run("a subscriber on one node sees what the other ingested", func(t *testing.T) {
				c := dialGraphQL(t, b.URL, "graphql-transport-ws", nil)
				no := uniq("X")
				orders, _ := c.subscribe("1", orderSub, map[string]any{"c": "douyin", "n": no})
				time.Sleep(100 * time.Millisecond) // let the subscription register
				start := time.Now()
				if st, body := a.send(t, "x-"+no, ev("p-"+no, "order.paid", "douyin", no, time.Now(), nil)); st != 200 {
					t.Fatalf("webhook at node A: %d %v", st, body)
				}
				var op orderPush
				next(t, orders, 10*time.Second, &op)
				if op.OrderUpdated.Stage != "PAID" {
					t.Fatalf("push on node B: %+v", op.OrderUpdated)
				}
				t.Logf("webhook at A -> push on B in %s", time.Since(start))
			})

			t.Run("orders ingested on both nodes at once end as one node replaying them", func(t *testing.T) {
				const orders, senders = 30, 8
				// Recent: no deadline comes due between two events, which
				// would tag a twin by timing rather than by the events.
				base := time.Now().Add(-time.Minute)
				type post struct {
					s   *testServer
					ev  map[string]any
					key string
				}
				var posts []post
				nos := make([]string, orders)
				for i := range nos {
					nos[i] = uniq("C")
					for j, e := range lifecycle("", nos[i], base.Add(time.Duration(i)*time.Second)) {
						posts = append(posts, post{s: []*testServer{a, b}[(i+j)%2], ev: e, key: fmt.Sprintf("d-%s-%d", nos[i], j)})
					}
				}
				rand.Shuffle(len(posts), func(i, j int) { posts[i], posts[j] = posts[j], posts[i] })
				work := make(chan post)
				var wg sync.WaitGroup
				for range senders {
					wg.Go(func() {
						for p := range work {
							if st, body := p.s.send(t, p.key, p.ev); st != 200 {
								t.Errorf("webhook %s: %d %v", p.key, st, body)
							}
						}
					})
				}
				for _, p := range posts {
					work <- p
				}
				close(work)
				wg.Wait()
				// The same events, in order, on one node.
				for i, no := range nos {
					for j, e := range lifecycle("r", "R"+no, base.Add(time.Duration(i)*time.Second)) {
						if st, body := a.send(t, fmt.Sprintf("r-%s-%d", no, j), e); st != 200 {
							t.Fatalf("replay: %d %v", st, body)
						}
					}
				}
				for _, no := range nos {
					waitStage(t, a, "tmall", "R"+no, "COLLECTED")
					want := viewOf(t, a, "tmall", "R"+no)
					// The stage can be reached before every event is in (a
					// courier scan ahead of the WMS outbound it follows):
					// wait for the whole view, on both nodes, then compare.
					for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
						if reflect.DeepEqual(viewOf(t, a, "tmall", no), want) && reflect.DeepEqual(viewOf(t, b, "tmall", no), want) {
							break
						}
					}
					for _, s := range []*testServer{a, b} {
						if got := viewOf(t, s, "tmall", no); !reflect.DeepEqual(got, want) {
							t.Errorf("%s on %s:\n got  %+v\n want %+v", no, s.App.cfg.NodeName, got, want)
						}
					}
				}
			})

			t.Run("both ready, and the bus backlog drained", func(t *testing.T) {
				for _, s := range []*testServer{a, b} {
					get(t, s.URL+"/readyz", http.StatusOK)
				}
				pgtest.WaitFor(t, 20*time.Second, func() bool {
					data, errs := b.gql(t, `{ systemFigures { topics { topic group unread } } }`, nil)
					if len(errs) > 0 {
						t.Fatal(errs)
					}
					raw, _ := json.Marshal(data["systemFigures"])
					var f struct {
						Topics []struct {
							Topic, Group string
							Unread       int
						}
					}
					_ = json.Unmarshal(raw, &f)
					for _, tp := range f.Topics {
						if tp.Topic == "order_events_v1" && tp.Unread != 0 {
							return false
						}
					}
					return len(f.Topics) > 0
				})
			})

			t.Run("read models count each event once", func(t *testing.T) {
				// Once the bus is quiet, the incrementally kept stage counts
				// equal a count of the twins: no change was applied twice or
				// lost (each twin's timeline holding each event once is
				// checked above).
				pgtest.WaitFor(t, 20*time.Second, func() bool {
					var diff int
					if err := testDB.QueryRowContext(t.Context(), `
						SELECT count(*) FROM (
							SELECT stage, count(*) AS n FROM orders GROUP BY stage
						) o FULL JOIN stage_counts s USING (stage)
						WHERE coalesce(o.n, 0) <> coalesce(s.count, 0)`).Scan(&diff); err != nil {
						t.Fatal(err)
					}
					return diff == 0
				})
			})
		})
	}
}

// A deadline's timer fires on one node only: one alert, one push.
func TestTwoNodesFireTimersOnce(t *testing.T) {
	for _, backend := range busBackends() {
		t.Run(backend.name, func(t *testing.T) {
			a, b := startCluster(t, backend.cfg(t), func(c *cfgT) { c.Mode = "simulation" })
			c := dialGraphQL(t, b.URL, "graphql-transport-ws", nil)
			raised, _ := c.subscribe("r", `subscription { alertRaised { `+alertFields+` } }`, nil)
			time.Sleep(100 * time.Millisecond)
			no := uniq("T")
			at := time.Now()
			a.send(t, "o-"+no, ev("p-"+no, "order.paid", "tmall", no, at.Add(-time.Minute), nil),
				ev("o-"+no, "wms.outbound", "tmall", no, at, map[string]any{"warehouse": "GZ-03", "courier": "SF", "trackingNo": "SF" + no}))
			waitStage(t, a, "tmall", no, "OUTBOUND")
			// Both nodes' clocks run fast, so both would fire the timer.
			for _, s := range []*testServer{a, b} {
				if _, errs := s.gql(t, `mutation { setClockSpeed(speed: 1200){ speed } }`, nil); len(errs) > 0 {
					t.Fatal(errs)
				}
			}
			got := nextAlert(t, raised, "alertRaised", no)
			if got.Rule != "outbound_not_collected" {
				t.Fatalf("alert %+v", got)
			}
			// Give a second firing every chance to happen.
			time.Sleep(time.Second)
			var n int
			if err := testDB.QueryRowContext(t.Context(), `SELECT count(*) FROM alerts WHERE order_no = ? AND rule = 'outbound_not_collected'`, no).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n != 1 {
				t.Errorf("%d alerts raised for one deadline, want 1", n)
			}
			for {
				select {
				case raw := <-raised:
					var p map[string]alertPush
					_ = json.Unmarshal(raw, &p)
					if p["alertRaised"].Order.OrderNo == no && p["alertRaised"].Rule == "outbound_not_collected" {
						t.Errorf("raised twice: %s", raw)
					}
					continue
				default:
				}
				break
			}
		})
	}
}
