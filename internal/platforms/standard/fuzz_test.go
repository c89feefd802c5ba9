package standard

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/ingest/pgtext"
	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/reconcile/pull"
	"github.com/towerhq/tower/internal/reconcile/pull/pulltest"
)

func FuzzParseBody(f *testing.F) {
	f.Add(readTestdata(f, "single.json"))
	f.Add(readTestdata(f, "batch.json"))
	f.Add(mustJSON(validEvent(1)))
	f.Add(batchBody(validEvent(1), validEvent(2)))
	f.Add([]byte(`{"id":"e","type":"wms.packed","occurredAt":"2026-11-24T20:00:00.123456789-03:30","order":{"channel":"c","orderNo":"1"},"data":{"amount":0.5,"warehouse":"W"}}`))
	f.Add([]byte(`{"events":[{"id":"e","type":"courier.failed","occurredAt":"0001-01-01T00:00:01Z","order":{"channel":"c","orderNo":"1"},"data":{"items":[],"receiver":{}}}]}`))
	f.Add([]byte(`{"events":[]}`))
	f.Add([]byte(`{"id":"x",}`))
	f.Add([]byte(vecBody))
	f.Add([]byte(`{"id":"e","type":"wms.packed","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"c","orderNo":"1\u0000"}}`))
	f.Add([]byte("{\"id\":\"e\",\"type\":\"wms.packed\",\"occurredAt\":\"2026-11-24T20:00:00Z\",\"order\":{\"channel\":\"c\",\"orderNo\":\"\xff\"}}"))
	s := mustNew(f, Config{Name: "erp", Secrets: []string{vecSecret}, MaxEvents: 50}, clockAt(vecTS))
	f.Fuzz(func(t *testing.T, body []byte) {
		// What the fast path answers, the exact path answers the same.
		if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) > 0 && trimmed[0] == '{' {
			if path, _ := textProblem(body); path == "" {
				if fast, ok := s.fastParse(body); ok {
					exact, err := s.parseExact(body, trimmed)
					if err != nil || !sameEvents(fast, exact) {
						t.Fatalf("fast path gave %s, exact path %s, %v", mustJSON(fast), mustJSON(exact), err)
					}
				}
			}
		}
		events, err := s.ParseBody(body)
		if err != nil {
			if !errors.Is(err, platforms.ErrMalformed) {
				t.Fatalf("error %q does not wrap ErrMalformed", err)
			}
			return
		}
		if len(events) == 0 || len(events) > 50 {
			t.Fatalf("%d events", len(events))
		}
		for i := range events {
			if err := events[i].Validate(); err != nil {
				t.Fatalf("event %d invalid: %v", i, err)
			}
			if events[i].Source != "erp" || events[i].Recovered {
				t.Fatalf("event %d: source %q recovered %v", i, events[i].Source, events[i].Recovered)
			}
		}
		// Accepted means storable as it is: nothing for the store to alter.
		if err := pgtext.Check(events); err != nil {
			t.Fatalf("accepted text PostgreSQL cannot store: %v", err)
		}
		// What parsed re-marshals (as a batch and, for one event, alone)
		// and re-parses to the same events.
		bodies := [][]byte{mustJSON(map[string][]order.Event{"events": events})}
		if len(events) == 1 {
			bodies = append(bodies, mustJSON(events[0]))
		}
		for _, b := range bodies {
			again, err := s.ParseBody(b)
			if err != nil {
				t.Fatalf("re-parse of %s: %v", b, err)
			}
			if !sameEvents(events, again) {
				t.Fatalf("round trip changed events\nfirst %s\nagain %s", mustJSON(events), mustJSON(again))
			}
		}
	})
}

func FuzzParseSignatureHeader(f *testing.F) {
	f.Add(vecSig)
	f.Add(vecSig + " v1," + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	f.Add("v1a,abc " + vecSig)
	f.Add("v1,")
	f.Add("v1,====")
	f.Add("")
	f.Fuzz(func(t *testing.T, h string) {
		sigs, err := ParseSignatureHeader(h)
		if err != nil {
			if sigs != nil {
				t.Fatal("signatures returned with an error")
			}
			return
		}
		if len(sigs) == 0 {
			t.Fatal("no signatures and no error")
		}
		entries := make([]string, len(sigs))
		for i, s := range sigs {
			if len(s) != 32 {
				t.Fatalf("signature %d is %d bytes", i, len(s))
			}
			entries[i] = "v1," + base64.StdEncoding.EncodeToString(s)
		}
		again, err := ParseSignatureHeader(strings.Join(entries, " "))
		if err != nil || len(again) != len(sigs) {
			t.Fatalf("re-parse: %d sigs, %v", len(again), err)
		}
		for i := range sigs {
			if !bytes.Equal(sigs[i], again[i]) {
				t.Fatalf("signature %d changed", i)
			}
		}
	})
}

// FuzzDecodeListPage: any order-list answer decodes to sound snapshots or a
// refusal, never a panic.
func FuzzDecodeListPage(f *testing.F) {
	pulltest.FuzzDecode(f, "miniprogram", []string{
		`{"orders":[{"orderNo":"MP1","status":"refunded","createdAt":"2026-11-11T21:00:00+08:00","paidAt":"2026-11-11T21:01:00+08:00","cancelledAt":null,"refundedAt":"2026-11-11T22:00:00+08:00","amount":"129.90","updatedAt":"2026-11-11T22:00:00+08:00"}],"nextCursor":"abc"}`,
		`{"orders":[],"nextCursor":null}`,
		`{"orders":[{"orderNo":"MP2","amount":12,"updatedAt":"2026-11-11T22:00:00Z"}]}`,
		`{"orders":[{"orderNo":"MP3","amount":"-1","updatedAt":"2026-11-11T22:00:00Z"}]}`,
		`{"orders":[{"orderNo":"","updatedAt":"0001-01-01T00:00:00Z"}]}`,
		`{}`, `null`, `{"orders":null}`, ``,
	}, func(body []byte) ([]pull.Snapshot, error) {
		p, err := decodePage(body)
		return p.snaps, err
	})
}
