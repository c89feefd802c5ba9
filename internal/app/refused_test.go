package app

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/config"
	"github.com/towerhq/tower/internal/platforms/standard"
)

// TestRefusedFloodIsBounded: anonymous senders flooding a source with
// unsigned 60 KiB bodies (headers full of bytes that are not UTF-8) are
// all refused, only a few of their deliveries are audited and those
// without their bodies past the first KiB, while correctly signed
// webhooks sent at the same moment are all stored.
func TestRefusedFloodIsBounded(t *testing.T) {
	flood := "flood" + uniq("")
	secret := newSecret(t)
	s := startServer(t, func(c *config.Config) {
		c.Sources = append(c.Sources, config.Source{Name: flood, Type: "standard", Settings: standard.Settings{Secrets: []string{secret}}})
	})
	body := bytes.Repeat([]byte("A"), 60<<10)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for w := range 8 {
		wg.Go(func() {
			for i := range 50 {
				req, _ := http.NewRequest("POST", s.URL+"/webhooks/"+flood, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Junk", "\xff\xfe"+strings.Repeat("\xc3", 10)+fmt.Sprint(w, i))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
				mu.Lock()
				statuses[resp.StatusCode]++
				mu.Unlock()
			}
		})
	}
	ch := uniq("FL")
	var signedBad []int
	for i := range 100 {
		id := fmt.Sprintf("fl-%s-%d", ch, i)
		code, _ := s.send(t, id, ev(id, "order.paid", ch, fmt.Sprintf("%s-%d", ch, i), time.Now(), nil))
		if code != http.StatusOK {
			signedBad = append(signedBad, code)
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	if len(signedBad) > 0 {
		t.Errorf("signed webhooks during the flood answered %v", signedBad)
	}
	if statuses[http.StatusUnauthorized] != 400 {
		t.Errorf("unsigned deliveries answered %v, want 400 × 401", statuses)
	}
	var rows, maxBody, withSize int
	if err := s.App.DB.QueryRowContext(t.Context(), `SELECT count(*), coalesce(max(length(body)), 0), count(*) FILTER (WHERE headers->>':body-bytes' = '61440' AND length(headers->>':body-sha256') = 64)
		FROM webhook_deliveries WHERE source = ? AND NOT verified`, flood).Scan(&rows, &maxBody, &withSize); err != nil {
		t.Fatal(err)
	}
	// One remote address: a fifth of the source's allowance (burst 10,
	// then 1 a second).
	if limit := 10 + int(elapsed.Seconds()) + 1; rows > limit || rows == 0 {
		t.Errorf("%d refused deliveries audited in %s, want 1..%d", rows, elapsed.Round(time.Millisecond), limit)
	}
	if maxBody > 1024 || withSize != rows {
		t.Errorf("audited bodies up to %d bytes, %d of %d rows note the size and hash sent", maxBody, withSize, rows)
	}
	if unaudited := metricSum(t, s, "tower_webhooks_refused_unaudited_total"); unaudited != float64(400-rows) {
		t.Errorf("unaudited refusals counted %v, want %d", unaudited, 400-rows)
	}
	t.Logf("flood: 400 unsigned 60 KiB deliveries in %s, %d audited (≤1 KiB each)", elapsed.Round(time.Millisecond), rows)
}

// metricSum adds up every series of a counter on the node's /metrics.
func metricSum(t testing.TB, s *testServer, name string) float64 {
	t.Helper()
	resp, err := http.Get(s.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}
