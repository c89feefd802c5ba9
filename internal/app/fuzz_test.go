package app

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzE2EIngestIsolation drives the whole ingest path (raw request bytes →
// HTTP handler → verification → parsing → group commit) with arbitrary
// bodies and headers, signed or not, while a correctly signed delivery is
// sent at the same moment: whatever the junk gets, the good delivery is
// stored and acknowledged, and the junk never gets a 5xx (which would make
// a platform retry it forever).
func FuzzE2EIngestIsolation(f *testing.F) {
	s := startServer(f)
	f.Add([]byte(`{"id":"a","type":"order.paid","occurredAt":"2026-12-01T08:00:00Z","order":{"channel":"web","orderNo":"N\u0000UL"}}`), "X-Note", "ok", true)
	f.Add([]byte("{\"id\":\"b\",\"type\":\"order.paid\",\"occurredAt\":\"2026-12-01T08:00:00Z\",\"order\":{\"channel\":\"web\",\"orderNo\":\"\xff\xfe\"}}"), "X-Junk", "\xff\xfe\xc3", true)
	f.Add([]byte(`{"events":[{"id":"c","type":"order.paid","occurredAt":"2026-12-01T08:00:00Z","order":{"channel":"web","orderNo":"`+string(bytes.Repeat([]byte("9"), 40000))+`"}}]}`), "", "", true)
	f.Add([]byte(`{"id":"d"`), "webhook-signature", "v1,AAAA", false)
	f.Add(bytes.Repeat([]byte("A"), 70000), "X-Junk", "\x00", false)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, body []byte, hName, hValue string, signed bool) {
		i := n.Add(1)
		junk, err := http.NewRequest("POST", s.URL+"/webhooks/erp", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		junk.Header.Set("Content-Type", "application/json")
		if hName != "" {
			junk.Header[hName] = []string{hValue}
		}
		if signed {
			id := "fz-" + strconv.FormatInt(i, 10) + "-" + uniq("")
			ts := time.Now()
			sig, err := signFor(s.Secret, id, ts, body)
			if err != nil {
				t.Fatal(err)
			}
			junk.Header.Set("webhook-id", id)
			junk.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
			junk.Header.Set("webhook-signature", sig)
		}
		no := uniq("FZ")
		good, _ := json.Marshal(ev("good-"+no, "order.paid", "fuzz", no, time.Now(), nil))
		var wg sync.WaitGroup
		var junkStatus int
		wg.Go(func() {
			resp, err := http.DefaultClient.Do(junk)
			if err != nil {
				return // the client refused to send it (bad header bytes): nothing reached us
			}
			resp.Body.Close()
			junkStatus = resp.StatusCode
		})
		code, out := s.post(t, "erp", "good-"+no, time.Now(), good, s.Secret)
		wg.Wait()
		if code != http.StatusOK || out["accepted"] != float64(1) {
			t.Fatalf("good delivery beside junk: %d %v", code, out)
		}
		if junkStatus >= 500 {
			t.Fatalf("junk delivery answered %d: a platform would retry it forever", junkStatus)
		}
		var stored int
		if err := s.App.DB.QueryRowContext(t.Context(), `SELECT count(*) FROM order_events WHERE source = 'erp' AND event_id = ?`, "good-"+no).Scan(&stored); err != nil || stored != 1 {
			t.Fatalf("good event stored %d times (%v)", stored, err)
		}
	})
}
