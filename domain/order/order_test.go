package order

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseMoney(t *testing.T) {
	tests := []struct {
		in   string
		want Money
		ok   bool
	}{
		{"129.90", 12990, true}, {"129.9", 12990, true}, {"130", 13000, true}, {".5", 50, true},
		{"0.01", 1, true}, {"-3.20", -320, true}, {" 7.00 ", 700, true},
		{"1.234", 0, false}, {"abc", 0, false}, {"", 0, false}, {"1.2.3", 0, false}, {"+5", 0, false}, {"1e3", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseMoney(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseMoney(%q) = %d, %v; want %d ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestMoneyJSON(t *testing.T) {
	for _, in := range []string{`"129.90"`, `129.9`, `"0.05"`} {
		var m Money
		if err := json.Unmarshal([]byte(in), &m); err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		b, _ := json.Marshal(m)
		var back Money
		if err := json.Unmarshal(b, &back); err != nil || back != m {
			t.Errorf("%s: round trip %s -> %d", in, b, back)
		}
	}
	if Money(-5).String() != "-0.05" {
		t.Errorf("negative: %s", Money(-5))
	}
}

func TestMasking(t *testing.T) {
	tests := []struct {
		fn       func(string) string
		in, want string
	}{
		{MaskName, "张三", "张*"}, {MaskName, "欧阳娜娜", "欧***"}, {MaskName, "", ""}, {MaskName, "李", "李*"},
		{MaskPhone, "13800001234", "138****1234"}, {MaskPhone, "12345", "*****"},
		{MaskAddress, "文三路 100 号", "****"}, {MaskAddress, "路", "****"}, {MaskAddress, "", ""},
		{MaskIP, "101.1.2.3", "101.1.*.*"}, {MaskIP, "2408:8207:1::1", "2408:8207:*"}, {MaskIP, "", ""},
		{MaskID, "tb123456", "t***"}, {MaskID, "", ""},
		// Already masked or encrypted by the platform: shown as it came.
		{MaskPhone, "138****1234", "138****1234"}, {MaskName, "张**", "张**"},
		{MaskPhone, "$$Wq1Nq0sPj$$", "$$Wq1Nq0sPj$$"}, {MaskAddress, "#gHq7#", "#gHq7#"}, {MaskName, "~AgAAAAA", "~AgAAAAA"},
	}
	for _, tc := range tests {
		if got := tc.fn(tc.in); got != tc.want {
			t.Errorf("mask(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	r := Receiver{Name: "张三", Phone: "13800001234", Province: "浙江省", City: "杭州市", Address: "文三路 100 号"}
	if m := r.Masked(); m.Province != "浙江省" || m.Name == r.Name || m.Phone == r.Phone || m.Address == r.Address {
		t.Errorf("Masked: %+v", m)
	}
	if v := r.LogValue().String(); strings.Contains(v, "13800001234") || strings.Contains(v, "张三") {
		t.Errorf("log value leaks personal data: %s", v)
	}
}

func TestPhoneTail(t *testing.T) {
	tests := []struct{ phone, want string }{
		{"13800001234", "1234"},
		{"138****1234", "1234"},       // masked by the platform: the tail survives
		{"+86 138-0000-1234", "1234"}, // separators skipped
		{"(0571) 8888 0123", "0123"},
		{"1380000****", ""}, // masked at the end: no tail to match
		{"138****12", ""},
		{"123", ""},
		{"", ""},
		{"$$ciphertext$$", ""}, // an encrypted phone
	}
	for _, tc := range tests {
		if got := (Receiver{Phone: tc.phone}).PhoneTail(); got != tc.want {
			t.Errorf("PhoneTail(%q) = %q, want %q", tc.phone, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := func() Event {
		return Event{ID: "e1", Kind: KindPaid, System: SystemChannel, OccurredAt: time.Unix(1, 0), Order: Key{Channel: "tmall", OrderNo: "1"}}
	}
	neg := Money(-1)
	tests := []struct {
		name     string
		mutate   func(*Event)
		field    string // "" = valid
		refField string // result of ValidateRef; "-" = same as field
	}{
		{"valid", func(*Event) {}, "", "-"},
		{"no id", func(e *Event) { e.ID = "" }, "id", "-"},
		{"unknown kind", func(e *Event) { e.Kind = "order.lost" }, "type", "-"},
		{"unknown system", func(e *Event) { e.System = "pos" }, "system", "-"},
		{"no time", func(e *Event) { e.OccurredAt = time.Time{} }, "occurredAt", "-"},
		{"no channel", func(e *Event) { e.Order.Channel = "" }, "order.channel", ""},
		{"tracking only", func(e *Event) { e.Order = Key{}; e.Data.TrackingNo = "SF1" }, "order.channel", ""},
		{"nothing names the order", func(e *Event) { e.Order = Key{} }, "order.channel", "order.channel"},
		{"negative amount", func(e *Event) { e.Data.Amount = &neg }, "data.amount", "-"},
		{"zero qty", func(e *Event) { e.Data.Items = []Item{{SKU: "A", Qty: 0}} }, "data.items[0].qty", "-"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := ok()
			tc.mutate(&e)
			check := func(err error, want string) {
				t.Helper()
				var fe *FieldError
				switch {
				case want == "" && err != nil:
					t.Errorf("unexpected error %v", err)
				case want != "" && (!errors.As(err, &fe) || fe.Field != want || !errors.Is(err, ErrInvalid)):
					t.Errorf("error %v, want field %s", err, want)
				}
			}
			check(e.Validate(), tc.field)
			ref := tc.refField
			if ref == "-" {
				ref = tc.field
			}
			check(e.ValidateRef(), ref)
		})
	}
}

func TestKinds(t *testing.T) {
	for i, k := range Kinds {
		if k.Rank() != i || !k.Valid() {
			t.Errorf("%s rank %d", k, k.Rank())
		}
	}
	if KindWMSOutbound.Status() != "outbound" || KindWMSOutbound.DefaultSystem() != SystemWMS || KindDelivered.DefaultSystem() != SystemCourier || KindPaid.DefaultSystem() != SystemChannel {
		t.Error("status or default system wrong")
	}
}
