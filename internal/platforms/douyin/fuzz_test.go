package douyin

import (
	"errors"
	"testing"
	"time"

	"github.com/towerhq/tower/internal/platforms"
	"github.com/towerhq/tower/internal/reconcile/pull"
	"github.com/towerhq/tower/internal/reconcile/pull/pulltest"
)

func FuzzParseBody(f *testing.F) {
	f.Add(readTestdata(f, "push.json"))
	f.Add([]byte(vecBody))
	f.Add(body(msg("105", "m", `{"p_id":"A-1","receiver_msg":{"name":"李四","addr":"{\"province\":\"广东省\",\"street\":{\"name\":\"x\"},\"detail\":\"y\"}"}}`)))
	f.Add(body(msg("101", "m", `{"p_id":1,"pay_amount":"0","pay_time":"1"}`), `{"tag":206,"msg_id":5,"data":{"p_id":0,"refund_amount":9}}`))
	f.Add(body(msg("105", "m", `{"p_id":1,"receiver_msg":{"addr":"{bad"}}`)))
	f.Add([]byte(`[{"tag":"100","msg_id":"m","data":"{\"p_id\":1e3}"}, 7, null]`))
	f.Add([]byte(`{}`))
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
		for i := range d.Events {
			e := &d.Events[i]
			if err := e.ValidateRef(); err != nil {
				t.Fatalf("event %d invalid: %v", i, err)
			}
			if e.Source != "dy" || e.Order.Channel != "douyin" || e.Order.OrderNo == "" {
				t.Fatalf("event %d: source %q order %v", i, e.Source, e.Order)
			}
		}
		for i, fl := range d.Flagged {
			if fl.Reason == "" {
				t.Fatalf("flag %d has no reason", i)
			}
		}
		// What parsed is stable: the events, written back as Douyin
		// messages, parse to the same events.
		msgs := make([]Message, len(d.Events))
		for i, e := range d.Events {
			if msgs[i], err = MessageFrom(e); err != nil {
				t.Fatalf("MessageFrom: %v", err)
			}
		}
		b2, err := EncodeBody(msgs)
		if err != nil {
			t.Fatalf("EncodeBody: %v", err)
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
	pulltest.FuzzDecode(f, "douyin", []string{
		`{"code":10000,"msg":"success","log_id":"x","data":{"shop_order_list":[{"order_id":"6921000000000000001","order_status":4,"create_time":1764000000,"pay_time":1764000100,"update_time":1764000200,"pay_amount":12990,"order_amount":12990,"cancel_reason":"refund","shop_id":1000}],"total":1,"page":0,"size":100}}`,
		`{"code":10000,"data":{"shop_order_list":[{"order_id":6921000000000000001,"update_time":1}],"total":1}}`,
		`{"code":40003,"msg":"invalid signature","sub_code":"isv.invalid-signature","sub_msg":"签名错误"}`,
		`{"code":"10000","data":{"shop_order_list":null}}`,
		`{"code":10000,"data":{"shop_order_list":[{"order_id":"1","update_time":1,"pay_amount":-1}]}}`,
		`[]`, `null`, `{`, ``,
	}, func(body []byte) ([]pull.Snapshot, error) {
		p, err := decodePage(body)
		return p.snaps, err
	})
}
