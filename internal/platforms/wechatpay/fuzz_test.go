package wechatpay

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
)

// checkDelivery holds for every delivery ParseBody returns.
func checkDelivery(t *testing.T, s *Source, d *platforms.Delivery, err error) {
	t.Helper()
	if err != nil {
		if !errors.Is(err, platforms.ErrMalformed) {
			t.Fatalf("error %q does not wrap ErrMalformed", err)
		}
		if d != nil {
			t.Fatal("delivery returned with an error")
		}
		return
	}
	if d == nil || d.ID == "" || len(d.ID) > 128 {
		t.Fatalf("delivery %+v", d)
	}
	if len(d.Events)+len(d.Flagged) != 1 {
		t.Fatalf("%d events, %d flags: a notification is one item", len(d.Events), len(d.Flagged))
	}
	for _, f := range d.Flagged {
		if f.ItemID != d.ID || f.Reason == "" {
			t.Fatalf("flag %+v", f)
		}
	}
	for i := range d.Events {
		e := &d.Events[i]
		if err := e.ValidateRef(); err != nil {
			t.Fatalf("event invalid: %v", err)
		}
		if e.ID != d.ID || e.Source != s.Name() || e.System != order.SystemChannel || e.Order.Channel != s.Channel() || e.Recovered {
			t.Fatalf("event %s", mustJSON(e))
		}
		if e.Kind != order.KindPaid && e.Kind != order.KindRefundCompleted {
			t.Fatalf("kind %q", e.Kind)
		}
		if e.Data.Amount == nil || *e.Data.Amount < 0 || e.Data.Currency == "" {
			t.Fatalf("amount %v %q", e.Data.Amount, e.Data.Currency)
		}
	}
}

// FuzzParseBody fuzzes the envelope with a fixed APIv3 key: never panics,
// errors are malformed, what parses is one valid item and parses the same
// again.
func FuzzParseBody(f *testing.F) {
	for _, n := range []Notification{
		{Resource: paidTx()},
		{Resource: refundRes()},
		{EventType: EventRefundClosed, Resource: refundRes()},
		{EventType: "TRANSACTION.CLOSED", Resource: paidTx()},
		{Resource: []byte(`{"mchid":"1900000109","out_trade_no":"T1","trade_state":"SUCCESS","amount":{"total":1}}`)},
		{Resource: []byte(`{"mchid":"1900000109","out_trade_no":"T1","trade_state":"NOTPAY"}`)},
		{Resource: []byte(`[]`)},
	} {
		n.ID, n.Timestamp, n.ResourceNonce = "EV-1", testNow, vecNonce
		req := notification(f, n)
		f.Add(req.Body)
	}
	f.Add(mustJSON(Envelope{ID: "EV-V", EventType: EventTransactionSuccess, Resource: Resource{Algorithm: AlgorithmAES256GCM, Ciphertext: vecCiphertext, AssociatedData: vecAAD, Nonce: vecNonce}}))
	f.Add([]byte(`{"id":"EV-1","event_type":"X","resource":{"algorithm":"AEAD_AES_256_GCM","ciphertext":"AAAA","nonce":"abc"}}`))
	f.Add([]byte(`{"id":1}`))
	f.Add([]byte(`{"resource":"x"}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(``))
	s := testSource(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		d, err := s.ParseBody(body)
		checkDelivery(t, s, d, err)
		again, err2 := s.ParseBody(body)
		if (err == nil) != (err2 == nil) || !reflect.DeepEqual(d, again) {
			t.Fatalf("second parse differs: %v / %v", err, err2)
		}
	})
}

// FuzzParseResource fuzzes the decrypted resource and the event type: the
// plaintext is encrypted with the fixed key into a valid envelope. What
// maps to an event maps to the same event again when rebuilt from it.
func FuzzParseResource(f *testing.F) {
	f.Add(EventTransactionSuccess, mustJSON(paidTx()))
	f.Add(EventRefundSuccess, mustJSON(refundRes()))
	f.Add(EventRefundAbnormal, mustJSON(refundRes()))
	f.Add("TRANSACTION.CLOSED", mustJSON(paidTx()))
	f.Add(EventTransactionSuccess, []byte(vecPlaintext))
	f.Add(EventTransactionSuccess, []byte(`{"mchid":"1900000109","out_trade_no":"T1","trade_state":"SUCCESS","success_time":"2026-11-24T12:00:05.5Z","amount":{"total":9007199254740993,"currency":"USD"},"payer":{"openid":"o"}}`))
	f.Add(EventTransactionSuccess, []byte(`{"mchid":"1900000109","out_trade_no":"T1","trade_state":"SUCCESS","amount":{"total":1.5}}`))
	f.Add(EventRefundSuccess, []byte(`{"mchid":"1900000109","out_trade_no":"T1","amount":{"refund":-1}}`))
	f.Add("", []byte(`null`))
	s := testSource(f)
	build := func(t *testing.T, eventType string, plain []byte) []byte {
		ct, err := EncryptResource(testKey, vecNonce, "transaction", plain)
		if err != nil {
			t.Fatal(err)
		}
		return mustJSON(Envelope{
			ID: "EV-F", CreateTime: "2026-11-24T20:00:00+08:00", ResourceType: ResourceTypeEncrypted, EventType: eventType,
			Resource: Resource{Algorithm: AlgorithmAES256GCM, Ciphertext: ct, AssociatedData: "transaction", Nonce: vecNonce},
		})
	}
	f.Fuzz(func(t *testing.T, eventType string, plain []byte) {
		d, err := s.ParseBody(build(t, eventType, plain))
		checkDelivery(t, s, d, err)
		if err != nil || len(d.Events) == 0 {
			return
		}
		e := d.Events[0]
		var canon any
		switch e.Kind {
		case order.KindPaid:
			tx := Transaction{
				MchID: testMchID, OutTradeNo: e.Order.OrderNo, TradeState: "SUCCESS",
				SuccessTime: e.OccurredAt.Format(time.RFC3339Nano),
				Amount:      TransactionAmount{Total: int64(*e.Data.Amount), Currency: e.Data.Currency},
			}
			if e.Data.BuyerID != "" {
				tx.Payer = &Payer{OpenID: e.Data.BuyerID}
			}
			canon = tx
		case order.KindRefundCompleted:
			canon = map[string]any{
				"mchid": testMchID, "out_trade_no": e.Order.OrderNo, "refund_status": "SUCCESS",
				"success_time": e.OccurredAt.Format(time.RFC3339Nano),
				"amount":       map[string]any{"refund": int64(*e.Data.Amount), "currency": e.Data.Currency},
			}
		}
		again, err := s.ParseBody(build(t, eventType, mustJSON(canon)))
		if err != nil || len(again.Events) != 1 {
			t.Fatalf("rebuilt %s: %v %s", mustJSON(canon), err, mustJSON(again))
		}
		a := again.Events[0]
		if !a.OccurredAt.Equal(e.OccurredAt) {
			t.Fatalf("time %v != %v", a.OccurredAt, e.OccurredAt)
		}
		a.OccurredAt, e.OccurredAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, e) {
			t.Fatalf("round trip changed the event\nfirst %s\nagain %s", mustJSON(e), mustJSON(a))
		}
	})
}
