package simulator_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/dev/simulator"
	"github.com/towerhq/tower/domain/access"
	"github.com/towerhq/tower/internal/auth"
	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/pgtest"
	"github.com/towerhq/tower/internal/platforms/douyin/douyintest"
	"github.com/towerhq/tower/internal/platforms/platformtest"
	"github.com/towerhq/tower/internal/platforms/standard/standardtest"
	"github.com/towerhq/tower/internal/platforms/tmall/tmalltest"
)

// TestScreenshots fills a node with a simulated live-stream day that ends
// now, logs into the SPA as each role in zh-CN and saves each view as a
// PNG under docs/screenshots (linked from the README), printing how long
// every view took to show its figures. make test runs it with the other
// browser tests (TOWER_BROWSER_TESTS=1).
func TestScreenshots(t *testing.T) {
	if os.Getenv("TOWER_BROWSER_TESTS") == "" {
		t.Skip("set TOWER_BROWSER_TESTS=1 (make test does) to run the browser tests")
	}
	webapp, _ := filepath.Abs("../../webapp")
	for _, need := range []string{"node_modules/playwright-core", "dist/index.html"} {
		if _, err := os.Stat(filepath.Join(webapp, need)); err != nil {
			t.Fatalf("webapp/%s missing: run `make webapp` first (%v)", need, err)
		}
	}
	dsn, drop := pgtest.CreateDB(t, "screenshots")
	t.Cleanup(drop)
	ctx := context.Background()
	// The channels' order-list APIs, fed as the day is played, for the
	// node's reconciliation.
	state := simulator.NewChannelState()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	// Simulation mode: the server's clock runs with the simulated day (so
	// deadlines fall due in simulated time, not all at once in a replay of
	// the past) and arrives at the present when the play ends.
	n := newSimNode(t, dsn, "http://"+ln.Addr().String(), func(c *config.Config) { c.Mode = "simulation" })
	fake := &http.Server{Handler: platformtest.NewMux(state.Store, nil,
		douyintest.OrderList("7000000000000000001", "douyin-secret"),
		tmalltest.OrderList("23456789", "tmall-secret"),
		standardtest.OrderList(n.mpSecret))}
	go func() { _ = fake.Serve(ln) }()
	t.Cleanup(func() { _ = fake.Close() })

	// A day whose live-stream burst is the last hour before now, so that
	// "today" on every view has figures (the views count in the browser's
	// present, not the simulated day's).
	sc := simulator.Defaults()
	sc.Orders, sc.Seed = 800, 11
	sc.Duration = 6 * time.Hour
	sc.Start = time.Now().Add(-sc.Duration).Truncate(time.Minute)
	sc.BurstAt = sc.Duration - time.Hour
	sc.Faults.StallFrom, sc.Faults.StallTo = sc.Duration-50*time.Minute, sc.Duration
	plan := simulator.Generate(sc)
	admin, _, err := n.node.Auth.CreateToken(ctx, auth.NewToken{Name: "screenshots", Role: access.Admin}, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TOWER_TOKEN", admin)
	// 6 simulated hours in 36 s: slow enough that the pipeline's own
	// sub-second lag stays below the shortest deadline (10 simulated
	// minutes = 1 s), which a faster clock would turn into false alarms.
	const speed = 600
	if ok, err := simulator.SyncClock(ctx, n.url, sc.Start, speed); err != nil || !ok {
		t.Fatalf("sync the server's clock: ok=%v err=%v", ok, err)
	}
	played := time.Now()
	player := &simulator.Player{Plan: plan, BaseURL: n.url, Route: n.routes.Route, Speed: speed, Workers: 8, Log: n.log,
		Until: time.Now(), OnPlayed: func(s simulator.Send, _ bool, at time.Time) { state.Remember(s.Event, at) }}
	if err := player.Play(ctx); err != nil {
		t.Fatal(err)
	}
	// Let the projection catch up: every stored event on a twin.
	caught := time.Now()
	pgtest.WaitFor(t, 120*time.Second, func() bool {
		var pending int
		_ = n.node.DB.NewRaw(`SELECT count(*) FROM watermill_order_events_v1 m, watermill_offsets_order_events_v1 o
			WHERE o.consumer_group = 'twin-projection' AND (m.transaction_id, m."offset") > (o.last_processed_transaction_id, o.offset_acked)`).Scan(ctx, &pending)
		return pending == 0
	})
	t.Logf("projection caught up %s after the play", time.Since(caught).Round(100*time.Millisecond))
	// Back to real time, at the present.
	if ok, err := simulator.SyncClock(ctx, n.url, time.Now(), 1); err != nil || !ok {
		t.Fatalf("reset the server's clock: ok=%v err=%v", ok, err)
	}
	st := player.Stats()
	if st.Failed+st.Refused != 0 {
		t.Fatalf("pushes failed %d, refused %d", st.Failed, st.Refused)
	}
	t.Logf("played %d pushes of %d orders in %s (the day's schedule: %s)", st.Sent, len(plan.Orders),
		time.Since(played).Round(time.Second), (sc.Duration / speed).Round(time.Second))

	// What the views will show, for the reader of the log.
	var cnt struct{ Tagged, Alerted, Created int }
	if err := n.node.DB.NewRaw(`SELECT (SELECT count(*) FROM orders WHERE tags <> '{}') AS tagged,
		(SELECT count(DISTINCT (channel, order_no)) FROM alerts WHERE state <> 'RESOLVED') AS alerted,
		(SELECT count(*) FROM orders) AS created`).Scan(ctx, &cnt); err != nil {
		t.Fatal(err)
	}
	var rules []struct {
		Rule string
		N    int
	}
	if err := n.node.DB.NewRaw(`SELECT rule, count(*) AS n FROM alerts GROUP BY 1 ORDER BY 2 DESC`).Scan(ctx, &rules); err != nil {
		t.Fatal(err)
	}
	t.Logf("orders %d, tagged %d, with open alerts %d; alerts by rule: %v", cnt.Created, cnt.Tagged, cnt.Alerted, rules)

	accounts := map[string]map[string]string{}
	for _, r := range access.Roles {
		var scopes access.Scopes
		if r == access.Warehouse {
			scopes, _ = access.ParseScopes([]string{"warehouse=HZ-01"})
		}
		name, pw := "demo-"+r.String(), "screenshot password "+r.String()
		if _, err := n.node.Auth.CreateUser(ctx, auth.NewUser{Name: name, Role: r, Scopes: scopes, Password: pw}, "test"); err != nil {
			t.Fatal(err)
		}
		accounts[r.String()] = map[string]string{"name": name, "password": pw}
	}
	raw, _ := json.Marshal(accounts)
	dir, _ := filepath.Abs("../../docs/screenshots")
	runCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(runCtx, "node", "e2e/screenshots.mjs")
	cmd.Dir = webapp
	cmd.Env = append(os.Environ(), "TOWER_URL="+n.url, "TOWER_ACCOUNTS="+string(raw), "SCREENSHOT_DIR="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	sc2 := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc2.Scan() {
		if line, ok := strings.CutPrefix(sc2.Text(), "LOADTIME "); ok {
			var v struct {
				View   string
				Path   string
				LoadMs int
			}
			_ = json.Unmarshal([]byte(line), &v)
			t.Logf("view %-16s %-20s shows its figures %5d ms after navigation", v.View, v.Path, v.LoadMs)
		}
	}
	if err != nil {
		t.Fatalf("screenshots: %v\n%s", err, out.String())
	}
}
