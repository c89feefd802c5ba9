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
	bin := filepath.Join(t.TempDir(), "tower")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	for _, backend := range []string{"postgres", "nats"} {
		t.Run(backend, func(t *testing.T) {
			dsn, drop := pgtest.CreateDB(t, "cluster_crash")
			defer drop()
			bus := ""
			if backend == "nats" {
				bus = fmt.Sprintf("bus: nats\nnats_url: %q\nnats_prefix: %q\nnats_ack_wait: 1s\n", natstest.URL(t), natstest.Prefix(t))
			}
			secretBytes := make([]byte, 24)
			_, _ = rand.Read(secretBytes)
			secret := "whsec_" + base64.StdEncoding.EncodeToString(secretBytes)
			var urls []string
			var cmds []*exec.Cmd
			for _, node := range []string{"node-a", "node-b"} {
				file := filepath.Join(t.TempDir(), node+".yaml")
				cfg := fmt.Sprintf("http_addr: \"127.0.0.1:0\"\ndatabase_url: %q\nnode_name: %s\nlog_level: warn\n%sauth: {demo_accounts: false}\nsources:\n  - {name: erp, type: standard, secrets: [%q]}\n",
					dsn, node, bus, secret)
				if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
					t.Fatal(err)
				}
				cmd, url := startBinary(t, bin, file)
				cmds, urls = append(cmds, cmd), append(urls, url)
			}
			survivor := cmds[1]
			defer func() { _ = survivor.Process.Signal(syscall.SIGTERM); _ = survivor.Wait() }()

			var mu sync.Mutex
			acked := map[string]bool{}
			var wg sync.WaitGroup
			ctx, cancel := context.WithCancel(context.Background())
			for w := range 8 {
				wg.Go(func() {
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
							mu.Lock()
							acked[no] = true
							mu.Unlock()
						}
					}
				})
			}
			time.Sleep(700 * time.Millisecond)
			if err := cmds[0].Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmds[0].Wait()
			mu.Lock()
			atKill := len(acked)
			mu.Unlock()
			time.Sleep(500 * time.Millisecond) // the survivor keeps taking webhooks
			cancel()
			wg.Wait()
			if atKill == 0 {
				t.Fatal("nothing acknowledged before the kill")
			}

			db, err := pgtest.Open(dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			bg := context.Background()
			var missing []string
			pgtest.WaitFor(t, 60*time.Second, func() bool {
				var paid []string
				if err := db.NewRaw(`SELECT order_no FROM orders WHERE stage = 'PAID'`).Scan(bg, &paid); err != nil {
					t.Fatal(err)
				}
				have := map[string]bool{}
				for _, no := range paid {
					have[no] = true
				}
				missing = missing[:0]
				for no := range acked {
					if !have[no] {
						missing = append(missing, no)
					}
				}
				return len(missing) == 0
			})
			// Every stored order (acknowledged or not: the kill may have come
			// between commit and answer) is projected, and counted once.
			var unprojected, wrong int
			pgtest.WaitFor(t, 30*time.Second, func() bool {
				if err := db.NewRaw(`SELECT count(DISTINCT e.order_no) FROM order_events e
					LEFT JOIN orders o ON o.channel = e.channel AND o.order_no = e.order_no
					WHERE o.stage IS DISTINCT FROM 'PAID'`).Scan(bg, &unprojected); err != nil {
					t.Fatal(err)
				}
				return unprojected == 0
			})
			pgtest.WaitFor(t, 30*time.Second, func() bool {
				if err := db.NewRaw(`SELECT count(*) FROM (SELECT stage, count(*) AS n FROM orders GROUP BY stage) o
					FULL JOIN stage_counts s USING (stage) WHERE coalesce(o.n, 0) <> coalesce(s.count, 0)`).Scan(bg, &wrong); err != nil {
					t.Fatal(err)
				}
				return wrong == 0
			})
			t.Logf("%s: %d deliveries acknowledged (%d before node A was killed), all in their twins on node B", backend, len(acked), atKill)
		})
	}
}
