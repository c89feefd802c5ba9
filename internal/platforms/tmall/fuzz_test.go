package tmall

import (
	"errors"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/reconcile/pull"
	"github.com/towerhq/tower/internal/reconcile/pull/pulltest"
)

func FuzzParseBody(f *testing.F) {
	f.Add(readTestdata(f, "batch.json"))
	f.Add(readTestdata(f, "single.json"))
	f.Add([]byte(vecBody))
	f.Add([]byte(msg("9", "taobao_trade_TradeCloseAndModifyDetailOrder", "2026-11-24 20:00:00.25", `{"tid":"T-1","oid":2,"status":"TRADE_CLOSED"}`)))
	f.Add(batch(msg("1", "taobao_refund_RefundCreated", "", `{"tid":1,"refund_fee":0.5,"modified":"2026-11-25 11:00:00"}`), `{"id":"x","topic":"taobao_trade_TradeCreate","user_id":7,"content":{"tid":0}}`, `null`))
	f.Add([]byte(`{"id":1,"topic":"taobao_trade_TradeBuyerPay","content":"{\"tid\":1,\"payment\":\"1e3\"}"}`))
	f.Add([]byte(`[]`))
	s := vecSource(f)
	received := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := s.ParseBody(b, received)
		if err != nil {
			if !errors.Is(err, platforms.ErrMalformed) {
				t.Fatalf("error %q does not wrap ErrMalformed", err)
			}
			return
		}
		if id := deliveryID(b); id != d.ID {
			t.Fatalf("DeliveryID %q, Parse %q", id, d.ID)
		}
		for i := range d.Events {
			e := &d.Events[i]
			if err := e.ValidateRef(); err != nil {
				t.Fatalf("event %d invalid: %v", i, err)
			}
			if e.Source != "tm" || e.Order.Channel != "tmall" || e.Order.OrderNo == "" {
				t.Fatalf("event %d: source %q order %v", i, e.Source, e.Order)
			}
		}
		for i, fl := range d.Flagged {
			if fl.Reason == "" {
				t.Fatalf("flag %d has no reason", i)
			}
		}
		// What parsed is stable: the events, written back as TMC
		// messages, parse to the same events.
		msgs := make([]Message, len(d.Events))
		for i, e := range d.Events {
			if msgs[i], err = MessageFrom(e); err != nil {
				t.Fatalf("MessageFrom: %v", err)
			}
		}
		b2, err := EncodeBatch(msgs)
		if err != nil {
			t.Fatalf("EncodeBatch: %v", err)
		}
		again, err := s.ParseBody(b2, received.Add(time.Hour))
		if err != nil {
			t.Fatalf("re-parse of %s: %v", b2, err)
		}
		if len(again.Flagged) != 0 || !sameEvents(d.Events, again.Events) {
			t.Fatalf("round trip changed events\nfirst %s\nagain %s", mustJSON(d.Events), mustJSON(again))
		}
	})
}

// FuzzDecodeListPage: any order-list answer decodes to sound snapshots or a
// refusal, never a panic.
func FuzzDecodeListPage(f *testing.F) {
	pulltest.FuzzDecode(f, "tmall", []string{
		`{"trades_sold_increment_get_response":{"has_next":true,"trades":{"trade":[{"tid":4000000000000000123,"status":"TRADE_CLOSED_BY_TAOBAO","payment":"129.90","created":"2026-11-11 21:00:03","pay_time":"","modified":"2026-11-11 21:10:00","end_time":"2026-11-11 21:09:59"}]}}}`,
		`{"trades_sold_increment_get_response":{"has_next":false}}`,
		`{"trades_sold_increment_get_response":{"trades":{"trade":[{"tid":"1","modified":"2026-11-11 21:10:00","pay_time":"2026-11-11 21:10:00","payment":"-1"}]}}}`,
		`{"error_response":{"code":25,"msg":"Invalid signature"}}`,
		`{"error_response":{"code":"isp.x","msg":"x","sub_code":"y","sub_msg":"z"}}`,
		`{}`, `null`, `{"trades_sold_increment_get_response":null}`, ``,
	}, func(body []byte) ([]pull.Snapshot, error) {
		p, err := decodePage(body)
		return p.snaps, err
	})
}
