package standard

import (
	"bytes"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// jsonKeys lists the JSON names of a struct type's fields.
func jsonKeys(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			out = append(out, jsonKeys(f.Type)...)
			continue
		}
		out = append(out, strings.Split(f.Tag.Get("json"), ",")[0])
	}
	slices.Sort(out)
	return out
}

// The fast path reads the fields the exact path reads, no more, no less:
// a field added to one shape and not the other fails here.
func TestFastShapesMatchExact(t *testing.T) {
	for _, c := range []struct{ exact, fast any }{
		{wireBody{}, fastBody{}},
		{wireEvent{}, fastEvent{}},
		{wireData{}, fastData{}},
	} {
		e, f := jsonKeys(reflect.TypeOf(c.exact)), jsonKeys(reflect.TypeOf(c.fast))
		if !slices.Equal(e, f) {
			t.Errorf("%T reads %v, %T reads %v", c.exact, e, c.fast, f)
		}
	}
}

// Bodies the fast path answers come out as the exact path's; the others
// (each case names why) are left to it.
func TestFastParse(t *testing.T) {
	full := validEvent(1)
	data := full["data"].(map[string]any)
	for k, v := range map[string]any{"currency": "CNY", "buyerIp": "10.0.0.1", "buyerId": "b1", "buyerMessage": "尽快发货", "shop": "旗舰店",
		"warehouse": "HZ-01", "courier": "SF", "trackingNo": "SF123", "promisedBy": "2026-11-28T20:00:00+08:00",
		"reason": "r", "station": "st", "packer": "p1"} {
		data[k] = v
	}
	data["receiver"] = map[string]any{"name": "张三", "phone": "13800001234", "province": "浙江省", "city": "杭州市", "district": "西湖区", "address": "文三路 1 号"}
	noSystem := validEvent(3)
	delete(noSystem, "system")
	emptyItems := validEvent(4)
	emptyItems["data"].(map[string]any)["items"] = []any{}
	cases := []struct {
		name string
		body []byte
		fast bool
	}{
		{"every field", mustJSON(full), true},
		{"batch", batchBody(validEvent(1), full, noSystem), true},
		{"default system", mustJSON(noSystem), true},
		{"empty items", mustJSON(emptyItems), true},
		{"testdata single", readTestdata(t, "single.json"), true},
		{"testdata batch (a null)", readTestdata(t, "batch.json"), false},
		{"key in other case", []byte(`{"id":"e","type":"order.paid","occurredAt":"2026-11-24T20:00:00Z","Order":{"channel":"c","orderNo":"1"}}`), true},
		{"null", []byte(`{"events":null,"id":"e","type":"order.paid","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"c","orderNo":"1"}}`), false},
		{"escape", []byte(`{"id":"e","type":"order.paid","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"c","orderNo":"\u0031"}}`), false},
		{"object key twice", []byte(`{"id":"e","type":"order.paid","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"c","orderNo":"1"},"data":{"shop":"a"},"DATA":{"warehouse":"w"}}`), false},
		{"key spelt as a value", []byte(`{"id":"e","type":"order.paid","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"c","orderNo":"1"},"data":{"shop":"data"}}`), false},
		{"invalid field", []byte(`{"id":1,"type":"order.paid","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"c","orderNo":"1"}}`), false},
		{"empty batch", []byte(`{"events":[]}`), false},
		{"item not an object", []byte(`{"id":"e","type":"order.paid","occurredAt":"2026-11-24T20:00:00Z","order":{"channel":"c","orderNo":"1"},"data":{"items":[1]}}`), false},
	}
	s := mustNew(t, Config{Name: "erp", Secrets: []string{vecSecret}}, clockAt(vecTS))
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fast, ok := s.fastParse(c.body)
			if ok != c.fast {
				t.Fatalf("fast path took it: %v, want %v", ok, c.fast)
			}
			exact, err := s.parseExact(c.body, bytes.TrimLeft(c.body, " \t\r\n"))
			if !ok {
				return
			}
			if err != nil {
				t.Fatalf("fast path parsed what the exact path refuses: %v", err)
			}
			if !sameEvents(fast, exact) {
				t.Fatalf("fast %s\nexact %s", mustJSON(fast), mustJSON(exact))
			}
		})
	}
}

// BenchmarkParseBody parses a 20-event batch and a single event, the
// bodies tower bench sends, by the fast and by the exact path.
func BenchmarkParseBody(b *testing.B) {
	s := mustNew(b, Config{Name: "erp", Secrets: []string{vecSecret}}, clockAt(vecTS))
	evs := make([]map[string]any, 20)
	for i := range evs {
		evs[i] = validEvent(i)
	}
	for _, body := range []struct {
		name string
		b    []byte
	}{{"events=20", batchBody(evs...)}, {"events=1", mustJSON(validEvent(1))}} {
		b.Run(body.name+"/fast", func(b *testing.B) {
			b.SetBytes(int64(len(body.b)))
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := s.fastParse(body.b); !ok {
					b.Fatal("not fast")
				}
			}
		})
		b.Run(body.name+"/exact", func(b *testing.B) {
			b.SetBytes(int64(len(body.b)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.parseExact(body.b, body.b); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
