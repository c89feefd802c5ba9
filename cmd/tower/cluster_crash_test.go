package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/towerhq/tower/internal/natstest"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/platforms/standard"
)

// Two nodes behind one address; one is killed (SIGKILL) while senders post
// signed webhooks to both. The other node carries on alone: every delivery
// either node acknowledged ends in its twin, and the read models count each
// event once. On both buses: on NATS the dead node's unacknowledged
// deliveries come back after the ack wait, and what it committed to the
// outbox but never forwarded is forwarded by the survivor.
func TestNodeKilledInClusterLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	bin := buildBinary(t)
	for _, backend := range []string{"postgres", "nats"} {
		t.Run(backend, func(t *testing.T) {
			c := startPair(t, bin, backend, "1s")
			defer c.stop()
			l := startLoad(c.secret, c.urls)
			time.Sleep(700 * time.Millisecond)
			c.kill()
			atKill := len(l.acked())
			time.Sleep(500 * time.Millisecond) // the survivor keeps taking webhooks
			l.stop()
			if atKill == 0 {
				t.Fatal("nothing acknowledged before the kill")
			}
			acked := l.acked()
			bg := context.Background()
			var missing []string
			pgtest.WaitFor(t, 60*time.Second, func() bool {
				var err error
				if missing, err = c.unpaid(bg, acked); err != nil {
					t.Fatal(err)
				}
				return len(missing) == 0
			})
			// Every stored order (acknowledged or not: the kill may have come
			// between commit and answer) is projected, and counted once.
			var unprojected, wrong int
			pgtest.WaitFor(t, 30*time.Second, func() bool {
				if err := c.db.NewRaw(`SELECT count(DISTINCT e.order_no) FROM order_events e
					LEFT JOIN orders o ON o.channel = e.channel AND o.order_no = e.order_no
					WHERE o.stage IS DISTINCT FROM 'PAID'`).Scan(bg, &unprojected); err != nil {
					t.Fatal(err)
				}
				return unprojected == 0
			})
			pgtest.WaitFor(t, 30*time.Second, func() bool {
				if err := c.db.NewRaw(`SELECT count(*) FROM (SELECT stage, count(*) AS n FROM orders GROUP BY stage) o
					FULL JOIN stage_counts s USING (stage) WHERE coalesce(o.n, 0) <> coalesce(s.count, 0)`).Scan(bg, &wrong); err != nil {
					t.Fatal(err)
				}
				return wrong == 0
			})
			t.Logf("%s: %d deliveries acknowledged (%d before node A was killed), all in their twins on node B", backend, len(acked), atKill)
		})
	}
}

// BenchmarkFailover: how long after a node is killed (SIGKILL) mid-stream
// every delivery either node acknowledged is in its twin, with the bus's
// production settings (on NATS the default ack wait, 10 s, after which the
// dead node's deliveries go to the survivor). Reported as recovery_s.
func BenchmarkFailover(b *testing.B) {
	bin := buildBinary(b)
	for _, backend := range []string{"postgres", "nats"} {
		b.Run(backend, func(b *testing.B) {
			var total time.Duration
			for range b.N {
				c := startPair(b, bin, backend, "")
				l := startLoad(c.secret, c.urls)
				time.Sleep(time.Second)
				c.kill()
				killed := time.Now()
				time.Sleep(200 * time.Millisecond)
				l.stop()
				acked := l.acked()
				bg := context.Background()
				pgtest.WaitFor(b, 2*time.Minute, func() bool {
					missing, err := c.unpaid(bg, acked)
					if err != nil {
						b.Fatal(err)
					}
					return len(missing) == 0
				})
				total += time.Since(killed)
				c.stop()
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "recovery_s")
		})
	}
}

// buildBinary builds tower into a temporary folder.
func buildBinary(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "tower")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		tb.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// pair is two nodes of the binary on one fresh database and bus.
type pair struct {
	secret string
	urls   []string
	cmds   []*exec.Cmd
	db     *bun.DB
	drop   func()
	killed bool
}

// startPair starts node-a and node-b; ackWait sets nats_ack_wait ("" the
// default).
func startPair(tb testing.TB, bin, backend, ackWait string) *pair {
	tb.Helper()
	dsn, drop := pgtest.CreateDB(tb, "cluster_crash")
	bus := ""
	if backend == "nats" {
		bus = fmt.Sprintf("bus: nats\nnats_url: %q\nnats_prefix: %q\n", natstest.URL(tb), natstest.Prefix(tb))
		if ackWait != "" {
			bus += "nats_ack_wait: " + ackWait + "\n"
		}
	}
	secretBytes := make([]byte, 24)
	_, _ = rand.Read(secretBytes)
	c := &pair{secret: "whsec_" + base64.StdEncoding.EncodeToString(secretBytes), drop: drop}
	for _, node := range []string{"node-a", "node-b"} {
		file := filepath.Join(tb.TempDir(), node+".yaml")
		cfg := fmt.Sprintf("http_addr: \"127.0.0.1:0\"\ndatabase_url: %q\nnode_name: %s\nlog_level: warn\n%sauth: {demo_accounts: false}\nsources:\n  - {name: erp, type: standard, secrets: [%q]}\n",
			dsn, node, bus, c.secret)
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			tb.Fatal(err)
		}
		cmd, url := startBinary(tb, bin, file)
		c.cmds, c.urls = append(c.cmds, cmd), append(c.urls, url)
	}
	db, err := pgtest.Open(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	c.db = db
	return c
}

// kill kills node-a with SIGKILL.
func (c *pair) kill() {
	_ = c.cmds[0].Process.Signal(syscall.SIGKILL)
	_ = c.cmds[0].Wait()
	c.killed = true
}

// stop stops the nodes left and drops the database.
func (c *pair) stop() {
	for i, cmd := range c.cmds {
		if i == 0 && c.killed {
			continue
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	_ = c.db.Close()
	c.drop()
}

// unpaid returns the acknowledged orders whose twin is not PAID yet.
func (c *pair) unpaid(ctx context.Context, acked map[string]bool) ([]string, error) {
	var paid []string
	if err := c.db.NewRaw(`SELECT order_no FROM orders WHERE stage = 'PAID'`).Scan(ctx, &paid); err != nil {
		return nil, err
	}
	have := make(map[string]bool, len(paid))
	for _, no := range paid {
		have[no] = true
	}
	var missing []string
	for no := range acked {
		if !have[no] {
			missing = append(missing, no)
		}
	}
	return missing, nil
}

// load is 8 senders posting signed two-event webhooks (created, paid of
// a new order) to the nodes in turn.
type load struct {
	mu     sync.Mutex
	ok     map[string]bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func startLoad(secret string, urls []string) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{ok: map[string]bool{}, cancel: cancel}
	for w := range 8 {
		l.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				no := fmt.Sprintf("N%d-%d", w, i)
				at := time.Now()
				body, _ := json.Marshal(map[string]any{"events": []any{
					map[string]any{"id": "c-" + no, "type": "order.created", "occurredAt": at.Format(time.RFC3339Nano), "order": map[string]any{"channel": "tmall", "orderNo": no}},
					map[string]any{"id": "p-" + no, "type": "order.paid", "occurredAt": at.Add(time.Millisecond).Format(time.RFC3339Nano), "order": map[string]any{"channel": "tmall", "orderNo": no}},
				}})
				ts := time.Now().Unix()
				sig, _ := standard.Sign(secret, "d-"+no, ts, body)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, urls[i%2]+"/webhooks/erp", bytes.NewReader(body))
				req.Header.Set("webhook-id", "d-"+no)
				req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
				req.Header.Set("webhook-signature", sig)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue // the killed node: a load balancer would retry elsewhere
				}
				resp.Body.Close()
				if resp.StatusCode == 200 {
					l.mu.Lock()
					l.ok[no] = true
					l.mu.Unlock()
				}
			}
		})
	}
	return l
}

func (l *load) stop() { l.cancel(); l.wg.Wait() }

// acked returns the orders whose webhook was acknowledged so far.
func (l *load) acked() map[string]bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]bool, len(l.ok))
	for k, v := range l.ok {
		out[k] = v
	}
	return out
}
