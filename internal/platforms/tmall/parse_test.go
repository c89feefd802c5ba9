package tmall

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/platforms"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gmt8 builds a GMT+8 wall-clock time.
func gmt8(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.FixedZone("", 8*3600))
}

func money(n int64) *order.Money { m := order.Money(n); return &m }

// msg builds one wire message with content encoded as a string.
func msg(id, topic, pubTime, content string) string {
	m := map[string]any{"id": json.Number(id), "topic": topic, "content": content}
	if pubTime != "" {
		m["pub_time"] = pubTime
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func batch(msgs ...string) []byte { return []byte("[" + strings.Join(msgs, ",") + "]") }

func TestParseVector(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	for _, b := range [][]byte{[]byte(vecBody), readTestdata(t, "single.json")} {
		d, err := s.Parse(&platforms.Request{Body: b, ReceivedAt: testNow})
		if err != nil {
			t.Fatal(err)
		}
		want := &platforms.Delivery{ID: "2170000000000000001", Events: []order.Event{{
			ID: "2170000000000000001", Source: "tm", Kind: order.KindPaid, System: order.SystemChannel,
			OccurredAt: gmt8(2026, 11, 24, 20, 0, 0),
			Order:      order.Key{Channel: "tmall", OrderNo: "4000000000000000001"},
			Data:       order.Data{Amount: money(12990), Currency: "CNY", Shop: "tower旗舰店"},
		}}}
		if string(b) != vecBody {
			want.ID = "2170000000000000002"
			want.Events[0].ID = want.ID
			want.Events[0].Data.BuyerID = "AAHk5d-EAAeGwJedwSHJU_Zz"
		} else {
			want.Events[0].Data.BuyerID = "t**1"
		}
		if !sameDelivery(d, want) {
			t.Fatalf("Parse\n got %s\nwant %s", mustJSON(d), mustJSON(want))
		}
	}
}

func TestParseBatch(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Name: "tm", Channel: "tmall-2", AppKey: vecAppKey, AppSecret: vecSecret})
	d, err := s.ParseBody(readTestdata(t, "batch.json"), testNow)
	if err != nil {
		t.Fatal(err)
	}
	key := order.Key{Channel: "tmall-2", OrderNo: "4000000000000000001"}
	ev := func(id string, k order.Kind, at time.Time, data order.Data) order.Event {
		data.Shop = "tower旗舰店"
		if data.BuyerID == "" {
			data.BuyerID = "AAHk5d-EAAeGwJedwSHJU_Zz"
		}
		return order.Event{ID: id, Source: "tm", Kind: k, System: order.SystemChannel, OccurredAt: at, Order: key, Data: data}
	}
	want := &platforms.Delivery{
		Events: []order.Event{
			ev("2170000000000000001", order.KindCreated, gmt8(2026, 11, 24, 19, 59, 0), order.Data{}),
			ev("2170000000000000002", order.KindPaid, gmt8(2026, 11, 24, 20, 0, 0), order.Data{Amount: money(12990), Currency: "CNY"}),
			ev("2170000000000000003", order.KindAddressChanged, gmt8(2026, 11, 24, 20, 5, 0), order.Data{BuyerID: "t**1"}),
			ev("2170000000000000005", order.KindRefundRequested, gmt8(2026, 11, 25, 11, 0, 0), order.Data{Amount: money(12990), Currency: "CNY"}),
			ev("2170000000000000006", order.KindRefundCompleted, gmt8(2026, 11, 25, 12, 0, 0), order.Data{Amount: money(12990), Currency: "CNY"}),
			ev("2170000000000000007", order.KindCancelled, gmt8(2026, 11, 25, 12, 0, 1), order.Data{Reason: "TRADE_CLOSED"}),
		},
		Flagged: []platforms.Flag{
			{ItemID: "2170000000000000004", Reason: "topic taobao_trade_TradeSellerShip (seller shipped): corroborates shipment; no canonical kind"},
			{ItemID: "2170000000000000008", Reason: `unknown topic "taobao_trade_TradeRated"`},
		},
	}
	if !sameDelivery(d, want) {
		t.Fatalf("Parse\n got %s\nwant %s", mustJSON(d), mustJSON(want))
	}
}

// TestTopicMapping covers every topic: its kind, or the flag it gets.
func TestTopicMapping(t *testing.T) {
	t.Parallel()
	const content = `{"tid":4000000000000000001}`
	tests := []struct {
		topic string
		kind  order.Kind
		flag  string
	}{
		{"taobao_trade_TradeCreate", order.KindCreated, ""},
		{"taobao_trade_TradeBuyerPay", order.KindPaid, ""},
		{"taobao_trade_TradeClose", order.KindCancelled, ""},
		{"taobao_trade_TradeCloseAndModifyDetailOrder", order.KindCancelled, ""},
		{"taobao_trade_TradeLogisticsAddressChanged", order.KindAddressChanged, ""},
		{"taobao_refund_RefundCreated", order.KindRefundRequested, ""},
		{"taobao_refund_RefundSuccess", order.KindRefundCompleted, ""},
		{"taobao_trade_TradeSellerShip", "", "topic taobao_trade_TradeSellerShip (seller shipped): corroborates shipment; no canonical kind"},
		{"taobao_trade_TradePartlySellerShip", "", "topic taobao_trade_TradePartlySellerShip (seller partly shipped): corroborates shipment; no canonical kind"},
		{"taobao_trade_TradeSuccess", "", "known topic taobao_trade_TradeSuccess (buyer confirmed receipt), not mapped"},
		{"taobao_trade_TradeMemoModified", "", "known topic taobao_trade_TradeMemoModified (memo modified), not mapped"},
		{"taobao_trade_TradeChanged", "", "known topic taobao_trade_TradeChanged (trade changed), not mapped"},
		{"taobao_trade_TradeModifyFee", "", "known topic taobao_trade_TradeModifyFee (price modified), not mapped"},
		{"taobao_refund_RefundSellerAgreeAgreement", "", "known topic taobao_refund_RefundSellerAgreeAgreement (seller agreed to refund), not mapped"},
		{"taobao_refund_RefundSellerRefuseAgreement", "", "known topic taobao_refund_RefundSellerRefuseAgreement (seller refused refund), not mapped"},
		{"taobao_refund_RefundBuyerReturnGoods", "", "known topic taobao_refund_RefundBuyerReturnGoods (buyer returned goods), not mapped"},
		{"taobao_refund_RefundClosed", "", "known topic taobao_refund_RefundClosed (refund closed), not mapped"},
		{"taobao_trade_TradeRated", "", `unknown topic "taobao_trade_TradeRated"`},
		{"TradeCreate", "", `unknown topic "TradeCreate"`},
	}
	s := vecSource(t)
	for _, tt := range tests {
		t.Run(tt.topic, func(t *testing.T) {
			d, err := s.ParseBody([]byte(msg("7", tt.topic, "2026-11-24 20:00:00", content)), testNow)
			if err != nil {
				t.Fatal(err)
			}
			if d.ID != "7" {
				t.Fatalf("Delivery.ID %q", d.ID)
			}
			if tt.kind != "" {
				if len(d.Events) != 1 || len(d.Flagged) != 0 || d.Events[0].Kind != tt.kind {
					t.Fatalf("got %s, want one %s event", mustJSON(d), tt.kind)
				}
				if err := d.Events[0].ValidateRef(); err != nil {
					t.Fatal(err)
				}
				return
			}
			if len(d.Events) != 0 || len(d.Flagged) != 1 || d.Flagged[0].ItemID != "7" || d.Flagged[0].Reason != tt.flag {
				t.Fatalf("got %s, want flag %q", mustJSON(d), tt.flag)
			}
		})
	}
	for k, topic := range topicOf {
		if topics[topic].Kind != k {
			t.Errorf("kind %s: topic %s maps to %s", k, topic, topics[topic].Kind)
		}
	}
}

func TestParseFields(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	received := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	const pay = "taobao_trade_TradeBuyerPay"
	tests := []struct {
		name string
		msg  string
		want func(e order.Event) bool
		flag string
	}{
		{name: "string id and tid, content object", msg: `{"id":"m","topic":"taobao_trade_TradeCreate","content":{"tid":"T-1"}}`,
			want: func(e order.Event) bool {
				return e.ID == "m" && e.Order.OrderNo == "T-1" && e.OccurredAt.Equal(received)
			}},
		{name: "big tid exact", msg: msg("9", pay, "", `{"tid":9223372036854775807}`),
			want: func(e order.Event) bool { return e.Order.OrderNo == "9223372036854775807" }},
		{name: "modified when no pub_time", msg: msg("9", "taobao_refund_RefundCreated", "", `{"tid":1,"refund_fee":"5","modified":"2026-11-25 11:00:00"}`),
			want: func(e order.Event) bool {
				return e.OccurredAt.Equal(gmt8(2026, 11, 25, 11, 0, 0)) && *e.Data.Amount == 500
			}},
		{name: "pub_time wins over modified", msg: msg("9", "taobao_refund_RefundSuccess", "2026-11-25 12:00:00.5", `{"tid":1,"modified":"2026-11-25 11:00:00"}`),
			want: func(e order.Event) bool {
				return e.OccurredAt.Equal(gmt8(2026, 11, 25, 12, 0, 0).Add(500*time.Millisecond)) && e.Data.Amount == nil
			}},
		{name: "payment as a number", msg: msg("9", pay, "", `{"tid":1,"payment":129.9}`),
			want: func(e order.Event) bool { return *e.Data.Amount == 12990 && e.Data.Currency == "CNY" }},
		{name: "payment empty", msg: msg("9", pay, "", `{"tid":1,"payment":""}`),
			want: func(e order.Event) bool { return e.Data.Amount == nil && e.Data.Currency == "" }},
		{name: "shop from user_id", msg: `{"id":1,"topic":"taobao_trade_TradeCreate","user_id":2200000000001,"content":"{\"tid\":1}"}`,
			want: func(e order.Event) bool { return e.Data.Shop == "2200000000001" }},
		{name: "sub-order closed", msg: msg("9", "taobao_trade_TradeCloseAndModifyDetailOrder", "", `{"tid":1,"oid":2,"status":"TRADE_CLOSED_BY_TAOBAO"}`),
			want: func(e order.Event) bool { return e.Data.Reason == "sub-order 2 closed (TRADE_CLOSED_BY_TAOBAO)" }},
		{name: "sub-order closed, no status", msg: msg("9", "taobao_trade_TradeCloseAndModifyDetailOrder", "", `{"tid":1}`),
			want: func(e order.Event) bool { return e.Data.Reason == "sub-order closed" }},

		{name: "sub-order modified", msg: msg("9", "taobao_trade_TradeCloseAndModifyDetailOrder", "", `{"tid":1,"oid":2,"status":"WAIT_SELLER_SEND_GOODS"}`),
			flag: `content.status: "WAIT_SELLER_SEND_GOODS": sub-order modified, not closed`},
		{name: "missing tid", msg: msg("9", pay, "", `{"payment":"1"}`), flag: "topic taobao_trade_TradeBuyerPay: content.tid: required"},
		{name: "float tid", msg: msg("9", pay, "", `{"tid":4e18}`), flag: "content.tid: want an integer or a string"},
		{name: "payment in fen-like exponent", msg: msg("9", pay, "", `{"tid":1,"payment":1e3}`), flag: "content.payment: want a non-negative amount"},
		{name: "payment negative", msg: msg("9", pay, "", `{"tid":1,"payment":"-1.00"}`), flag: "content.payment"},
		{name: "payment 3 decimals", msg: msg("9", pay, "", `{"tid":1,"payment":"1.005"}`), flag: "content.payment"},
		{name: "payment with currency", msg: msg("9", pay, "", `{"tid":1,"payment":"¥1"}`), flag: "content.payment"},
		{name: "bad pub_time", msg: msg("9", pay, "2026-11-24T20:00:00+08:00", `{"tid":1}`), flag: "pub_time: want yyyy-MM-dd HH:mm:ss (GMT+8)"},
		{name: "pub_time as a number", msg: `{"id":9,"topic":"taobao_trade_TradeCreate","pub_time":1764000000000,"content":"{\"tid\":1}"}`, flag: "pub_time"},
		{name: "bad modified", msg: msg("9", pay, "", `{"tid":1,"modified":"yesterday"}`), flag: "content.modified"},
		{name: "bad buyer_nick", msg: msg("9", pay, "", `{"tid":1,"buyer_nick":1}`), flag: "content.buyer_nick: want a string"},
		{name: "content not JSON", msg: msg("9", pay, "", `tid=1`), flag: "content: want a JSON object encoded as a string"},
		{name: "content missing", msg: `{"id":9,"topic":"taobao_trade_TradeCreate"}`, flag: "content: required"},
		{name: "topic missing", msg: `{"id":9,"content":"{}"}`, flag: "topic: want a topic name"},
		{name: "topic a number", msg: `{"id":9,"topic":3,"content":"{}"}`, flag: "topic: want a topic name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.ParseBody(batch(tt.msg), received)
			if err != nil {
				t.Fatal(err)
			}
			if d.ID != "" {
				t.Fatalf("batch Delivery.ID %q", d.ID)
			}
			if tt.flag != "" {
				if len(d.Events) != 0 || len(d.Flagged) != 1 || !strings.Contains(d.Flagged[0].Reason, tt.flag) {
					t.Fatalf("got %s, want a flag containing %q", mustJSON(d), tt.flag)
				}
				if d.Flagged[0].ItemID != "9" {
					t.Fatalf("flag item id %q", d.Flagged[0].ItemID)
				}
				return
			}
			if len(d.Events) != 1 || len(d.Flagged) != 0 {
				t.Fatalf("got %s, want one event", mustJSON(d))
			}
			if !tt.want(d.Events[0]) {
				t.Fatalf("unexpected event %s", mustJSON(d.Events[0]))
			}
			if err := d.Events[0].ValidateRef(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Items that cannot be identified are flagged under their index, and never
// fail the rest of the batch; a single unidentifiable message is flagged
// too, with no delivery id.
func TestParseItemsWithoutID(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	good := msg("5", "taobao_trade_TradeCreate", "", `{"tid":1}`)
	d, err := s.ParseBody(batch(`1`, `null`, `[]`, `{"topic":"taobao_trade_TradeCreate"}`, `{"id":""}`, `{"id":-1}`, good), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 1 || d.Events[0].ID != "5" {
		t.Fatalf("events %s", mustJSON(d.Events))
	}
	wantReasons := []string{
		"item 0: want a message object",
		"item 1: want a message object",
		"item 2: want a message object",
		"item 3: id: required",
		"item 4: id: required",
		"item 5: id: want an integer or a string",
	}
	if len(d.Flagged) != len(wantReasons) {
		t.Fatalf("flags %s", mustJSON(d.Flagged))
	}
	for i, r := range wantReasons {
		if d.Flagged[i].Reason != r || d.Flagged[i].ItemID != "" {
			t.Errorf("flag %d = %+v, want %q", i, d.Flagged[i], r)
		}
	}
	d, err = s.ParseBody([]byte(`{"topic":"x"}`), testNow)
	if err != nil || d.ID != "" || len(d.Flagged) != 1 || d.Flagged[0].Reason != "item 0: id: required" {
		t.Fatalf("single without id: %s, %v", mustJSON(d), err)
	}
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	for _, b := range []string{``, " \n", `null`, `"x"`, `12`, `{`, `[{}`, `{"id":1} {}`, `id=1&topic=x`, `true`} {
		d, err := s.ParseBody([]byte(b), testNow)
		if !errors.Is(err, platforms.ErrMalformed) {
			t.Errorf("ParseBody(%q) = %v, %v; want ErrMalformed", b, d, err)
		}
	}
	if _, err := s.Parse(nil); !errors.Is(err, platforms.ErrMalformed) {
		t.Errorf("Parse(nil) = %v", err)
	}
	d, err := s.ParseBody([]byte(`[]`), testNow)
	if err != nil || len(d.Events) != 0 || len(d.Flagged) != 0 {
		t.Errorf("empty batch: %v, %v", d, err)
	}
}

func TestParseClockFallback(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	d, err := s.ParseBody([]byte(msg("1", "taobao_trade_TradeCreate", "", `{"tid":1}`)), time.Time{})
	if err != nil || len(d.Events) != 1 || !d.Events[0].OccurredAt.Equal(testNow) {
		t.Fatalf("got %v, %v", d, err)
	}
}

func TestMessageFromRoundTrip(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	d, err := s.ParseBody(readTestdata(t, "batch.json"), testNow)
	if err != nil {
		t.Fatal(err)
	}
	var msgs []Message
	for _, e := range d.Events {
		m, err := MessageFrom(e)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	body, q, err := NewRequest(vecAppKey, vecSecret, "hmac-sha256", testNow, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyQuery(q, body); err != nil {
		t.Fatal(err)
	}
	again, err := s.ParseBody(body, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !sameEvents(d.Events, again.Events) || len(again.Flagged) != 0 {
		t.Fatalf("round trip\nfirst %s\nagain %s", mustJSON(d.Events), mustJSON(again))
	}
	// One message: an object body and the message id as delivery id.
	body, q, err = NewRequest(vecAppKey, vecSecret, "md5", testNow, msgs[1])
	if err != nil || !strings.HasPrefix(string(body), "{") {
		t.Fatalf("single: %s, %v", body, err)
	}
	if err := s.VerifyQuery(q, body); err != nil {
		t.Fatal(err)
	}
	one, err := s.ParseBody(body, testNow)
	if err != nil || one.ID != msgs[1].ID || !sameEvents(one.Events, d.Events[1:2]) {
		t.Fatalf("single: %s, %v", mustJSON(one), err)
	}
	if _, err := MessageFrom(order.Event{Kind: order.KindDelivered}); err == nil {
		t.Fatal("MessageFrom(courier.delivered) succeeded")
	}
	if _, err := EncodeMessage(Message{ID: "1", Content: json.RawMessage(`[1]`)}); err == nil {
		t.Fatal("EncodeMessage with array content succeeded")
	}
	if _, _, err := NewRequest(vecAppKey, vecSecret, "sha1", testNow, msgs[0]); err == nil {
		t.Fatal("NewRequest with sha1 succeeded")
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func sameDelivery(a, b *platforms.Delivery) bool {
	return a.ID == b.ID && sameEvents(a.Events, b.Events) && reflect.DeepEqual(a.Flagged, b.Flagged)
}

// sameEvents compares events, times by instant.
func sameEvents(a, b []order.Event) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if !x.OccurredAt.Equal(y.OccurredAt) {
			return false
		}
		x.OccurredAt, y.OccurredAt = time.Time{}, time.Time{}
		if !reflect.DeepEqual(x, y) {
			return false
		}
	}
	return true
}
