package standard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
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

func testSource(t testing.TB, maxEvents int) *Source {
	return mustNew(t, Config{Name: "erp", Secrets: []string{vecSecret}, MaxEvents: maxEvents}, clockAt(vecTS))
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParseSingle(t *testing.T) {
	s := testSource(t, 0)
	h := http.Header{}
	h.Set(HeaderID, "msg_42")
	d, err := s.Parse(&platforms.Request{Header: h, Body: readTestdata(t, "single.json")})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if d.ID != "msg_42" {
		t.Errorf("Delivery.ID = %q", d.ID)
	}
	if len(d.Events) != 1 {
		t.Fatalf("%d events", len(d.Events))
	}
	amount := order.Money(12990)
	shipBy, promisedBy := mustTime("2026-11-26T20:00:00+08:00"), mustTime("2026-11-29T23:59:59+08:00")
	want := order.Event{
		ID: "evt-0001", Source: "erp", Kind: order.KindPaid, System: order.SystemChannel,
		OccurredAt: mustTime("2026-11-24T20:00:00+08:00"),
		Order:      order.Key{Channel: "douyin", OrderNo: "6921000000001"},
		Data: order.Data{
			Amount: &amount, Currency: "CNY", BuyerIP: "101.1.2.3",
			Receiver:  &order.Receiver{Name: "张三", Phone: "13800001234", Province: "浙江省", City: "杭州市", District: "西湖区", Address: "文三路 100 号"},
			Items:     []order.Item{{SKU: "LIP-01", Qty: 2, Price: 6495}},
			Warehouse: "HZ-01", Courier: "SF", TrackingNo: "SF1234567890",
			ShipBy: &shipBy, PromisedBy: &promisedBy,
		},
	}
	if !sameEvents([]order.Event{want}, d.Events) {
		t.Fatalf("got  %s\nwant %s", mustJSON(d.Events), mustJSON([]order.Event{want}))
	}
	if _, off := d.Events[0].OccurredAt.Zone(); off != 8*3600 {
		t.Errorf("offset %d lost", off)
	}
}

// A packing event names its station and packer.
func TestParseStationAndPacker(t *testing.T) {
	s := testSource(t, 0)
	body := []byte(`{"id":"p1","type":"wms.packed","occurredAt":"2026-11-24T21:00:00+08:00",
		"order":{"channel":"douyin","orderNo":"6921000000001"},"data":{"warehouse":"HZ-01","station":"HZ-01-S3","packer":"P007"}}`)
	d, err := s.Parse(&platforms.Request{Header: http.Header{}, Body: body})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 1 || d.Events[0].Data.Station != "HZ-01-S3" || d.Events[0].Data.Packer != "P007" || d.Events[0].System != order.SystemWMS {
		t.Fatalf("%s", mustJSON(d.Events))
	}
}

func TestParseBatch(t *testing.T) {
	s := testSource(t, 0)
	d, err := s.Parse(&platforms.Request{Body: readTestdata(t, "batch.json")})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if d.ID != "" {
		t.Errorf("Delivery.ID = %q, want empty without header", d.ID)
	}
	if len(d.Events) != 3 {
		t.Fatalf("%d events", len(d.Events))
	}
	wantSys := []order.System{order.SystemChannel, order.SystemWMS, order.SystemCourier}
	wantIDs := []string{"evt-0002", "evt-0003", "evt-0004"}
	for i, e := range d.Events {
		if e.ID != wantIDs[i] || e.System != wantSys[i] || e.Source != "erp" {
			t.Errorf("event %d: id %q system %q source %q", i, e.ID, e.System, e.Source)
		}
	}
	if a := d.Events[0].Data.Amount; a == nil || *a != 5950 {
		t.Errorf("numeric amount = %v", a)
	}
	if !d.Events[2].OccurredAt.Equal(mustTime("2026-11-27T07:30:00.25Z")) {
		t.Errorf("fractional time = %v", d.Events[2].OccurredAt)
	}
}

// validEvent is a complete event as a generic map, for mutation.
func validEvent(i int) map[string]any {
	return map[string]any{
		"id":         fmt.Sprintf("evt-%d", i),
		"type":       "order.paid",
		"occurredAt": "2026-11-24T20:00:00+08:00",
		"system":     "channel",
		"order":      map[string]any{"channel": "douyin", "orderNo": fmt.Sprintf("69210000%05d", i)},
		"data": map[string]any{
			"amount":   "129.90",
			"receiver": map[string]any{"name": "张三", "city": "杭州市"},
			"items": []any{
				map[string]any{"sku": "A", "qty": 1, "price": "10.00"},
				map[string]any{"sku": "B", "qty": 2, "price": 59.95},
			},
			"shipBy": "2026-11-26T20:00:00+08:00",
		},
	}
}

func batchBody(events ...map[string]any) []byte {
	list := make([]any, len(events))
	for i, e := range events {
		list[i] = e
	}
	return mustJSON(map[string]any{"events": list})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseFieldErrors(t *testing.T) {
	dataOf := func(e map[string]any) map[string]any { return e["data"].(map[string]any) }
	itemOf := func(e map[string]any, i int) map[string]any { return dataOf(e)["items"].([]any)[i].(map[string]any) }
	tests := []struct {
		field  string // path inside the event
		reason string // substring
		mutate func(e map[string]any)
	}{
		{"id", "required", func(e map[string]any) { delete(e, "id") }},
		{"id", "required", func(e map[string]any) { e["id"] = nil }},
		{"id", "want a string", func(e map[string]any) { e["id"] = 17 }},
		{"id", "longer than 128", func(e map[string]any) { e["id"] = strings.Repeat("x", 129) }},
		{"type", `unknown event type "order.foo"`, func(e map[string]any) { e["type"] = "order.foo" }},
		{"type", "required", func(e map[string]any) { delete(e, "type") }},
		{"type", "want a string", func(e map[string]any) { e["type"] = []any{"order.paid"} }},
		{"system", `unknown system "crm"`, func(e map[string]any) { e["system"] = "crm" }},
		{"system", `unknown system ""`, func(e map[string]any) { e["system"] = "" }},
		{"system", "want a string", func(e map[string]any) { e["system"] = true }},
		{"occurredAt", "required", func(e map[string]any) { delete(e, "occurredAt") }},
		{"occurredAt", "RFC 3339", func(e map[string]any) { e["occurredAt"] = "2026-11-24 20:00:00" }},
		{"occurredAt", "RFC 3339", func(e map[string]any) { e["occurredAt"] = "2026-11-24T20:00:00" }},
		{"occurredAt", "RFC 3339", func(e map[string]any) { e["occurredAt"] = 1764000000 }},
		{"order", "want an object", func(e map[string]any) { e["order"] = "douyin/1" }},
		{"order.channel", "required", func(e map[string]any) { delete(e, "order") }},
		{"order.channel", "required", func(e map[string]any) { delete(e["order"].(map[string]any), "channel") }},
		{"order.channel", "want a string", func(e map[string]any) { e["order"].(map[string]any)["channel"] = 1 }},
		{"order.channel", "longer than 32", func(e map[string]any) { e["order"].(map[string]any)["channel"] = strings.Repeat("c", 33) }},
		{"order.orderNo", "required", func(e map[string]any) { e["order"].(map[string]any)["orderNo"] = "" }},
		{"order.orderNo", "want a string", func(e map[string]any) { e["order"].(map[string]any)["orderNo"] = 6921000000001 }},
		{"data", "want an object", func(e map[string]any) { e["data"] = []any{} }},
		{"data.amount", "negative", func(e map[string]any) { dataOf(e)["amount"] = "-1.00" }},
		{"data.amount", "decimal", func(e map[string]any) { dataOf(e)["amount"] = "1.234" }},
		{"data.amount", "decimal", func(e map[string]any) { dataOf(e)["amount"] = json.RawMessage(`1e3`) }},
		{"data.amount", "decimal", func(e map[string]any) { dataOf(e)["amount"] = true }},
		{"data.amount", "decimal", func(e map[string]any) { dataOf(e)["amount"] = "abc" }},
		{"data.amount", "decimal", func(e map[string]any) { dataOf(e)["amount"] = map[string]any{"value": 1} }},
		{"data.currency", "want a string", func(e map[string]any) { dataOf(e)["currency"] = 156 }},
		{"data.buyerIp", "want a string", func(e map[string]any) { dataOf(e)["buyerIp"] = []any{1} }},
		{"data.receiver", "want an object", func(e map[string]any) { dataOf(e)["receiver"] = "张三" }},
		{"data.receiver.phone", "want a string", func(e map[string]any) { dataOf(e)["receiver"].(map[string]any)["phone"] = 13800001234 }},
		{"data.items", "want an array", func(e map[string]any) { dataOf(e)["items"] = map[string]any{} }},
		{"data.items[1]", "want an object", func(e map[string]any) { dataOf(e)["items"].([]any)[1] = "B" }},
		{"data.items[1]", "want an object", func(e map[string]any) { dataOf(e)["items"].([]any)[1] = nil }},
		{"data.items[1].qty", "must be positive", func(e map[string]any) { itemOf(e, 1)["qty"] = 0 }},
		{"data.items[1].qty", "must be positive", func(e map[string]any) { itemOf(e, 1)["qty"] = -2 }},
		{"data.items[1].qty", "must be positive", func(e map[string]any) { delete(itemOf(e, 1), "qty") }},
		{"data.items[1].qty", "want an integer", func(e map[string]any) { itemOf(e, 1)["qty"] = 1.5 }},
		{"data.items[1].qty", "want an integer", func(e map[string]any) { itemOf(e, 1)["qty"] = "2" }},
		{"data.items[1].qty", "want an integer", func(e map[string]any) { itemOf(e, 1)["qty"] = json.RawMessage(`1e30`) }},
		{"data.items[0].sku", "want a string", func(e map[string]any) { itemOf(e, 0)["sku"] = 7 }},
		{"data.items[0].price", "decimal", func(e map[string]any) { itemOf(e, 0)["price"] = "ten" }},
		{"data.items[0].price", "negative", func(e map[string]any) { itemOf(e, 0)["price"] = "-0.01" }},
		{"data.shipBy", "RFC 3339", func(e map[string]any) { dataOf(e)["shipBy"] = "tomorrow" }},
		{"data.promisedBy", "RFC 3339", func(e map[string]any) { dataOf(e)["promisedBy"] = "2026-11-29" }},
		{"data.warehouse", "want a string", func(e map[string]any) { dataOf(e)["warehouse"] = map[string]any{} }},
		{"data.courier", "want a string", func(e map[string]any) { dataOf(e)["courier"] = false }},
		{"data.trackingNo", "want a string", func(e map[string]any) { dataOf(e)["trackingNo"] = 123 }},
		{"data.reason", "want a string", func(e map[string]any) { dataOf(e)["reason"] = 1 }},
		{"data.station", "want a string", func(e map[string]any) { dataOf(e)["station"] = 3 }},
		{"data.packer", "want a string", func(e map[string]any) { dataOf(e)["packer"] = []int{} }},
	}
	s := testSource(t, 0)
	for _, tt := range tests {
		single := validEvent(0)
		tt.mutate(single)
		batch := []map[string]any{validEvent(0), validEvent(1), validEvent(2), validEvent(3), validEvent(4)}
		tt.mutate(batch[3])
		cases := []struct {
			name, field string
			body        []byte
		}{
			{"single", tt.field, mustJSON(single)},
			{"batch", "events[3]." + tt.field, batchBody(batch...)},
		}
		for _, c := range cases {
			t.Run(c.field+"/"+c.name+"/"+tt.reason, func(t *testing.T) {
				_, err := s.Parse(&platforms.Request{Body: c.body})
				checkFieldErr(t, err, c.field, tt.reason)
			})
		}
	}
}

func checkFieldErr(t *testing.T, err error, field, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Parse succeeded, want %s: %s", field, reason)
	}
	if !errors.Is(err, platforms.ErrMalformed) {
		t.Errorf("error %q does not wrap ErrMalformed", err)
	}
	if !errors.Is(err, order.ErrInvalid) {
		t.Errorf("error %q does not match order.ErrInvalid", err)
	}
	fe, ok := errors.AsType[*order.FieldError](err)
	if !ok {
		t.Fatalf("error %q holds no *order.FieldError", err)
	}
	if fe.Field != field {
		t.Errorf("Field = %q, want %q (error %q)", fe.Field, field, err)
	}
	if !strings.Contains(fe.Reason, reason) {
		t.Errorf("Reason = %q, want it to contain %q", fe.Reason, reason)
	}
	if !strings.Contains(err.Error(), field+": ") {
		t.Errorf("error %q does not name %q", err, field)
	}
}

func TestParseBatchErrors(t *testing.T) {
	many := func(n int) []byte {
		evs := make([]map[string]any, n)
		for i := range evs {
			evs[i] = validEvent(i)
		}
		return batchBody(evs...)
	}
	tests := []struct {
		name      string
		maxEvents int
		body      []byte
		wantN     int // events on success; 0 means error
		field     string
		reason    string
	}{
		{name: "at default limit", body: many(1000), wantN: 1000},
		{name: "over default limit", body: many(1001), field: "events", reason: "1001 events, at most 1000"},
		{name: "at custom limit", maxEvents: 3, body: many(3), wantN: 3},
		{name: "over custom limit", maxEvents: 3, body: many(4), field: "events", reason: "at most 3"},
		{name: "empty batch", body: []byte(`{"events": []}`), field: "events", reason: "empty"},
		{name: "events null", body: []byte(`{"events": null}`), field: "events", reason: "want an array"},
		{name: "events object", body: []byte(`{"events": {"id": "x"}}`), field: "events", reason: "want an array"},
		{name: "event not an object", body: []byte(`{"events": [` + string(mustJSON(validEvent(0))) + `, "evt-2"]}`), field: "events[1]", reason: "want an event object"},
		{name: "event null", body: []byte(`{"events": [null]}`), field: "events[0]", reason: "want an event object"},
		{name: "first bad event wins", body: batchBody(validEvent(0), map[string]any{"id": "x"}, map[string]any{}), field: "events[1].type", reason: "required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := testSource(t, tt.maxEvents)
			d, err := s.Parse(&platforms.Request{Body: tt.body})
			if tt.wantN > 0 {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if len(d.Events) != tt.wantN {
					t.Fatalf("%d events, want %d", len(d.Events), tt.wantN)
				}
				return
			}
			checkFieldErr(t, err, tt.field, tt.reason)
		})
	}
}

func TestParseBadBodies(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // substring of the error
	}{
		{"empty", "", "empty body"},
		{"blank", " \n\t", "empty body"},
		{"trailing comma", `{"id": "x",}`, "invalid JSON at byte 12"},
		{"truncated", `{"events": [{"id": "x"`, "invalid JSON at byte 22"},
		{"trailing garbage", `{"id": "x"} {}`, "invalid JSON at byte 13"},
		{"bad unknown field", `{"id": "x", "meta": {oops}}`, "invalid JSON at byte 22"},
		{"array", `[{"id": "x"}]`, "want a JSON object"},
		{"string", `"hello"`, "want a JSON object"},
		{"null", `null`, "want a JSON object"},
		{"number", `42`, "want a JSON object"},
	}
	s := testSource(t, 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Parse(&platforms.Request{Body: []byte(tt.body)})
			if err == nil {
				t.Fatal("Parse succeeded")
			}
			if !errors.Is(err, platforms.ErrMalformed) {
				t.Errorf("error %q does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestParseAmountForms(t *testing.T) {
	tests := []struct {
		raw  string
		want order.Money
	}{
		{`"129.90"`, 12990},
		{`"129.9"`, 12990},
		{`"130"`, 13000},
		{`" 130 "`, 13000},
		{`".5"`, 50},
		{`"0.01"`, 1},
		{`"0"`, 0},
		{`129.90`, 12990},
		{`129.9`, 12990},
		{`130`, 13000},
		{`0`, 0},
		{`0.05`, 5},
		{`"10000000000000.99"`, 1000000000000099},
	}
	s := testSource(t, 0)
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			body := fmt.Sprintf(`{"id":"e","type":"order.paid","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"tmall","orderNo":"1"},
				"data":{"amount":%s,"items":[{"sku":"A","qty":1,"price":%s}]}}`, tt.raw, tt.raw)
			evs, err := s.ParseBody([]byte(body))
			if err != nil {
				t.Fatalf("ParseBody: %v", err)
			}
			d := evs[0].Data
			if d.Amount == nil || *d.Amount != tt.want || d.Items[0].Price != tt.want {
				t.Fatalf("amount %v price %v, want %v", d.Amount, d.Items[0].Price, tt.want)
			}
		})
	}
	for _, raw := range []string{`"1.234"`, `1.234`, `1e2`, `"1e2"`, `"+1"`, `"1,000.00"`, `"¥12"`, `""`, `"."`, `"-"`, `"100000000000000"`, `[]`, `{}`, `false`} {
		t.Run("bad "+raw, func(t *testing.T) {
			body := fmt.Sprintf(`{"id":"e","type":"order.paid","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"tmall","orderNo":"1"},"data":{"amount":%s}}`, raw)
			_, err := s.ParseBody([]byte(body))
			checkFieldErr(t, err, "data.amount", "decimal")
		})
	}
	t.Run("null amount is absent", func(t *testing.T) {
		evs, err := s.ParseBody([]byte(`{"id":"e","type":"order.paid","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"tmall","orderNo":"1"},"data":{"amount":null}}`))
		if err != nil || evs[0].Data.Amount != nil {
			t.Fatalf("err %v amount %v", err, evs[0].Data.Amount)
		}
	})
}

func TestParseDefaultsAndIgnores(t *testing.T) {
	s := testSource(t, 0)
	tests := []struct {
		name string
		body string
		want order.System
	}{
		{"system absent: channel kind", `{"id":"e","type":"refund.requested","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"tmall","orderNo":"1"}}`, order.SystemChannel},
		{"system absent: wms kind", `{"id":"e","type":"wms.outbound","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"tmall","orderNo":"1"}}`, order.SystemWMS},
		{"system null: courier kind", `{"id":"e","type":"courier.collected","system":null,"occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"tmall","orderNo":"1"}}`, order.SystemCourier},
		{"system given", `{"id":"e","type":"wms.outbound","system":"erp","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"tmall","orderNo":"1"}}`, order.SystemERP},
		{"unknown and spoofed fields ignored", `{"id":"e","type":"order.created","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"tmall","orderNo":"1","x":1},
			"source":"someone-else","recovered":true,"extra":{"deep":[1,{"a":null}]},"data":{"unknown":"y","items":[{"sku":"A","qty":1,"weight":3}]}}`, order.SystemChannel},
		{"whitespace everywhere", " \n{ \"id\" : \"e\" ,\n \"type\" :\t\"order.paid\", \"occurredAt\" : \"2026-11-24T20:00:00+08:00\" , \"order\" : { \"channel\" : \"tmall\" , \"orderNo\" : \"1\" } , \"data\" : { \"amount\" : 12.5 } }\n", order.SystemChannel},
		{"data null", `{"id":"e","type":"order.paid","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"tmall","orderNo":"1"},"data":null}`, order.SystemChannel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, err := s.ParseBody([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseBody: %v", err)
			}
			e := evs[0]
			if e.System != tt.want || e.Source != "erp" || e.Recovered {
				t.Fatalf("system %q source %q recovered %v", e.System, e.Source, e.Recovered)
			}
		})
	}
}

// sameEvents reports whether two event lists carry the same facts: equal
// JSON (which keeps each time's offset) and equal instants.
func sameEvents(a, b []order.Event) bool {
	if len(a) != len(b) || string(mustJSON(a)) != string(mustJSON(b)) {
		return false
	}
	for i := range a {
		if !a[i].OccurredAt.Equal(b[i].OccurredAt) {
			return false
		}
	}
	return true
}
