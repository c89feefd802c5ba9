package douyin

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

// msg builds one wire message with data encoded as a string.
func msg(tag, id, data string) string {
	b, _ := json.Marshal(map[string]string{"tag": tag, "msg_id": id, "data": data})
	return string(b)
}

func body(msgs ...string) []byte { return []byte("[" + strings.Join(msgs, ",") + "]") }

func money(n int64) *order.Money { m := order.Money(n); return &m }

func TestParseReferenceVector(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	d, err := s.Parse(request(vecAppKey, vecSign, "", []byte(vecBody)))
	if err != nil {
		t.Fatal(err)
	}
	want := &platforms.Delivery{Events: []order.Event{{
		ID: "7300000000000000001", Source: "dy", Kind: order.KindPaid, System: order.SystemChannel,
		OccurredAt: time.Unix(1764000000, 0).UTC(),
		Order:      order.Key{Channel: "douyin", OrderNo: "6921000000001"},
		Data:       order.Data{Amount: money(12990), Currency: "CNY", Shop: "1000"},
	}}}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("Parse\n got %s\nwant %s", mustJSON(d), mustJSON(want))
	}
}

func TestParseTestdata(t *testing.T) {
	t.Parallel()
	s := mustNew(t, Config{Name: "dy", Channel: "dy-shop2", AppKey: vecAppKey, AppSecret: vecSecret})
	d, err := s.ParseBody(readTestdata(t, "push.json"), testNow)
	if err != nil {
		t.Fatal(err)
	}
	key := order.Key{Channel: "dy-shop2", OrderNo: "6921000000001"}
	ev := func(id string, k order.Kind, at int64, data order.Data) order.Event {
		data.Shop = "1000"
		return order.Event{ID: id, Source: "dy", Kind: k, System: order.SystemChannel, OccurredAt: time.Unix(at, 0).UTC(), Order: key, Data: data}
	}
	want := &platforms.Delivery{
		Events: []order.Event{
			ev("7300000000000000000", order.KindCreated, 1763999000, order.Data{}),
			ev("7300000000000000001", order.KindPaid, 1764000000, order.Data{Amount: money(12990), Currency: "CNY"}),
			ev("7300000000000000002", order.KindAddressChanged, 1764000100, order.Data{Receiver: &order.Receiver{
				Name: "张三", Phone: "13800001234", Province: "浙江省", City: "杭州市", District: "西湖区", Address: "文新街道文三路 100 号",
			}}),
			ev("7300000000000000004", order.KindCancelled, 1764004000, order.Data{Reason: "不想要了"}),
			ev("7300000000000000005", order.KindRefundRequested, 1764005000, order.Data{Amount: money(12990), Currency: "CNY"}),
			ev("7300000000000000006", order.KindRefundCompleted, 1764006000, order.Data{Amount: money(12990), Currency: "CNY"}),
		},
		Flagged: []platforms.Flag{
			{ItemID: "7300000000000000003", Reason: "tag 102 (seller shipped): corroborates shipment; no canonical kind"},
			{ItemID: "7300000000000000007", Reason: "known tag 207 (after-sale closed), not mapped"},
			{ItemID: "7300000000000000008", Reason: `unknown tag "999"`},
		},
	}
	if !reflect.DeepEqual(d, want) {
		t.Fatalf("Parse\n got %s\nwant %s", mustJSON(d), mustJSON(want))
	}
}

// TestTagMapping covers every tag: its kind, or the flag it gets.
func TestTagMapping(t *testing.T) {
	t.Parallel()
	const data = `{"p_id":6921000000001,"shop_id":1000}`
	tests := []struct {
		tag  string
		kind order.Kind
		flag string // substring of the reason when flagged
	}{
		{"100", order.KindCreated, ""},
		{"101", order.KindPaid, ""},
		{"105", order.KindAddressChanged, ""},
		{"106", order.KindCancelled, ""},
		{"200", order.KindRefundRequested, ""},
		{"206", order.KindRefundCompleted, ""},
		{"102", "", "tag 102 (seller shipped): corroborates shipment; no canonical kind"},
		{"108", "", "tag 108 (seller partly shipped): corroborates shipment; no canonical kind"},
		{"103", "", "known tag 103 (trade completed), not mapped"},
		{"104", "", "known tag 104 (shipping info changed), not mapped"},
		{"110", "", "known tag 110 (paid, pending processing), not mapped"},
		{"201", "", "known tag 201 (refund agreed), not mapped"},
		{"202", "", "known tag 202 (return agreed), not mapped"},
		{"203", "", "known tag 203 (buyer returned goods), not mapped"},
		{"204", "", "known tag 204 (refund refused), not mapped"},
		{"207", "", "known tag 207 (after-sale closed), not mapped"},
		{"205", "", `unknown tag "205"`},
		{"0", "", `unknown tag "0"`},
		{"1010", "", `unknown tag "1010"`},
	}
	s := vecSource(t)
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			d, err := s.ParseBody(body(msg(tt.tag, "m1", data)), testNow)
			if err != nil {
				t.Fatal(err)
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
			if len(d.Events) != 0 || len(d.Flagged) != 1 || d.Flagged[0].ItemID != "m1" || d.Flagged[0].Reason != tt.flag {
				t.Fatalf("got %s, want flag %q", mustJSON(d), tt.flag)
			}
		})
	}
	// Every mapped tag of the table above is in tags, and vice versa.
	for tag, info := range tags {
		if info.Kind != "" && tagOf[info.Kind] != tag {
			t.Errorf("tag %s: kind %s maps back to %s", tag, info.Kind, tagOf[info.Kind])
		}
	}
}

func TestParseFields(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	received := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		msg  string
		// want is checked when flag is "".
		want func(e order.Event) bool
		flag string
	}{
		{name: "numeric tag and msg_id", msg: `{"tag":101,"msg_id":7300000000000000009,"data":"{\"p_id\":1,\"pay_amount\":1}"}`,
			want: func(e order.Event) bool { return e.ID == "7300000000000000009" && *e.Data.Amount == 1 }},
		{name: "data as an object", msg: `{"tag":"100","msg_id":"m","data":{"p_id":"6921000000001","create_time":"1764000000"}}`,
			want: func(e order.Event) bool {
				return e.Order.OrderNo == "6921000000001" && e.OccurredAt.Equal(time.Unix(1764000000, 0))
			}},
		{name: "big p_id kept exactly", msg: msg("100", "m", `{"p_id":9223372036854775807}`),
			want: func(e order.Event) bool { return e.Order.OrderNo == "9223372036854775807" }},
		{name: "no time falls back to receipt", msg: msg("101", "m", `{"p_id":1,"pay_amount":"12990"}`),
			want: func(e order.Event) bool { return e.OccurredAt.Equal(received) && *e.Data.Amount == 12990 }},
		{name: "zero time falls back", msg: msg("106", "m", `{"p_id":1,"cancel_time":0}`),
			want: func(e order.Event) bool { return e.OccurredAt.Equal(received) && e.Data.Reason == "" }},
		{name: "no amount", msg: msg("200", "m", `{"p_id":1,"apply_time":1764000000}`),
			want: func(e order.Event) bool { return e.Data.Amount == nil && e.Data.Currency == "" }},
		{name: "zero amount", msg: msg("206", "m", `{"p_id":1,"refund_amount":0}`),
			want: func(e order.Event) bool {
				return e.Data.Amount != nil && *e.Data.Amount == 0 && e.Data.Currency == "CNY"
			}},
		{name: "receiver with plain-string places", msg: msg("105", "m", `{"p_id":1,"receiver_msg":{"name":"李四","tel":"139","addr":"{\"province\":\"广东省\",\"city\":\"深圳市\",\"town\":\"南山区\",\"detail\":\"科技园\"}"}}`),
			want: func(e order.Event) bool {
				return *e.Data.Receiver == order.Receiver{Name: "李四", Phone: "139", Province: "广东省", City: "深圳市", District: "南山区", Address: "科技园"}
			}},
		{name: "receiver addr as object, street already in detail", msg: msg("105", "m", `{"p_id":1,"receiver_msg":{"addr":{"province":{"name":"浙江省"},"street":{"name":"文新街道"},"detail":"文新街道文三路"}}}`),
			want: func(e order.Event) bool {
				return *e.Data.Receiver == order.Receiver{Province: "浙江省", Address: "文新街道文三路"}
			}},
		{name: "receiver addr free text", msg: msg("105", "m", `{"p_id":1,"receiver_msg":{"name":"王五","addr":"浙江省杭州市西湖区文三路"}}`),
			want: func(e order.Event) bool {
				return *e.Data.Receiver == order.Receiver{Name: "王五", Address: "浙江省杭州市西湖区文三路"}
			}},
		{name: "receiver_msg as a string", msg: msg("105", "m", `{"p_id":1,"receiver_msg":"{\"name\":\"赵六\"}"}`),
			want: func(e order.Event) bool { return e.Data.Receiver.Name == "赵六" }},
		{name: "encrypted receiver only", msg: msg("105", "m", `{"p_id":1,"receiver_msg":{"encrypt_name":"#a#","encrypt_tel":"#b#"}}`),
			want: func(e order.Event) bool { return *e.Data.Receiver == order.Receiver{} }},
		{name: "no receiver_msg", msg: msg("105", "m", `{"p_id":1}`),
			want: func(e order.Event) bool { return e.Data.Receiver == nil }},

		{name: "missing p_id", msg: msg("101", "m", `{"pay_amount":1}`), flag: "tag 101: data.p_id: required"},
		{name: "float p_id", msg: msg("101", "m", `{"p_id":6.921e12}`), flag: "tag 101: data.p_id: want an integer or a string"},
		{name: "negative amount", msg: msg("101", "m", `{"p_id":1,"pay_amount":-1}`), flag: "data.pay_amount: want a non-negative integer number of fen"},
		{name: "yuan amount", msg: msg("101", "m", `{"p_id":1,"pay_amount":"129.90"}`), flag: "data.pay_amount"},
		{name: "time in ms", msg: msg("101", "m", `{"p_id":1,"pay_time":1764000000000}`), flag: "data.pay_time: unix seconds out of range"},
		{name: "time as text", msg: msg("100", "m", `{"p_id":1,"create_time":"2026-11-24 20:00:00"}`), flag: "data.create_time: want unix seconds"},
		{name: "bad cancel_reason", msg: msg("106", "m", `{"p_id":1,"cancel_reason":3}`), flag: "data.cancel_reason: want a string"},
		{name: "bad receiver", msg: msg("105", "m", `{"p_id":1,"receiver_msg":[1]}`), flag: "data.receiver_msg: want an object"},
		{name: "bad addr place", msg: msg("105", "m", `{"p_id":1,"receiver_msg":{"addr":{"city":7}}}`), flag: "data.receiver_msg.addr.city"},
		{name: "bad shop_id", msg: msg("100", "m", `{"p_id":1,"shop_id":true}`), flag: "data.shop_id"},
		{name: "data not JSON", msg: msg("100", "m", `p_id=1`), flag: "tag 100: data: want a JSON object encoded as a string"},
		{name: "data missing", msg: `{"tag":"100","msg_id":"m"}`, flag: "tag 100: data: required"},
		{name: "data an array", msg: `{"tag":"100","msg_id":"m","data":[1]}`, flag: "tag 100: data: want a JSON object"},
		{name: "long p_id", msg: msg("100", "m", `{"p_id":"`+strings.Repeat("9", 65)+`"}`), flag: "data.p_id: longer than 64 characters"},
		{name: "tag missing", msg: `{"msg_id":"m","data":"{}"}`, flag: "tag: want a tag code"},
		{name: "tag an object", msg: `{"tag":{},"msg_id":"m","data":"{}"}`, flag: "tag: want a tag code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := s.ParseBody(body(tt.msg), received)
			if err != nil {
				t.Fatal(err)
			}
			if tt.flag != "" {
				if len(d.Events) != 0 || len(d.Flagged) != 1 || !strings.Contains(d.Flagged[0].Reason, tt.flag) {
					t.Fatalf("got %s, want a flag containing %q", mustJSON(d), tt.flag)
				}
				if d.Flagged[0].ItemID != "m" {
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

// TestParseItemsWithoutID: items that cannot be identified are flagged
// under their index, and never fail the rest of the push.
func TestParseItemsWithoutID(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	good := msg("100", "ok", `{"p_id":1}`)
	d, err := s.ParseBody(body(`1`, `null`, `"x"`, `{"tag":"100","data":"{}"}`, `{"tag":"100","msg_id":""}`, `{"tag":"100","msg_id":1.5}`,
		`{"tag":"100","msg_id":"`+strings.Repeat("a", 129)+`"}`, good), testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 1 || d.Events[0].ID != "ok" {
		t.Fatalf("events %s", mustJSON(d.Events))
	}
	wantReasons := []string{
		"item 0: want a message object",
		"item 1: want a message object",
		"item 2: want a message object",
		"item 3: msg_id: required",
		"item 4: msg_id: required",
		"item 5: msg_id: want an integer or a string",
		"item 6: msg_id: longer than 64 characters",
	}
	if len(d.Flagged) != len(wantReasons) {
		t.Fatalf("flags %s", mustJSON(d.Flagged))
	}
	for i, r := range wantReasons {
		if d.Flagged[i].Reason != r {
			t.Errorf("flag %d = %q, want %q", i, d.Flagged[i].Reason, r)
		}
	}
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	for _, b := range []string{``, `  `, `{}`, `null`, `"[]"`, `[`, `[1,]`, `{"tag":"101"}`, `tag=101`, `[] []`} {
		d, err := s.ParseBody([]byte(b), testNow)
		if !errors.Is(err, platforms.ErrMalformed) {
			t.Errorf("ParseBody(%q) = %v, %v; want ErrMalformed", b, d, err)
		}
	}
	if _, err := s.Parse(nil); !errors.Is(err, platforms.ErrMalformed) {
		t.Errorf("Parse(nil) = %v", err)
	}
	// An empty push is readable: nothing to store.
	d, err := s.ParseBody([]byte(` [ ] `), testNow)
	if err != nil || len(d.Events) != 0 || len(d.Flagged) != 0 {
		t.Errorf("empty push: %v, %v", d, err)
	}
}

// A zero ReceivedAt falls back to the source's clock.
func TestParseClockFallback(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	d, err := s.ParseBody(body(msg("100", "m", `{"p_id":1}`)), time.Time{})
	if err != nil || len(d.Events) != 1 || !d.Events[0].OccurredAt.Equal(testNow) {
		t.Fatalf("got %v, %v", d, err)
	}
}

func TestMessageFrom(t *testing.T) {
	t.Parallel()
	s := vecSource(t)
	d, err := s.ParseBody(readTestdata(t, "push.json"), testNow)
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
	b, h, err := NewRequest(vecAppKey, vecSecret, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	req := &platforms.Request{Header: h, Body: b, ReceivedAt: testNow}
	if err := s.Verify(req); err != nil {
		t.Fatal(err)
	}
	again, err := s.Parse(req)
	if err != nil {
		t.Fatal(err)
	}
	if !sameEvents(d.Events, again.Events) || len(again.Flagged) != 0 {
		t.Fatalf("round trip\nfirst %s\nagain %s", mustJSON(d.Events), mustJSON(again))
	}
	if _, err := MessageFrom(order.Event{Kind: order.KindWMSOutbound}); err == nil {
		t.Fatal("MessageFrom(wms.outbound) succeeded")
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
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
