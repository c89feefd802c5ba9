package app

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// countRows counts rows matching where in table.
func countRows(t testing.TB, table, where string, args ...any) int {
	t.Helper()
	n, err := testDB.NewSelect().Table(table).Where(where, args...).Count(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func TestWebhookAnswers(t *testing.T) {
	s := startServer(t, func(c *cfgT) { c.Ingest.MaxBodyBytes = 8 << 10 })
	now := time.Now()
	good := func(no string) []byte {
		return mustJSON(ev("evt-"+no, "order.paid", "douyin", no, now, map[string]any{"amount": "10.00"}))
	}

	tests := []struct {
		name       string
		id         string // webhook-id; "" sends no signature headers
		ts         time.Time
		secret     string
		body       func(no string) []byte
		wantStatus int
		wantCode   string
		wantField  string
	}{
		{"valid", "msg-ok", now, "", good, 200, "", ""},
		{"no signature headers", "", now, "", good, 401, "BAD_SIGNATURE", ""},
		{"wrong secret", "msg-bad", now, newSecret(t), good, 401, "BAD_SIGNATURE", ""},
		{"stale timestamp", "msg-old", now.Add(-6 * time.Minute), "", good, 401, "BAD_SIGNATURE", ""},
		{"future timestamp", "msg-new", now.Add(6 * time.Minute), "", good, 401, "BAD_SIGNATURE", ""},
		{"malformed JSON", "msg-json", now, "", func(string) []byte { return []byte(`{"id": "x",`) }, 400, "MALFORMED", ""},
		{"unknown type", "msg-type", now, "", func(no string) []byte {
			return mustJSON(map[string]any{"events": []any{
				ev("a-"+no, "order.paid", "douyin", no, now, nil),
				ev("b-"+no, "order.teleported", "douyin", no, now, nil),
			}})
		}, 400, "MALFORMED", "events[1].type"},
		{"missing order number", "msg-order", now, "", func(no string) []byte {
			return mustJSON(ev("c-"+no, "order.paid", "douyin", "", now, nil))
		}, 400, "MALFORMED", "order.orderNo"},
		{"too large", "msg-big", now, "", func(no string) []byte {
			e := ev("d-"+no, "order.paid", "douyin", no, now, map[string]any{"buyerMessage": strings.Repeat("大", 4000)})
			return mustJSON(e)
		}, 413, "TOO_LARGE", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			no := uniq("W")
			secret := s.Secret
			if tc.secret != "" {
				secret = tc.secret
			}
			deliveryID := ""
			if tc.id != "" {
				deliveryID = tc.id + "-" + no
			}
			status, body := s.post(t, "erp", deliveryID, tc.ts, tc.body(no), secret)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d (%v)", status, tc.wantStatus, body)
			}
			events := countRows(t, "order_events", "order_no = ?", no)
			if tc.wantStatus != 200 {
				errObj, _ := body["error"].(map[string]any)
				if errObj["code"] != tc.wantCode {
					t.Errorf("code %v, want %s (%v)", errObj["code"], tc.wantCode, body)
				}
				if tc.wantField != "" && errObj["field"] != tc.wantField {
					t.Errorf("field %v, want %s", errObj["field"], tc.wantField)
				}
				if events != 0 {
					t.Errorf("%d events stored for a refused delivery", events)
				}
			} else if events != 1 {
				t.Errorf("%d events stored, want 1", events)
			}
			// Every delivery, refused or not, leaves exactly one audit row.
			if tc.id != "" {
				if n := countRows(t, "webhook_deliveries", "delivery_id = ? AND status = ?", deliveryID, tc.wantStatus); n != 1 {
					t.Errorf("%d audit rows with status %d, want 1", n, tc.wantStatus)
				}
			}
		})
	}

	t.Run("unknown source", func(t *testing.T) {
		status, _ := s.post(t, "nope", "msg-x", now, good("X"), s.Secret)
		if status != 404 {
			t.Fatalf("status %d, want 404", status)
		}
	})
}

func TestWebhookDuplicatesHaveOneEffect(t *testing.T) {
	s := startServer(t)
	no := uniq("D")
	now := time.Now()
	body := mustJSON(ev("evt-"+no, "order.paid", "tmall", no, now, nil))

	// The same delivery twice (a retry), then the same event in a new delivery.
	for i, id := range []string{"m1-" + no, "m1-" + no, "m2-" + no} {
		status, resp := s.post(t, "erp", id, now, body, s.Secret)
		if status != 200 {
			t.Fatalf("delivery %d: status %d", i, status)
		}
		wantAccepted := 0.0
		if i == 0 {
			wantAccepted = 1
		}
		if resp["accepted"] != wantAccepted {
			t.Errorf("delivery %d: accepted %v, want %v", i, resp["accepted"], wantAccepted)
		}
	}
	if n := countRows(t, "order_events", "order_no = ?", no); n != 1 {
		t.Fatalf("%d events stored, want 1", n)
	}
	if n := countRows(t, "webhook_deliveries", "delivery_id LIKE ?", "%-"+no); n != 3 {
		t.Fatalf("%d deliveries audited, want 3", n)
	}
	waitStage(t, s, "tmall", no, "PAID")
	var version int
	if err := testDB.NewSelect().Table("orders").Column("version").Where("order_no = ?", no).Scan(context.Background(), &version); err != nil {
		t.Fatal(err)
	}
	if version != 1 {
		t.Errorf("twin written %d times, want once", version)
	}
}

// waitStage waits until the order's twin reaches stage, via the API.
func waitStage(t testing.TB, s *testServer, channel, no, stage string) map[string]any {
	t.Helper()
	var last map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		data, errs := s.gql(t, `query($c:String!,$n:String!){order(channel:$c,orderNo:$n){id stage tags systems{system status} timeline{type source eventId}}}`,
			map[string]any{"c": channel, "n": no})
		if len(errs) > 0 {
			t.Fatalf("graphql: %v", errs)
		}
		if o, ok := data["order"].(map[string]any); ok {
			last = o
			if o["stage"] == stage {
				return o
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("order %s/%s did not reach %s; last %v", channel, no, stage, last)
	return nil
}

func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := jsonEncoder(&b)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}
