package wechatpay

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
)

// The reference's AES-GCM vector (§3, computed by us).
const (
	vecNonce      = "a1b2c3d4e5f6"
	vecAAD        = "transaction"
	vecPlaintext  = `{"out_trade_no":"T1001","transaction_id":"4200000001","trade_state":"SUCCESS","amount":{"total":12990}}`
	vecCiphertext = "XB6AYUjndFbh+NAj34vT6jX9maBARBCDYAfhaPYcB6CR5eyjP2UCFjIds6RiM26zJhEVeHcvBF7eu8iUpjDMZWJ1ZWmcGItu5ReJfDDHDhD2GFn7OVfgmTL/2ZLsHHZTjkUsSgTR3aBMt7JbTy4k5XzFCe2TR4s="
)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func money(n int64) *order.Money { m := order.Money(n); return &m }

func TestAESReferenceVector(t *testing.T) {
	got, err := DecryptResource(testKey, vecNonce, vecAAD, vecCiphertext)
	if err != nil {
		t.Fatalf("DecryptResource: %v", err)
	}
	if string(got) != vecPlaintext {
		t.Fatalf("plaintext %s", got)
	}
	ct, err := EncryptResource(testKey, vecNonce, vecAAD, []byte(vecPlaintext))
	if err != nil {
		t.Fatal(err)
	}
	if ct != vecCiphertext {
		t.Fatalf("EncryptResource = %s", ct)
	}
	// Decrypting with an empty associated_data, another nonce or key, or a
	// flipped bit must fail.
	raw, _ := base64.StdEncoding.DecodeString(vecCiphertext)
	raw[len(raw)-1] ^= 1
	flipped := base64.StdEncoding.EncodeToString(raw)
	for name, args := range map[string][4]string{
		"empty associated_data": {testKey, vecNonce, "", vecCiphertext},
		"other associated_data": {testKey, vecNonce, "refund", vecCiphertext},
		"other nonce":           {testKey, "a1b2c3d4e5f7", vecAAD, vecCiphertext},
		"other key":             {"0123456789abcdef0123456789abcdeF", vecNonce, vecAAD, vecCiphertext},
		"flipped tag bit":       {testKey, vecNonce, vecAAD, flipped},
		"short nonce":           {testKey, "a1b2c3", vecAAD, vecCiphertext},
		"truncated":             {testKey, vecNonce, vecAAD, base64.StdEncoding.EncodeToString(raw[:10])},
		"not base64":            {testKey, vecNonce, vecAAD, "***"},
		"short key":             {testKey[:16], vecNonce, vecAAD, vecCiphertext},
	} {
		if p, err := DecryptResource(args[0], args[1], args[2], args[3]); err == nil {
			t.Errorf("%s: decrypted to %q", name, p)
		}
	}
	if _, err := EncryptResource(testKey, "short", vecAAD, nil); err == nil {
		t.Error("EncryptResource with a short nonce succeeded")
	}
}

// TestAESIndependent checks EncryptResource against crypto/cipher used
// directly, for a refund resource with empty associated data.
func TestAESIndependent(t *testing.T) {
	const key, nonce = "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe", "nonce1234567"
	plain := []byte(`{"mchid":"1900000109","out_trade_no":"1217752501201407033233368018","refund_status":"SUCCESS"}`)
	block, err := aes.NewCipher([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, 12)
	if err != nil {
		t.Fatal(err)
	}
	want := base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), plain, nil))
	got, err := EncryptResource(key, nonce, "", plain)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Fatalf("EncryptResource = %s, want %s", got, want)
	}
	back, err := DecryptResource(key, nonce, "", want)
	if err != nil || string(back) != string(plain) {
		t.Fatalf("DecryptResource = %q, %v", back, err)
	}
}

// TestParseReferenceVector parses an envelope carrying the reference
// ciphertext verbatim. Its plaintext names no mchid, so it is refused as
// for another merchant; the same plaintext with the mchid added maps.
func TestParseReferenceVector(t *testing.T) {
	s := testSource(t)
	env := Envelope{
		ID: "EV-2018022511223320873", CreateTime: "2015-05-20T13:29:35+08:00", ResourceType: ResourceTypeEncrypted,
		EventType: EventTransactionSuccess, Summary: "支付成功",
		Resource: Resource{OriginalType: "transaction", Algorithm: AlgorithmAES256GCM, Ciphertext: vecCiphertext, AssociatedData: vecAAD, Nonce: vecNonce},
	}
	_, err := s.ParseBody(mustJSON(env))
	if !errors.Is(err, ErrMchIDMismatch) || !errors.Is(err, platforms.ErrMalformed) {
		t.Fatalf("err = %v, want mchid mismatch", err)
	}
	env.Resource.AssociatedData = ""
	if _, err := s.ParseBody(mustJSON(env)); !errors.Is(err, ErrDecrypt) || !errors.Is(err, platforms.ErrMalformed) {
		t.Fatalf("empty associated_data: err = %v, want ErrDecrypt", err)
	}
	plain := strings.Replace(vecPlaintext, `{`, `{"mchid":"`+testMchID+`",`, 1)
	env.Resource.AssociatedData = vecAAD
	env.Resource.Ciphertext, err = EncryptResource(testKey, vecNonce, vecAAD, []byte(plain))
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.ParseBody(mustJSON(env))
	if err != nil {
		t.Fatal(err)
	}
	want := order.Event{
		ID: env.ID, Source: "mp-pay", Kind: order.KindPaid, System: order.SystemChannel,
		OccurredAt: mustTime(env.CreateTime), // no success_time: create_time stands in
		Order:      order.Key{Channel: "miniprogram", OrderNo: "T1001"},
		Data:       order.Data{Amount: money(12990), Currency: "CNY"},
	}
	if d.ID != env.ID || len(d.Flagged) != 0 || len(d.Events) != 1 || !reflect.DeepEqual(d.Events[0], want) {
		t.Fatalf("delivery %s\nwant event %s", mustJSON(d), mustJSON(want))
	}
}

func paidTx() Transaction {
	return Transaction{
		AppID: "wxd678efh567hg6787", MchID: testMchID, OutTradeNo: "1217752501201407033233368018",
		TransactionID: "1217752501201407033233368018", TradeType: "JSAPI", TradeState: "SUCCESS",
		TradeStateDesc: "支付成功", BankType: "CMC", Attach: "自定义数据",
		SuccessTime: "2026-11-24T20:00:05+08:00",
		Payer:       &Payer{OpenID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
		Amount:      TransactionAmount{Total: 12990, PayerTotal: 12890, Currency: "CNY", PayerCurrency: "CNY"},
	}
}

func refundRes() Refund {
	return Refund{
		MchID: testMchID, OutTradeNo: "1217752501201407033233368018", TransactionID: "1217752501201407033233368018",
		OutRefundNo: "R-1", RefundID: "50000000382019052709732678859", RefundStatus: "SUCCESS",
		SuccessTime: "2026-11-25T10:00:00+08:00", UserReceivedAccount: "招商银行信用卡0403",
		Amount: RefundAmount{Total: 12990, Refund: 4000, PayerTotal: 12890, PayerRefund: 3900},
	}
}

// notification builds a signed notification at testNow.
func notification(t testing.TB, n Notification) *platforms.Request {
	t.Helper()
	if n.Timestamp == 0 {
		n.Timestamp = testNow
	}
	if n.ID == "" {
		n.ID = "EV-2026112420000500001"
	}
	body, h, err := NewNotification(testSigner(), n)
	if err != nil {
		t.Fatalf("NewNotification: %v", err)
	}
	return &platforms.Request{Header: h, Body: body}
}

func TestParseTransaction(t *testing.T) {
	s := testSource(t)
	req := notification(t, Notification{Resource: paidTx(), RequestID: "REQ-1"})
	if err := s.Verify(req); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if got := s.DeliveryID(req); got != "REQ-1" {
		t.Fatalf("DeliveryID = %q", got)
	}
	d, err := s.Parse(req)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := order.Event{
		ID: "EV-2026112420000500001", Source: "mp-pay", Kind: order.KindPaid, System: order.SystemChannel,
		OccurredAt: mustTime("2026-11-24T20:00:05+08:00"),
		Order:      order.Key{Channel: "miniprogram", OrderNo: "1217752501201407033233368018"},
		Data:       order.Data{Amount: money(12990), Currency: "CNY", BuyerID: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
	}
	if d.ID != want.ID || len(d.Events) != 1 || len(d.Flagged) != 0 || !reflect.DeepEqual(d.Events[0], want) {
		t.Fatalf("delivery %s\nwant event %s", mustJSON(d), mustJSON(want))
	}
	if _, off := d.Events[0].OccurredAt.Zone(); off != 8*3600 {
		t.Errorf("offset %d lost", off)
	}
}

func TestParseRefund(t *testing.T) {
	cfg := testConfig(t)
	cfg.Channel = "mp-cn"
	s := mustNew(t, cfg, clockAt(testNow))
	req := notification(t, Notification{ID: "EV-R1", Resource: refundRes()})
	if err := s.Verify(req); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	d, err := s.Parse(req)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := order.Event{
		ID: "EV-R1", Source: "mp-pay", Kind: order.KindRefundCompleted, System: order.SystemChannel,
		OccurredAt: mustTime("2026-11-25T10:00:00+08:00"),
		Order:      order.Key{Channel: "mp-cn", OrderNo: "1217752501201407033233368018"},
		Data:       order.Data{Amount: money(4000), Currency: "CNY"},
	}
	if d.ID != "EV-R1" || len(d.Events) != 1 || !reflect.DeepEqual(d.Events[0], want) {
		t.Fatalf("delivery %s\nwant event %s", mustJSON(d), mustJSON(want))
	}
}

// TestMapping is the mapping table: each event type and state to a kind or
// a flag.
func TestMapping(t *testing.T) {
	tx := func(state string) Transaction { r := paidTx(); r.TradeState = state; return r }
	rf := func(status string) Refund { r := refundRes(); r.RefundStatus = status; return r }
	tests := []struct {
		eventType string
		resource  any
		wantKind  order.Kind // "" means flagged
		wantFlag  string
	}{
		{EventTransactionSuccess, tx("SUCCESS"), order.KindPaid, ""},
		{EventTransactionSuccess, tx("REFUND"), "", `trade_state "REFUND" not mapped`},
		{EventTransactionSuccess, tx("NOTPAY"), "", `trade_state "NOTPAY" not mapped`},
		{EventTransactionSuccess, tx("CLOSED"), "", `trade_state "CLOSED" not mapped`},
		{EventTransactionSuccess, tx("REVOKED"), "", `trade_state "REVOKED" not mapped`},
		{EventTransactionSuccess, tx("USERPAYING"), "", `trade_state "USERPAYING" not mapped`},
		{EventTransactionSuccess, tx("PAYERROR"), "", `trade_state "PAYERROR" not mapped`},
		{EventTransactionSuccess, tx("success"), "", `trade_state "success" not mapped`},
		{EventTransactionSuccess, tx(""), "", "trade_state: required"},
		{EventRefundSuccess, rf("SUCCESS"), order.KindRefundCompleted, ""},
		{EventRefundSuccess, rf(""), order.KindRefundCompleted, ""},
		{EventRefundSuccess, rf("PROCESSING"), "", `refund_status "PROCESSING" not mapped`},
		{EventRefundAbnormal, rf("ABNORMAL"), "", `event_type "REFUND.ABNORMAL" not mapped`},
		{EventRefundClosed, rf("CLOSED"), "", `event_type "REFUND.CLOSED" not mapped`},
		{"TRANSACTION.CLOSED", tx("CLOSED"), "", `unknown event_type "TRANSACTION.CLOSED"`},
		{"TRANSACTION.PAYERROR", tx("PAYERROR"), "", `unknown event_type "TRANSACTION.PAYERROR"`},
		{"PROFITSHARING.SUCCESS", map[string]any{"mchid": testMchID}, "", `unknown event_type "PROFITSHARING.SUCCESS"`},
		{"PROFITSHARING.SUCCESS", map[string]any{"sp_mchid": "1", "sub_mchid": "2"}, "", `unknown event_type "PROFITSHARING.SUCCESS"`},
	}
	s := testSource(t)
	for _, tt := range tests {
		name := tt.eventType
		switch r := tt.resource.(type) {
		case Transaction:
			name += "/trade_state=" + r.TradeState
		case Refund:
			name += "/refund_status=" + r.RefundStatus
		default:
			name += "/" + string(mustJSON(r))
		}
		t.Run(name, func(t *testing.T) {
			req := notification(t, Notification{ID: "EV-MAP", EventType: tt.eventType, Resource: tt.resource})
			if err := s.Verify(req); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			d, err := s.Parse(req)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if d.ID != "EV-MAP" {
				t.Errorf("Delivery.ID = %q", d.ID)
			}
			if tt.wantKind == "" {
				if len(d.Events) != 0 || len(d.Flagged) != 1 {
					t.Fatalf("delivery %s, want one flag", mustJSON(d))
				}
				if f := d.Flagged[0]; f.ItemID != "EV-MAP" || f.Reason != tt.wantFlag {
					t.Fatalf("flag %+v, want reason %q", f, tt.wantFlag)
				}
				return
			}
			if len(d.Events) != 1 || len(d.Flagged) != 0 || d.Events[0].Kind != tt.wantKind {
				t.Fatalf("delivery %s, want one %s", mustJSON(d), tt.wantKind)
			}
			if err := d.Events[0].ValidateRef(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestParseResourceFields: a missing or wrong field of the decrypted
// resource flags the notification; fields map exactly.
func TestParseResourceFields(t *testing.T) {
	base := `"mchid":"` + testMchID + `","trade_state":"SUCCESS","success_time":"2026-11-24T20:00:05+08:00"`
	tests := []struct {
		name       string
		plain      string
		wantAmount int64
		wantCur    string
		wantBuyer  string
		wantOrder  string
		wantAt     string
		wantFlag   string
	}{
		{name: "minimal", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":1}}`, wantAmount: 1, wantCur: "CNY", wantOrder: "T1", wantAt: "2026-11-24T20:00:05+08:00"},
		{name: "zero amount", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":0}}`, wantAmount: 0, wantCur: "CNY", wantOrder: "T1", wantAt: "2026-11-24T20:00:05+08:00"},
		{name: "big amount stays exact", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":9007199254740993}}`, wantAmount: 9007199254740993, wantCur: "CNY", wantOrder: "T1", wantAt: "2026-11-24T20:00:05+08:00"},
		{name: "other currency", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":5,"currency":"USD"}}`, wantAmount: 5, wantCur: "USD", wantOrder: "T1", wantAt: "2026-11-24T20:00:05+08:00"},
		{name: "payer", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":5},"payer":{"openid":"o-1"}}`, wantAmount: 5, wantCur: "CNY", wantBuyer: "o-1", wantOrder: "T1", wantAt: "2026-11-24T20:00:05+08:00"},
		{name: "null payer", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":5},"payer":null}`, wantAmount: 5, wantCur: "CNY", wantOrder: "T1", wantAt: "2026-11-24T20:00:05+08:00"},
		{name: "UTC time with fraction", plain: `{"mchid":"` + testMchID + `","trade_state":"SUCCESS","success_time":"2026-11-24T12:00:05.5Z","out_trade_no":"T1","amount":{"total":5}}`, wantAmount: 5, wantCur: "CNY", wantOrder: "T1", wantAt: "2026-11-24T12:00:05.5Z"},
		{name: "unknown fields ignored", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":5},"promotion_detail":[{"amount":1}],"x":{"y":[1,2]}}`, wantAmount: 5, wantCur: "CNY", wantOrder: "T1", wantAt: "2026-11-24T20:00:05+08:00"},

		{name: "no out_trade_no", plain: `{` + base + `,"amount":{"total":1}}`, wantFlag: "out_trade_no: required"},
		{name: "empty out_trade_no", plain: `{` + base + `,"out_trade_no":"","amount":{"total":1}}`, wantFlag: "out_trade_no: required"},
		{name: "numeric out_trade_no", plain: `{` + base + `,"out_trade_no":1001,"amount":{"total":1}}`, wantFlag: "out_trade_no: want a string"},
		{name: "long out_trade_no", plain: `{` + base + `,"out_trade_no":"` + strings.Repeat("9", 65) + `","amount":{"total":1}}`, wantFlag: "order.orderNo: longer than 64 characters"},
		{name: "no amount", plain: `{` + base + `,"out_trade_no":"T1"}`, wantFlag: "amount.total: required"},
		{name: "amount not object", plain: `{` + base + `,"out_trade_no":"T1","amount":12990}`, wantFlag: "amount: want an object"},
		{name: "no total", plain: `{` + base + `,"out_trade_no":"T1","amount":{"payer_total":1}}`, wantFlag: "amount.total: required"},
		{name: "total as string", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":"12990"}}`, wantFlag: "amount.total: want an integer (fen)"},
		{name: "total with fraction", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":129.9}}`, wantFlag: "amount.total: want an integer (fen)"},
		{name: "total in exponent form", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":1e3}}`, wantFlag: "amount.total: want an integer (fen)"},
		{name: "total overflows", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":99999999999999999999}}`, wantFlag: "amount.total: want an integer (fen)"},
		{name: "negative total", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":-1}}`, wantFlag: "amount.total: negative"},
		{name: "currency not string", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":1,"currency":1}}`, wantFlag: "amount.currency: want a string"},
		{name: "payer not object", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":1},"payer":"o-1"}`, wantFlag: "payer: want an object"},
		{name: "openid not string", plain: `{` + base + `,"out_trade_no":"T1","amount":{"total":1},"payer":{"openid":7}}`, wantFlag: "payer.openid: want a string"},
		{name: "bad success_time", plain: `{"mchid":"` + testMchID + `","trade_state":"SUCCESS","success_time":"2026-11-24 20:00:05","out_trade_no":"T1","amount":{"total":1}}`, wantFlag: "success_time: want an RFC 3339 time, e.g. 2026-11-24T20:00:00+08:00"},
		{name: "trade_state not string", plain: `{"mchid":"` + testMchID + `","trade_state":1,"out_trade_no":"T1","amount":{"total":1}}`, wantFlag: "trade_state: want a string"},
	}
	s := testSource(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := notification(t, Notification{ID: "EV-F", Resource: []byte(tt.plain)})
			d, err := s.Parse(req)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.wantFlag != "" {
				if len(d.Events) != 0 || len(d.Flagged) != 1 || d.Flagged[0].Reason != tt.wantFlag || d.Flagged[0].ItemID != "EV-F" {
					t.Fatalf("delivery %s, want flag %q", mustJSON(d), tt.wantFlag)
				}
				return
			}
			if len(d.Events) != 1 {
				t.Fatalf("delivery %s, want one event", mustJSON(d))
			}
			e := d.Events[0]
			if e.Data.Amount == nil || int64(*e.Data.Amount) != tt.wantAmount || e.Data.Currency != tt.wantCur ||
				e.Data.BuyerID != tt.wantBuyer || e.Order.OrderNo != tt.wantOrder || !e.OccurredAt.Equal(mustTime(tt.wantAt)) {
				t.Fatalf("event %s", mustJSON(e))
			}
		})
	}
}

func TestParseOccurredAtFallback(t *testing.T) {
	s := testSource(t)
	tx := paidTx()
	tx.SuccessTime = ""
	ct := time.Date(2026, 11, 24, 20, 0, 7, 0, time.FixedZone("", 8*3600))
	d, err := s.Parse(notification(t, Notification{Resource: tx, CreateTime: ct}))
	if err != nil || len(d.Events) != 1 || !d.Events[0].OccurredAt.Equal(ct) {
		t.Fatalf("delivery %s, err %v", mustJSON(d), err)
	}
	// Neither success_time nor a readable create_time: flagged.
	ciphertext, _ := EncryptResource(testKey, vecNonce, "transaction", mustJSON(tx))
	body := mustJSON(Envelope{ID: "EV-T", EventType: EventTransactionSuccess, Resource: Resource{Algorithm: AlgorithmAES256GCM, Ciphertext: ciphertext, AssociatedData: "transaction", Nonce: vecNonce}})
	d, err = s.ParseBody(body)
	if err != nil || len(d.Flagged) != 1 || d.Flagged[0].Reason != "success_time: required" {
		t.Fatalf("delivery %s, err %v", mustJSON(d), err)
	}
}

// TestParseMalformed: bodies that are no notification, resources that do
// not decrypt or belong to another merchant are errors.
func TestParseMalformed(t *testing.T) {
	good := paidTx()
	other := paidTx()
	other.MchID = "1900000110"
	refundOther := refundRes()
	refundOther.MchID = "1900000110"
	encrypt := func(plain string) string {
		ct, err := EncryptResource(testKey, vecNonce, "transaction", []byte(plain))
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	envelope := func(f func(m map[string]any, r map[string]any)) []byte {
		r := map[string]any{"original_type": "transaction", "algorithm": AlgorithmAES256GCM, "ciphertext": encrypt(string(mustJSON(good))), "associated_data": "transaction", "nonce": vecNonce}
		m := map[string]any{"id": "EV-M", "create_time": "2026-11-24T20:00:05+08:00", "resource_type": ResourceTypeEncrypted, "event_type": EventTransactionSuccess, "summary": "支付成功", "resource": r}
		f(m, r)
		return mustJSON(m)
	}
	wrongKey, _ := EncryptResource("fedcba9876543210fedcba9876543210", vecNonce, "transaction", mustJSON(good))
	raw, _ := base64.StdEncoding.DecodeString(encrypt(string(mustJSON(good))))
	raw[0] ^= 0x80
	tampered := base64.StdEncoding.EncodeToString(raw)

	tests := []struct {
		name    string
		body    []byte
		wantIs  error  // besides ErrMalformed
		field   string // FieldError field, "" for none
		message string
	}{
		{name: "empty", body: nil, message: "empty body"},
		{name: "blank", body: []byte(" \n"), message: "empty body"},
		{name: "not JSON", body: []byte("id=EV-1"), message: "want a JSON object"},
		{name: "array", body: []byte(`[{"id":"EV-1"}]`), message: "want a JSON object"},
		{name: "truncated JSON", body: []byte(`{"id":"EV-1",`), message: "invalid JSON"},
		{name: "trailing garbage", body: append(envelope(func(m, r map[string]any) {}), 'x'), message: "invalid JSON"},
		{name: "no id", body: envelope(func(m, r map[string]any) { delete(m, "id") }), field: "id"},
		{name: "numeric id", body: envelope(func(m, r map[string]any) { m["id"] = 123 }), field: "id", message: "want a string"},
		{name: "long id", body: envelope(func(m, r map[string]any) { m["id"] = strings.Repeat("E", 129) }), field: "id"},
		{name: "no event_type", body: envelope(func(m, r map[string]any) { delete(m, "event_type") }), field: "event_type"},
		{name: "plain resource_type", body: envelope(func(m, r map[string]any) { m["resource_type"] = "plain" }), field: "resource_type"},
		{name: "no resource", body: envelope(func(m, r map[string]any) { delete(m, "resource") }), field: "resource.ciphertext"},
		{name: "null resource", body: envelope(func(m, r map[string]any) { m["resource"] = nil }), field: "resource.ciphertext"},
		{name: "resource not object", body: envelope(func(m, r map[string]any) { m["resource"] = "x" }), field: "resource", message: "want an object"},
		{name: "other algorithm", body: envelope(func(m, r map[string]any) { r["algorithm"] = "AEAD_SM4_GCM" }), field: "resource.algorithm"},
		{name: "no algorithm", body: envelope(func(m, r map[string]any) { delete(r, "algorithm") }), field: "resource.algorithm"},
		{name: "short nonce", body: envelope(func(m, r map[string]any) { r["nonce"] = "abc" }), field: "resource.nonce"},
		{name: "long nonce", body: envelope(func(m, r map[string]any) { r["nonce"] = vecNonce + "x" }), field: "resource.nonce"},
		{name: "ciphertext not base64", body: envelope(func(m, r map[string]any) { r["ciphertext"] = "%%%%" }), field: "resource.ciphertext", message: "base64"},
		{name: "bad ciphertext", body: envelope(func(m, r map[string]any) { r["ciphertext"] = tampered }), wantIs: ErrDecrypt, field: "resource.ciphertext"},
		{name: "short ciphertext", body: envelope(func(m, r map[string]any) { r["ciphertext"] = "AAAA" }), wantIs: ErrDecrypt},
		{name: "wrong APIv3 key", body: envelope(func(m, r map[string]any) { r["ciphertext"] = wrongKey }), wantIs: ErrDecrypt},
		{name: "tampered associated_data", body: envelope(func(m, r map[string]any) { r["associated_data"] = "refund" }), wantIs: ErrDecrypt},
		{name: "empty associated_data", body: envelope(func(m, r map[string]any) { r["associated_data"] = "" }), wantIs: ErrDecrypt},
		{name: "tampered nonce", body: envelope(func(m, r map[string]any) { r["nonce"] = "a1b2c3d4e5f7" }), wantIs: ErrDecrypt},
		{name: "plaintext not JSON", body: envelope(func(m, r map[string]any) { r["ciphertext"] = encrypt("out_trade_no=T1") }), field: "resource"},
		{name: "plaintext array", body: envelope(func(m, r map[string]any) { r["ciphertext"] = encrypt(`[{}]`) }), field: "resource"},
		{name: "plaintext null", body: envelope(func(m, r map[string]any) { r["ciphertext"] = encrypt(`null`) }), field: "resource"},
		{name: "mchid mismatch", body: envelope(func(m, r map[string]any) { r["ciphertext"] = encrypt(string(mustJSON(other))) }), wantIs: ErrMchIDMismatch, field: "resource.mchid", message: `"1900000110" is not the configured merchant`},
		{name: "mchid mismatch on refund", body: envelope(func(m, r map[string]any) {
			m["event_type"] = EventRefundSuccess
			r["ciphertext"] = encrypt(string(mustJSON(refundOther)))
		}), wantIs: ErrMchIDMismatch},
		{name: "mchid mismatch on flagged refund", body: envelope(func(m, r map[string]any) {
			m["event_type"] = EventRefundClosed
			r["ciphertext"] = encrypt(string(mustJSON(refundOther)))
		}), wantIs: ErrMchIDMismatch},
		{name: "mchid missing", body: envelope(func(m, r map[string]any) {
			r["ciphertext"] = encrypt(`{"out_trade_no":"T1","trade_state":"SUCCESS","amount":{"total":1}}`)
		}), wantIs: ErrMchIDMismatch, field: "resource.mchid", message: "required"},
		{name: "mchid numeric", body: envelope(func(m, r map[string]any) {
			r["ciphertext"] = encrypt(`{"mchid":1900000109,"out_trade_no":"T1","trade_state":"SUCCESS","amount":{"total":1}}`)
		}), wantIs: ErrMchIDMismatch, field: "resource.mchid"},
		{name: "mchid with space", body: envelope(func(m, r map[string]any) {
			r["ciphertext"] = encrypt(`{"mchid":"1900000109 ","out_trade_no":"T1","trade_state":"SUCCESS","amount":{"total":1}}`)
		}), wantIs: ErrMchIDMismatch},
	}
	s := testSource(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.ParseBody(tt.body)
			if err == nil {
				t.Fatalf("ParseBody succeeded: %s", mustJSON(d))
			}
			if !errors.Is(err, platforms.ErrMalformed) {
				t.Errorf("error %q does not wrap ErrMalformed", err)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q does not wrap %v", err, tt.wantIs)
			}
			if tt.field != "" {
				fe, ok := errors.AsType[*order.FieldError](err)
				if !ok || fe.Field != tt.field {
					t.Errorf("error %q: field error %v, want field %q", err, fe, tt.field)
				}
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %q does not contain %q", err, tt.message)
			}
			if strings.Contains(err.Error(), testKey) {
				t.Errorf("error %q leaks the APIv3 key", err)
			}
		})
	}
	if _, err := s.Parse(nil); !errors.Is(err, platforms.ErrMalformed) {
		t.Errorf("Parse(nil) = %v", err)
	}
}

func TestNewNotificationDefaults(t *testing.T) {
	body, h, err := NewNotification(testSigner(), Notification{Resource: refundRes(), Timestamp: testNow})
	if err != nil {
		t.Fatal(err)
	}
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(env.ID, "EV-") || env.EventType != EventRefundSuccess || env.Summary != "退款成功" ||
		env.CreateTime != "2026-09-21T22:13:20+08:00" || env.ResourceType != ResourceTypeEncrypted ||
		env.Resource.OriginalType != "refund" || env.Resource.AssociatedData != "refund" || len(env.Resource.Nonce) != NonceLen {
		t.Fatalf("envelope %s", body)
	}
	if h.Get(HeaderTimestamp) != fmt.Sprint(testNow) || h.Get(HeaderNonce) == "" || h.Get(HeaderSerial) != testSerial ||
		h.Get(HeaderSignatureType) != SignatureType || h.Get(HeaderRequestID) != "" {
		t.Fatalf("headers %v", h)
	}
	plain, err := DecryptResource(testKey, env.Resource.Nonce, env.Resource.AssociatedData, env.Resource.Ciphertext)
	if err != nil || string(plain) != string(mustJSON(refundRes())) {
		t.Fatalf("plaintext %s, %v", plain, err)
	}
	// Refund status names the event type.
	r := refundRes()
	r.RefundStatus = "CLOSED"
	body, _, err = NewNotification(testSigner(), Notification{Resource: &r})
	if err != nil || !strings.Contains(string(body), `"event_type":"REFUND.CLOSED"`) {
		t.Fatalf("body %s, %v", body, err)
	}
	for name, n := range map[string]struct {
		sg Signer
		n  Notification
	}{
		"nil key":        {Signer{APIv3Key: testKey}, Notification{Resource: paidTx()}},
		"nil resource":   {testSigner(), Notification{}},
		"short APIv3":    {Signer{APIv3Key: "short", PrivateKey: platformKey()}, Notification{Resource: paidTx()}},
		"bad nonce":      {testSigner(), Notification{Resource: paidTx(), ResourceNonce: "abc"}},
		"unmarshallable": {testSigner(), Notification{Resource: func() {}}},
	} {
		if _, _, err := NewNotification(n.sg, n.n); err == nil {
			t.Errorf("%s: NewNotification succeeded", name)
		}
	}
}
