package main

import (
	"bufio"
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
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/platforms/standard"
)

// A webhook ingested while the process is killed (SIGKILL, no chance to
// clean up) is either fully there after a restart (event, audit row, bus
// message and, once projected, its twin) or was never acknowledged.
func TestKilledMidIngestLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real binary")
	}
	dsn, drop := pgtest.CreateDB(t, "crash")
	defer drop()
	bin := filepath.Join(t.TempDir(), "tower")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	secretBytes := make([]byte, 24)
	_, _ = rand.Read(secretBytes)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(secretBytes)
	cfgFile := filepath.Join(t.TempDir(), "tower.yaml")
	cfg := fmt.Sprintf("http_addr: \"127.0.0.1:0\"\ndatabase_url: %q\nlog_level: warn\nauth: {demo_accounts: false}\nsources:\n  - {name: erp, type: standard, secrets: [%q]}\n", dsn, secret)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}

	cmd, url := startBinary(t, bin, cfgFile)
	var mu sync.Mutex
	acked := map[string]bool{}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				no := fmt.Sprintf("K%d-%d", w, i)
				body, _ := json.Marshal(map[string]any{"events": []any{
					map[string]any{"id": "c-" + no, "type": "order.created", "occurredAt": time.Now().Format(time.RFC3339Nano), "order": map[string]any{"channel": "tmall", "orderNo": no}},
					map[string]any{"id": "p-" + no, "type": "order.paid", "occurredAt": time.Now().Format(time.RFC3339Nano), "order": map[string]any{"channel": "tmall", "orderNo": no}},
				}})
				ts := time.Now().Unix()
				sig, _ := standard.Sign(secret, "d-"+no, ts, body)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/webhooks/erp", bytes.NewReader(body))
				req.Header.Set("webhook-id", "d-"+no)
				req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
				req.Header.Set("webhook-signature", sig)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return
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
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	cancel()
	wg.Wait()
	if len(acked) == 0 {
		t.Fatal("nothing acknowledged before the kill")
	}

	db, err := pgtest.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bg := context.Background()
	// Every acknowledged delivery is fully stored.
	var stored []string
	if err := db.NewSelect().Table("order_events").ColumnExpr("DISTINCT order_no").Scan(bg, &stored); err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, no := range stored {
		have[no] = true
	}
	for no := range acked {
		if !have[no] {
			t.Errorf("acknowledged order %s lost", no)
		}
	}
	// Nothing half-applied: each stored order has both events, an audit row
	// and is on the bus.
	var half int
	if err := db.NewRaw(`SELECT count(*) FROM (SELECT order_no FROM order_events GROUP BY order_no HAVING count(*) <> 2) x`).Scan(bg, &half); err != nil {
		t.Fatal(err)
	}
	if half != 0 {
		t.Errorf("%d orders half-stored", half)
	}
	var onBus int
	if err := db.NewRaw(`SELECT count(*) FROM watermill_order_events_v1, json_array_elements(payload->'events') e`).Scan(bg, &onBus); err != nil {
		t.Fatal(err)
	}
	if onBus != 2*len(stored) {
		t.Errorf("%d events on the bus, want %d", onBus, 2*len(stored))
	}

	// After a restart the projection catches up on everything stored.
	cmd2, _ := startBinary(t, bin, cfgFile)
	defer func() { _ = cmd2.Process.Signal(syscall.SIGTERM); _ = cmd2.Wait() }()
	pgtest.WaitFor(t, 30*time.Second, func() bool {
		var n int
		_ = db.NewRaw(`SELECT count(*) FROM orders WHERE stage = 'PAID'`).Scan(bg, &n)
		return n == len(stored)
	})
	t.Logf("killed with %d deliveries acknowledged; %d stored, all projected after restart", len(acked), len(stored))
}

// startBinary runs `tower serve` and returns once it prints its URL.
func startBinary(t testing.TB, bin, cfgFile string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--config", cfgFile)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if _, u, ok := strings.Cut(sc.Text(), "Tower is running: "); ok {
				urls <- strings.TrimSpace(u)
			}
		}
	}()
	select {
	case u := <-urls:
		return cmd, u
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("tower did not start:\n%s", stderr.String())
	}
	return nil, ""
}
