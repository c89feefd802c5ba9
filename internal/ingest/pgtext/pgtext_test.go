package pgtext_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/towerhq/tower/domain/order"
	"github.com/towerhq/tower/internal/ingest/pgtext"
)

func TestString(t *testing.T) {
	t.Parallel()
	const r = pgtext.Replacement
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"ascii", "order T-1", "order T-1"},
		{"chinese", "张三 北京市朝阳区", "张三 北京市朝阳区"},
		{"a real replacement character is kept", "a\uFFFDb", "a\uFFFDb"},
		{"NUL", "a\x00b", "a" + r + "b"},
		{"only NULs", "\x00\x00", r + r},
		{"lone continuation byte", "a\x80b", "a" + r + "b"},
		{"latin-1 byte", "caf\xe9", "caf" + r},
		{"truncated 3-byte sequence", "北\xe4\xba", "北" + r + r},
		{"overlong encoding of /", "\xc0\xaf", r + r},
		{"UTF-16 surrogate encoded as UTF-8", "\xed\xa0\x80", r + r + r},
		{"beyond U+10FFFF", "\xf4\x90\x80\x80", r + r + r + r},
		{"mixed", "\xff\x00ok", r + r + "ok"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := pgtext.String(tc.in)
			if got != tc.want {
				t.Errorf("String(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if pgtext.Valid(tc.in) != (tc.in == tc.want) {
				t.Errorf("Valid(%q) = %v", tc.in, pgtext.Valid(tc.in))
			}
		})
	}
}

// FuzzString: whatever the bytes, the result is valid UTF-8 without NUL;
// storable input comes back unchanged; cleaning is idempotent; and only
// bad bytes change (every rune of the input that was storable is still
// there, in order).
func FuzzString(f *testing.F) {
	for _, s := range []string{"", "abc", "张三", "\x00", "\xff", "a\x00b\xfe", "\xed\xa0\x80", "\xe4\xba", "\uFFFD"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := pgtext.String(s)
		if !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0 {
			t.Fatalf("String(%q) = %q: not storable", s, got)
		}
		if !pgtext.Valid(got) {
			t.Fatalf("Valid(String(%q)) = false", s)
		}
		if pgtext.Valid(s) && got != s {
			t.Fatalf("String(%q) = %q: changed storable input", s, got)
		}
		if again := pgtext.String(got); again != got {
			t.Fatalf("not idempotent: %q then %q", got, again)
		}
		if pgtext.Problem(s) == "" != pgtext.Valid(s) {
			t.Fatalf("Problem(%q) = %q disagrees with Valid", s, pgtext.Problem(s))
		}
		// Dropping the replacements from both sides leaves the same text.
		var kept strings.Builder
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != 0 && r != utf8.RuneError {
				kept.WriteString(s[i : i+n])
			}
			i += n
		}
		if strings.ReplaceAll(got, pgtext.Replacement, "") != kept.String() {
			t.Fatalf("String(%q) = %q lost or reordered storable text", s, got)
		}
	})
}

func event() order.Event {
	amount := order.Money(12990)
	ship := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	return order.Event{
		ID: "e-1", Source: "shop", Kind: order.KindCreated, System: order.SystemChannel,
		OccurredAt: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC),
		Order:      order.Key{Channel: order.ChannelTmall, OrderNo: "T-1"},
		Data: order.Data{Amount: &amount, Currency: "CNY", ShipBy: &ship,
			Receiver: &order.Receiver{Name: "张三", Address: "朝阳区 1 号"},
			Items:    []order.Item{{SKU: "A", Qty: 1, Price: 100}, {SKU: "B", Qty: 2, Price: 200}}},
	}
}

func TestCleanLeavesStorableValuesAlone(t *testing.T) {
	t.Parallel()
	in := []order.Event{event(), event()}
	out, changed := pgtext.Clean(in)
	if changed {
		t.Fatal("Clean changed storable events")
	}
	if &out[0] != &in[0] {
		t.Error("Clean copied storable events; want them shared")
	}
	if err := pgtext.Check(in); err != nil {
		t.Errorf("Check: %v", err)
	}
}

func TestCleanCopiesOnWrite(t *testing.T) {
	t.Parallel()
	in := []order.Event{event(), event()}
	in[1].Data.Receiver.Name = "张\x00三"
	in[1].Data.Items[1].SKU = "B\xff"
	in[1].Order.OrderNo = "T-\xfe"
	in[1].Kind = "order.\x00created"
	before := deepCopy(t, in)

	out, changed := pgtext.Clean(in)
	if !changed {
		t.Fatal("Clean reported no change")
	}
	if !reflect.DeepEqual(in, before) {
		t.Fatal("Clean modified its input")
	}
	r := pgtext.Replacement
	if got := out[1].Data.Receiver.Name; got != "张"+r+"三" {
		t.Errorf("receiver name = %q", got)
	}
	if got := out[1].Data.Items[1].SKU; got != "B"+r {
		t.Errorf("sku = %q", got)
	}
	if got := out[1].Order.OrderNo; got != "T-"+r {
		t.Errorf("order no = %q", got)
	}
	if got := out[1].Kind; got != order.Kind("order."+r+"created") {
		t.Errorf("kind = %q", got)
	}
	if !reflect.DeepEqual(out[0], in[0]) || !out[1].OccurredAt.Equal(in[1].OccurredAt) || *out[1].Data.Amount != *in[1].Data.Amount {
		t.Error("Clean changed what was storable")
	}
	if out[1].Data.ShipBy != in[1].Data.ShipBy {
		t.Error("an unchanged pointer should be shared")
	}
	if err := pgtext.Check(out); err != nil {
		t.Errorf("Check after Clean: %v", err)
	}
}

func TestCleanMapsAndInterfaces(t *testing.T) {
	t.Parallel()
	headers := map[string]string{"content-type": "application/json", "x-id\xff": "a\x00"}
	out, changed := pgtext.Clean(headers)
	if !changed || len(out) != 2 || out["x-id"+pgtext.Replacement] != "a"+pgtext.Replacement {
		t.Errorf("Clean(headers) = %q, %v", out, changed)
	}
	if _, ok := headers["x-id\xff"]; !ok {
		t.Error("Clean modified the input map")
	}
	doc := map[string]any{"a": []any{1.5, "ok", map[string]any{"b": "\x00"}}}
	got, changed := pgtext.Clean(doc)
	if !changed || got["a"].([]any)[2].(map[string]any)["b"] != pgtext.Replacement {
		t.Errorf("Clean(doc) = %v, %v", got, changed)
	}
	if doc["a"].([]any)[2].(map[string]any)["b"] != "\x00" {
		t.Error("Clean modified the input document")
	}
}

func TestCheckNamesTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		v      func() any
		path   string
		reason string
	}{
		{"receiver name in a list of events", func() any {
			es := []order.Event{event(), event(), event()}
			es[2].Data.Receiver.Name = "a\x00"
			return es
		}, "[2].data.receiver.name", pgtext.ReasonNUL},
		{"item sku of one event", func() any {
			e := event()
			e.Data.Items[1].SKU = "\xff"
			return &e
		}, "data.items[1].sku", pgtext.ReasonNotUTF8},
		{"event id before later fields", func() any {
			e := event()
			e.ID, e.Data.Shop = "\x00", "\x00"
			return e
		}, "id", pgtext.ReasonNUL},
		{"order number", func() any {
			e := event()
			e.Order.OrderNo = "\xc0"
			return e
		}, "order.orderNo", pgtext.ReasonNotUTF8},
		{"map value", func() any { return map[string]string{"b": "ok", "a": "x\x00"} }, `["a"]`, pgtext.ReasonNUL},
		{"map key, quoted", func() any { return map[string]string{"k\xff": "v"} }, `["k\xff"]`, "key " + pgtext.ReasonNotUTF8},
		{"a bare string", func() any { return "\x00" }, "", pgtext.ReasonNUL},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := pgtext.Check(tc.v())
			var pe *pgtext.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Check = %v, want a *pgtext.Error", err)
			}
			if pe.Path != tc.path || pe.Reason != tc.reason {
				t.Errorf("Check = {%q %q}, want {%q %q}", pe.Path, pe.Reason, tc.path, tc.reason)
			}
			if !pgtext.Valid(pe.Error()) {
				t.Errorf("the error message %q is not storable itself", pe.Error())
			}
		})
	}
	if err := pgtext.Check(nil); err != nil {
		t.Errorf("Check(nil) = %v", err)
	}
}

// deepCopy copies es, pointers included, so a test can tell whether Clean
// wrote through them.
func deepCopy(t *testing.T, es []order.Event) []order.Event {
	t.Helper()
	out := make([]order.Event, len(es))
	for i, e := range es {
		c := e
		if e.Data.Receiver != nil {
			r := *e.Data.Receiver
			c.Data.Receiver = &r
		}
		c.Data.Items = append([]order.Item(nil), e.Data.Items...)
		out[i] = c
	}
	return out
}

// BenchmarkClean: the cost Submit adds per delivery, for a delivery of ten
// storable events (the common case: a walk, no copy) and of ten with one bad
// string each.
func BenchmarkClean(b *testing.B) {
	good := make([]order.Event, 10)
	for i := range good {
		good[i] = event()
	}
	bad := make([]order.Event, 10)
	for i := range bad {
		bad[i] = event()
		bad[i].Data.Receiver = &order.Receiver{Name: "张\x00三"}
	}
	for _, bc := range []struct {
		name string
		es   []order.Event
	}{{"storable", good}, {"one bad string per event", bad}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = pgtext.Clean(bc.es)
			}
		})
	}
}
